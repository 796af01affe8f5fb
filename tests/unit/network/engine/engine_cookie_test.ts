/**
 * A WireGuard handshake flood through the real engine (whitepaper §5.3): a
 * stranger floods engine B's UDP socket with a MAC1-valid initiation; B goes
 * under load and answers with cookie replies, sent back to the flooding
 * socket's address; an honest netmap peer (engine A, over DERP) gets its
 * cookie reply over DERP, retries with MAC2 and reaches B while the flood
 * goes on.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../../../network/clock.ts";
import { NodePrivateKey } from "../../../../network/crypto/keys.ts";
import { Engine } from "../../../../network/engine/engine.ts";
import { messageType, parseCookieReply } from "../../../../network/wireguard/messages.ts";
import { WireGuardPeer } from "../../../../network/wireguard/peer.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";
import { echoRequest, netmapFor, side, until } from "../magicsock/two_planes.ts";

const UDP = { hostname: "127.0.0.1", advertise: "loopback-only" as const };

Deno.test("Engine under a handshake flood: cookie replies go back by the initiation's own path; an honest peer gets through", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const got: Uint8Array[] = [];
  const engineA = new Engine({ ...a, plainHTTPDerp: true, onPacket: (p) => got.push(p) });
  const engineB = new Engine({ ...b, plainHTTPDerp: true, udp: UDP });
  const raw = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const atFlooder: Uint8Array[] = [];
  let flooding = true;
  let receiving: Promise<void> = Promise.resolve();
  let flood: Promise<void> = Promise.resolve();
  try {
    engineA.setNetmap(netmapFor(a, [b], server.url));
    engineB.setNetmap(netmapFor(b, [a], server.url));
    await engineA.start();
    await engineB.start();

    // The flooder knows B's public key, so its initiation has a valid MAC1; it is no netmap
    // peer, but B finds that out only after two X25519.
    const flooder = new WireGuardPeer({
      localPrivateKey: NodePrivateKey.generate(),
      remotePublicKey: b.nodeKey.publicKey(),
      clock: systemClock,
    });
    const initiation = flooder.initiateHandshake(0).send[0];
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: engineB.udpAddress!.port };
    receiving = (async () => {
      try {
        for (;;) atFlooder.push((await raw.receive())[0]);
      } catch { /* closed */ }
    })();
    flood = (async () => {
      while (flooding) { // several hundred a second, past the 128 of the threshold
        for (let i = 0; i < 8; i++) await raw.send(initiation, to);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    // UDP: the replies reach the flooding socket's address, bound to its initiation.
    const first = await until("a cookie reply at the flooding socket", () => atFlooder[0]);
    assert.equal(messageType(first), 3);
    assert.equal(first.length, 64);
    const senderIndex = new DataView(initiation.buffer).getUint32(4, true);
    assert.equal(parseCookieReply(first).receiverIndex, senderIndex);
    flooder.handleDatagram(first, 0);
    assert.equal(flooder.stats.cookieRepliesReceived, 1, "it opens for the flooder");
    assert.ok(engineB.stats.cookieRepliesSent > 0);
    assert.equal(
      engineB.droppedByReason()["wireguard-under-load"],
      engineB.stats.cookieRepliesSent,
    );

    // DERP: A's initiation gets its cookie reply over DERP, then A's retry (REKEY_TIMEOUT
    // later, with MAC2) is answered, and the echo request it staged comes back answered.
    assert.ok(engineA.sendPacket(echoRequest(a.ip, b.ip, 1)));
    const keyB = b.nodeKey.publicKey();
    await until(
      "A's cookie reply over DERP",
      () => engineA.peerStats(keyB)?.cookieRepliesReceived ? true : undefined,
    );
    const repliesWhenAWasRefused = engineB.stats.cookieRepliesSent;
    const echo = await until("the echo reply", () => got[0], 10_000);
    assert.equal(echo[20], 0, "an echo reply");
    assert.equal(engineA.peerStats(keyB)?.handshakes, 1);
    assert.ok(
      engineB.stats.cookieRepliesSent > repliesWhenAWasRefused,
      "B stayed under load meanwhile",
    );
  } finally {
    flooding = false;
    await flood;
    raw.close();
    await receiving;
    await engineA.close();
    await engineB.close();
    await server.close();
  }
});
