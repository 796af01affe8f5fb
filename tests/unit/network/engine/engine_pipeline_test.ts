/**
 * The engine's one packet path (issue 10): a hook placed in the pipeline sees every inbound
 * packet, over DERP and over direct UDP, before the echo responder or any other local
 * handler; a hook's drop keeps the packet from everything local and is counted by reason.
 */
import assert from "node:assert/strict";
import { Engine } from "../../../../network/engine/engine.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";
import { echoRequest, netmapFor, side, until } from "../magicsock/two_planes.ts";

const UDP = { hostname: "127.0.0.1", advertise: "loopback-only" as const };

Deno.test("Engine pipeline: the inbound hook sees every packet before the echo responder, over DERP and over direct UDP", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const replies: Uint8Array[] = [];
  const engineA = new Engine({
    ...a,
    plainHTTPDerp: true,
    udp: UDP,
    onPacket: (p) => replies.push(p),
  });
  const engineB = new Engine({ ...b, plainHTTPDerp: true, udp: UDP });
  // What the hook saw, and how many echo replies B had sent at that moment.
  const seen: { seq: number; repliesBefore: number; udpReceived: number; derpReceived: number }[] =
    [];
  engineB.pipeline.addInboundHook((packet) => {
    const stats = engineB.stats;
    seen.push({
      seq: packet[27],
      repliesBefore: stats.echoRepliesSent,
      udpReceived: stats.udpDatagramsReceived,
      derpReceived: stats.datagramsReceived,
    });
    return null;
  });
  try {
    engineA.setNetmap(netmapFor(a, [b], server.url));
    engineB.setNetmap(netmapFor(b, [a], server.url));
    await engineA.start();
    await engineB.start();

    // Over DERP first: no endpoints are known yet.
    for (let seq = 1; seq <= 3; seq++) {
      assert.ok(engineA.sendPacket(echoRequest(a.ip, b.ip, seq)));
      await until(`echo reply ${seq} over DERP`, () => replies.find((p) => p[27] === seq));
    }
    assert.deepEqual(seen.map((s) => s.seq), [1, 2, 3]);
    seen.forEach((s, i) => assert.equal(s.repliesBefore, i, "the hook ran before the responder"));
    assert.ok(seen.every((s) => s.udpReceived === 0), "all of these came over DERP");
    assert.equal(engineB.stats.echoRepliesSent, 3);

    // Now over direct UDP.
    a.endpoints = engineA.localEndpoints().map(String);
    b.endpoints = engineB.localEndpoints().map(String);
    engineA.setNetmap(netmapFor(a, [b], server.url));
    engineB.setNetmap(netmapFor(b, [a], server.url));
    let seq = 10;
    await until("a trusted direct path", () => {
      engineA.sendPacket(echoRequest(a.ip, b.ip, seq++));
      return engineA.directPath(b.nodeKey.publicKey()) ?? undefined;
    }, 10_000);
    const before = seen.length;
    const udpBefore = engineB.stats.udpDatagramsReceived;
    for (let s = 100; s < 105; s++) {
      assert.ok(engineA.sendPacket(echoRequest(a.ip, b.ip, s)));
      await until(`echo reply ${s} over UDP`, () => replies.find((p) => p[27] === s));
    }
    const overUDP = seen.slice(before).filter((s) => s.seq >= 100);
    assert.deepEqual(overUDP.map((s) => s.seq), [100, 101, 102, 103, 104]);
    assert.ok(engineB.stats.udpDatagramsReceived >= udpBefore + 5, "these came over UDP");
    assert.ok(overUDP.every((s) => s.udpReceived > udpBefore), "seen after arriving over UDP");
    // Every packet B's WireGuard delivered was seen by the hook, and the responder answered
    // each only after the hook: echo replies never outnumber what the hook saw.
    assert.equal(seen.length, engineB.stats.packetsDelivered);
    assert.equal(engineB.stats.echoRepliesSent, seen.length);
  } finally {
    await engineA.close();
    await engineB.close();
    await server.close();
  }
});

Deno.test("Engine pipeline: a hook's drop keeps the packet from the echo responder and is counted by reason", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const replies: Uint8Array[] = [];
  const engineA = new Engine({ ...a, plainHTTPDerp: true, onPacket: (p) => replies.push(p) });
  const engineB = new Engine({ ...b, plainHTTPDerp: true });
  let dropping = true;
  const remove = engineB.pipeline.addInboundHook(() => dropping ? "test-deny" : null);
  try {
    engineA.setNetmap(netmapFor(a, [b], server.url));
    engineB.setNetmap(netmapFor(b, [a], server.url));
    await engineA.start();
    await engineB.start();
    assert.ok(engineA.sendPacket(echoRequest(a.ip, b.ip, 1)));
    await until("the drop", () => engineB.stats.inboundDropped["test-deny"] === 1 || undefined);
    assert.equal(engineB.stats.echoRepliesSent, 0, "nothing local answered");
    assert.equal(engineB.stats.packetsDelivered, 0);
    dropping = false;
    assert.ok(engineA.sendPacket(echoRequest(a.ip, b.ip, 2)));
    await until(
      "the reply once the hook lets packets pass",
      () => replies.find((p) => p[27] === 2),
    );
    remove();
    dropping = true;
    assert.ok(engineA.sendPacket(echoRequest(a.ip, b.ip, 3)));
    await until("a reply with the hook removed", () => replies.find((p) => p[27] === 3));
    assert.equal(engineB.stats.inboundDropped["test-deny"], 1);
  } finally {
    await engineA.close();
    await engineB.close();
    await server.close();
  }
});
