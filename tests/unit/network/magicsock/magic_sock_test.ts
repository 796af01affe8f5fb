/**
 * Two MagicSocks and a raw DERP client on the in-process relay: WireGuard over DERP end to
 * end (handshake, transport, ICMP echo answered by the data plane), disco Pings answered with
 * Pongs naming the DERP region, and strangers' datagrams dropped (data-plane reference §0.4).
 */
import assert from "node:assert/strict";
import { systemRandom } from "../../../../network/crypto/random.ts";
import { DerpClient } from "../../../../network/derp/derp_client.ts";
import { openDiscoPacket, sealDiscoMessage } from "../../../../network/disco/disco_packet.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { MagicSock, MagicSockStateError } from "../../../../network/magicsock/mod.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";
import { echoRequest, netmapFor, REGION, side, until } from "./two_planes.ts";

Deno.test("MagicSock: WireGuard over DERP between two data planes; ICMP echo answered", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const got: Uint8Array[] = [];
  const sockA = new MagicSock({ ...a, plainHTTPDerp: true, onPacket: (p) => got.push(p) });
  const sockB = new MagicSock({ ...b, plainHTTPDerp: true });
  try {
    assert.equal(sockA.sendPacket(echoRequest(a.ip, b.ip, 1)), false, "no route before a netmap");
    await assert.rejects(sockA.start(), MagicSockStateError);
    sockA.setNetmap(netmapFor(a, [b], server.url));
    sockB.setNetmap(netmapFor(b, [a], server.url));
    assert.equal(await sockA.start(), REGION);
    assert.equal(await sockB.start(), REGION);
    assert.ok(sockA.derpConnected && sockB.derpConnected);

    assert.ok(sockA.sendPacket(echoRequest(a.ip, b.ip, 1)));
    const reply = await until("the echo reply", () => got[0]);
    assert.equal(reply[20], 0, "an echo reply");
    assert.deepEqual(reply.subarray(12, 16), parseIPAddress(b.ip), "from B");
    assert.equal(reply[27], 1, "same sequence number");
    assert.equal(sockB.stats.echoRepliesSent, 1);
    assert.ok(sockA.hasSession(b.nodeKey.publicKey()) && sockB.hasSession(a.nodeKey.publicKey()));
    assert.equal(sockA.peerStats(b.nodeKey.publicKey())?.handshakes, 1);

    // Nothing routes to an address no peer holds.
    assert.equal(sockA.sendPacket(echoRequest(a.ip, "100.64.0.9", 2)), false);
  } finally {
    await sockA.close();
    await sockB.close();
    await server.close();
  }
});

Deno.test("MagicSock: disco Ping over DERP gets a Pong from 127.3.3.40:<region>; strangers dropped", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const peer = side("100.64.0.3");
  const stranger = side("100.64.0.4");
  const sock = new MagicSock({ ...a, plainHTTPDerp: true });
  const peerDerp = await DerpClient.connect({ url: server.url, nodeKey: peer.nodeKey });
  const strangerDerp = await DerpClient.connect({ url: server.url, nodeKey: stranger.nodeKey });
  try {
    sock.setNetmap(netmapFor(a, [peer], server.url));
    await sock.start();
    const txId = systemRandom(12);
    const ping = sealDiscoMessage(
      { type: "ping", txId, nodeKey: peer.nodeKey.publicKey(), padding: 0 },
      peer.discoKey,
      a.discoKey.publicKey(),
      systemRandom,
    );
    await peerDerp.send(a.nodeKey.publicKey(), ping);
    const message = await peerDerp.receive();
    assert.equal(message.type, "packet");
    const opened = openDiscoPacket(
      message.type === "packet" ? message.data : new Uint8Array(),
      peer.discoKey,
      () => true,
    );
    assert.ok(opened.ok && opened.message.type === "pong", "a Pong");
    assert.deepEqual(opened.message.txId, txId);
    assert.equal(opened.message.src.key, `127.3.3.40:${REGION}`);
    assert.equal(sock.stats.discoPingsAnswered, 1);

    // A stranger's disco and WireGuard-looking datagrams are dropped unanswered.
    const strangerPing = sealDiscoMessage(
      { type: "ping", txId, nodeKey: stranger.nodeKey.publicKey(), padding: 0 },
      stranger.discoKey,
      a.discoKey.publicKey(),
      systemRandom,
    );
    await strangerDerp.send(a.nodeKey.publicKey(), strangerPing);
    await strangerDerp.send(a.nodeKey.publicKey(), Uint8Array.of(4, 0, 0, 0, 1, 2, 3, 4));
    await until(
      "both drops",
      () => sock.stats.discoDropped === 1 && sock.stats.droppedUnknownPeer === 1 ? true : undefined,
    );
    assert.equal(sock.stats.discoPingsAnswered, 1);
  } finally {
    peerDerp.close();
    strangerDerp.close();
    await sock.close();
    await server.close();
  }
});
