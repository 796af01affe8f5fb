/**
 * MagicSock's opt-in direct UDP paths on 127.0.0.1 (data-plane reference §2.2–2.8): two data
 * planes find each other's loopback endpoint by disco and move WireGuard off DERP; a disco
 * Ping over UDP is answered over UDP naming its source; STUN on the shared socket is told
 * apart; without the option nothing is bound.
 */
import assert from "node:assert/strict";
import { systemRandom } from "../../../../network/crypto/random.ts";
import { openDiscoPacket, sealDiscoMessage } from "../../../../network/disco/disco_packet.ts";
import { MagicSock } from "../../../../network/magicsock/mod.ts";
import { bindingRequest, newTransactionId } from "../../../../network/stun/stun_message.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";
import { echoRequest, netmapFor, side, until } from "./two_planes.ts";

const UDP = { hostname: "127.0.0.1", advertise: "loopback-only" as const };

Deno.test("MagicSock UDP: two data planes find a direct loopback path; WireGuard leaves DERP", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const got: Uint8Array[] = [];
  const sockA = new MagicSock({
    ...a,
    plainHTTPDerp: true,
    udp: UDP,
    onPacket: (p) => got.push(p),
  });
  const sockB = new MagicSock({ ...b, plainHTTPDerp: true, udp: UDP });
  try {
    sockA.setNetmap(netmapFor(a, [b], server.url));
    sockB.setNetmap(netmapFor(b, [a], server.url));
    await sockA.start();
    await sockB.start();
    a.endpoints = sockA.localEndpoints().map(String);
    b.endpoints = sockB.localEndpoints().map(String);
    assert.equal(a.endpoints.length, 1);
    assert.match(a.endpoints[0], /^127\.0\.0\.1:\d+$/);
    sockA.setNetmap(netmapFor(a, [b], server.url));
    sockB.setNetmap(netmapFor(b, [a], server.url));

    // The first packet goes over DERP while disco pings B's endpoint.
    assert.ok(sockA.sendPacket(echoRequest(a.ip, b.ip, 1)));
    await until("the first echo reply", () => got[0]);
    const direct = await until(
      "a trusted direct path",
      () => sockA.directPath(b.nodeKey.publicKey()) ?? undefined,
    );
    assert.equal(direct.key, b.endpoints[0]);
    assert.ok(sockA.stats.discoPongsReceived >= 1);

    const derpBefore = sockA.stats.datagramsSent;
    const udpBefore = sockA.stats.udpDatagramsSent;
    for (let seq = 2; seq <= 4; seq++) {
      assert.ok(sockA.sendPacket(echoRequest(a.ip, b.ip, seq)));
      await until(`echo reply ${seq}`, () => got.find((p) => p[27] === seq));
    }
    assert.equal(sockA.stats.datagramsSent, derpBefore, "nothing more over DERP");
    assert.ok(sockA.stats.udpDatagramsSent >= udpBefore + 3);
    assert.ok(sockB.stats.udpDatagramsReceived >= 3);
  } finally {
    await sockA.close();
    await sockB.close();
    await server.close();
  }
});

Deno.test("MagicSock UDP: a disco Ping over UDP gets a Pong over UDP naming its source; STUN is set aside", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const peer = side("100.64.0.3");
  const sock = new MagicSock({ ...a, plainHTTPDerp: true, udp: UDP });
  const raw = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    sock.setNetmap(netmapFor(a, [peer], server.url));
    await sock.start();
    const ours = sock.udpAddress!;
    const rawPort = (raw.addr as Deno.NetAddr).port;
    const txId = systemRandom(12);
    const ping = sealDiscoMessage(
      { type: "ping", txId, nodeKey: peer.nodeKey.publicKey(), padding: 0 },
      peer.discoKey,
      a.discoKey.publicKey(),
      systemRandom,
    );
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: ours.port };
    await raw.send(ping, to);
    const [packet] = await raw.receive();
    const opened = openDiscoPacket(packet, peer.discoKey, () => true);
    assert.ok(opened.ok && opened.message.type === "pong", "a Pong");
    assert.deepEqual(opened.message.txId, txId);
    assert.equal(opened.message.src.key, `127.0.0.1:${rawPort}`);

    await raw.send(bindingRequest(newTransactionId(systemRandom)), to);
    await until("the STUN packet", () => sock.stats.stunIgnored === 1 ? true : undefined);
  } finally {
    raw.close();
    await sock.close();
    await server.close();
  }
});

Deno.test("MagicSock UDP: off by default (no socket, no endpoints)", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const sock = new MagicSock({ ...a, plainHTTPDerp: true });
  try {
    sock.setNetmap(netmapFor(a, [], server.url));
    await sock.start();
    assert.equal(sock.udpAddress, undefined);
    assert.deepEqual(sock.localEndpoints(), []);
  } finally {
    await sock.close();
    await server.close();
  }
});
