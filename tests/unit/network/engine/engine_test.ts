/**
 * Two engines on the in-process DERP relay: WireGuard over DERP end to end (handshake,
 * transport, ICMP echo answered by the pipeline's echo responder), routing by allowed IPs.
 */
import assert from "node:assert/strict";
import { Engine } from "../../../../network/engine/engine.ts";
import { MagicSockStateError } from "../../../../network/magicsock/magic_sock.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";
import { echoRequest, netmapFor, REGION, side, until } from "../magicsock/two_planes.ts";

Deno.test("Engine: WireGuard over DERP between two data planes; ICMP echo answered", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const got: Uint8Array[] = [];
  const sockA = new Engine({ ...a, plainHTTPDerp: true, onPacket: (p) => got.push(p) });
  const sockB = new Engine({ ...b, plainHTTPDerp: true });
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

Deno.test("Engine: TSMP and disco pings of a peer, over DERP and over a direct path", async () => {
  const server = startFakeDerpServer();
  const UDP = { hostname: "127.0.0.1", advertise: "loopback-only" as const };
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const engineA = new Engine({ ...a, plainHTTPDerp: true, udp: UDP });
  const engineB = new Engine({ ...b, plainHTTPDerp: true, udp: UDP });
  const timeoutError = () => new Error("timed out");
  const ours = parseIPAddress(a.ip)!, theirs = parseIPAddress(b.ip)!;
  try {
    engineA.setNetmap(netmapFor(a, [b], server.url));
    engineB.setNetmap(netmapFor(b, [a], server.url));
    await engineA.start();
    await engineB.start();
    const tsmp = await engineA.ping(ours, theirs, { kind: "tsmp", timeoutMs: 3000, timeoutError });
    assert.equal(tsmp.peerAPIPort, 0);
    assert.equal(engineB.stats.tsmpPongsSent, 1);
    assert.equal(engineA.stats.tsmpIgnored, 0, "the Pong was taken by the waiting ping");
    const viaDerp = await engineA.ping(ours, theirs, {
      kind: "disco",
      timeoutMs: 3000,
      timeoutError,
    });
    assert.deepEqual(viaDerp.path, { via: "derp", region: REGION });
    assert.equal(engineB.stats.echoRepliesSent, 0, "no ICMP involved");

    a.endpoints = engineA.localEndpoints().map(String);
    b.endpoints = engineB.localEndpoints().map(String);
    engineA.setNetmap(netmapFor(a, [b], server.url));
    engineB.setNetmap(netmapFor(b, [a], server.url));
    const direct = await until("a disco pong over UDP", async () => {
      const r = await engineA.ping(ours, theirs, { kind: "disco", timeoutMs: 3000, timeoutError });
      return r.path?.via === "udp" ? r : undefined;
    });
    assert.equal(direct.path?.via === "udp" && direct.path.addr.key, b.endpoints[0]);
    await assert.rejects(
      engineA.ping(ours, parseIPAddress("100.64.0.9")!, {
        kind: "disco",
        timeoutMs: 200,
        timeoutError,
      }),
      /timed out/,
      "no peer holds that address",
    );
  } finally {
    await engineA.close();
    await engineB.close();
    await server.close();
  }
});

Deno.test("Engine: after a handshake each side advertises its disco key over TSMP; a stale netmap key is replaced", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const stale = side("100.64.0.1"); // what B's netmap wrongly says A's disco key is
  const learned: string[] = [];
  const replies: Uint8Array[] = [];
  const engineA = new Engine({ ...a, plainHTTPDerp: true, onPacket: (p) => replies.push(p) });
  const engineB = new Engine({
    ...b,
    plainHTTPDerp: true,
    onEvent: (e) => e.kind === "disco-key-learned" && learned.push(e.peer.toText()),
  });
  const timeoutError = () => new Error("timed out");
  const ours = parseIPAddress(a.ip)!, theirs = parseIPAddress(b.ip)!;
  try {
    engineA.setNetmap(netmapFor(a, [b], server.url));
    engineB.setNetmap(netmapFor(b, [{ ...a, discoKey: stale.discoKey }], server.url));
    await engineA.start();
    await engineB.start();
    // B cannot open A's disco pings: it holds the wrong key for A.
    await assert.rejects(
      engineA.ping(ours, theirs, { kind: "disco", timeoutMs: 300, timeoutError }),
      /timed out/,
    );
    // A WireGuard session: both sides advertise their disco keys inside it.
    assert.ok(engineA.sendPacket(echoRequest(a.ip, b.ip, 1)));
    await until("the echo reply", () => replies.find((p) => p[27] === 1));
    await until("B learned A's disco key", () => learned.length > 0 || undefined);
    assert.deepEqual(learned, [a.nodeKey.publicKey().toText()]);
    assert.ok(engineA.stats.discoKeyAdvertsSent >= 1 && engineB.stats.discoKeyAdvertsSent >= 1);
    const pong = await engineA.ping(ours, theirs, { kind: "disco", timeoutMs: 3000, timeoutError });
    assert.equal(pong.path?.via, "derp");
    // A netmap with the same stale key keeps what A said; control's news replaces it.
    engineB.setNetmap(netmapFor(b, [{ ...a, discoKey: stale.discoKey }], server.url));
    await engineA.ping(ours, theirs, { kind: "disco", timeoutMs: 3000, timeoutError });
    const newer = side("100.64.0.1");
    engineB.setNetmap(netmapFor(b, [{ ...a, discoKey: newer.discoKey }], server.url));
    await assert.rejects(
      engineA.ping(ours, theirs, { kind: "disco", timeoutMs: 300, timeoutError }),
      /timed out/,
      "control's newer key wins over the advertisement",
    );
  } finally {
    await engineA.close();
    await engineB.close();
    await server.close();
  }
});
