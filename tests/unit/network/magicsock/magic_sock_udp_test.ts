/**
 * MagicSock's opt-in direct UDP socket on 127.0.0.1 (data-plane reference §2.2): a disco Ping
 * over UDP is answered over UDP naming its source; STUN on the shared socket is told apart;
 * without the option nothing is bound. Two engines moving WireGuard off DERP onto the direct
 * path is tests/unit/network/engine/engine_udp_test.ts.
 */
import assert from "node:assert/strict";
import { systemRandom } from "../../../../network/crypto/random.ts";
import { openDiscoPacket, sealDiscoMessage } from "../../../../network/disco/disco_packet.ts";
import { MagicSock } from "../../../../network/magicsock/mod.ts";
import { bindingRequest, newTransactionId } from "../../../../network/stun/stun_message.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";
import { netmapFor, side, until } from "./two_planes.ts";

const UDP = { hostname: "127.0.0.1", advertise: "loopback-only" as const };

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
