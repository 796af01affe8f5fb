/**
 * MagicSock and raw DERP clients on the in-process relay: disco Pings answered with Pongs
 * naming the DERP region, and strangers' datagrams dropped (data-plane reference §0.4).
 * WireGuard end to end through magicsock is the engine's test (tests/unit/network/engine/).
 */
import assert from "node:assert/strict";
import { systemRandom } from "../../../../network/crypto/random.ts";
import { DerpClient } from "../../../../network/derp/derp_client.ts";
import { openDiscoPacket, sealDiscoMessage } from "../../../../network/disco/disco_packet.ts";
import { MagicSock } from "../../../../network/magicsock/mod.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";
import { netmapFor, REGION, side, until } from "./two_planes.ts";

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
