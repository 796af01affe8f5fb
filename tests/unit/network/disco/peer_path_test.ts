/**
 * PeerPath, the per-peer path-discovery state machine (data-plane reference
 * §2.4, §2.6–2.8), driven in virtual time: discovery rounds, Pong handling
 * and trust, heartbeats, timeouts, CallMeMaybe, candidate expiry, the DERP
 * fallback, and resets.
 */

import assert from "node:assert/strict";
import { DiscoPublicKey, NodePublicKey } from "../../../../network/crypto/keys.ts";
import {
  heartbeatInterval,
  maxCallMeMaybeEndpoints,
  pingTimeoutDuration,
  pongHistoryCount,
  sessionActiveTimeout,
  trustUDPAddrDuration,
  upgradeUDPDirectInterval,
} from "../../../../network/disco/disco_constants.ts";
import type { PingMessage } from "../../../../network/disco/disco_message.ts";
import { type DiscoAction, type DiscoPath, PeerPath } from "../../../../network/disco/peer_path.ts";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import { VirtualClock } from "./virtual_clock.ts";

const DISCO = new DiscoPublicKey(new Uint8Array(32).fill(0x42));
const REGION = 999;
const EP1 = "198.51.100.1:41641";
const EP2 = "192.168.1.20:41641";
const EP3 = "[2001:db8::3]:41641";

function counterRandom(): (n: number) => Uint8Array {
  let next = 0;
  return (n) => Uint8Array.from({ length: n }, () => next++ & 0xff);
}

function setup(endpoints: string[] = [EP1, EP2], homeDERP = REGION) {
  const clock = new VirtualClock();
  const path = new PeerPath({ clock, random: counterRandom() });
  path.updateFromNode({ discoKey: DISCO, homeDERP, endpoints });
  return { clock, path };
}

type PingAction = Extract<DiscoAction, { type: "send-ping" }>;

function pings(actions: DiscoAction[]): PingAction[] {
  return actions.filter((a): a is PingAction => a.type === "send-ping");
}

function pingTargets(actions: DiscoAction[]): string[] {
  return pings(actions).map((a) => a.path.via === "udp" ? a.path.addr.key : `derp:${a.path.region}`)
    .sort();
}

function callMeMaybes(actions: DiscoAction[]): number[] {
  return actions.flatMap((a) => a.type === "send-call-me-maybe" ? [a.derpRegion] : []);
}

/** The best path's key, read through a function so that earlier asserts do not narrow it. */
function bestKey(path: PeerPath): string | undefined {
  return path.bestPath?.addr.key;
}

const udp = (addr: string): DiscoPath => ({ via: "udp", addr: AddrPort.parse(addr) });

/** Answers a Ping action with a Pong arriving over UDP from its target. */
function answer(path: PeerPath, action: PingAction, src = "203.0.113.9:1234") {
  return path.handlePong(
    { type: "pong", txId: action.txId, src: AddrPort.parse(src) },
    action.path,
  );
}

function pingTo(actions: DiscoAction[], addr: string): PingAction {
  const found = pings(actions).find((a) => a.path.via === "udp" && a.path.addr.key === addr);
  assert.ok(found, `no ping to ${addr} in ${pingTargets(actions)}`);
  return found;
}

Deno.test("peer path: no candidates and no DERP home means no route", () => {
  const { path } = setup([], 0);
  const { route, actions } = path.noteSend();
  assert.deepEqual(route, { udp: null, derpRegion: null });
  assert.deepEqual(actions, []);
  // Heard from over DERP: that region is the last resort.
  path.noteHeardViaDERP(7);
  assert.deepEqual(path.route(), { udp: null, derpRegion: 7 });
});

Deno.test("peer path: first send goes over DERP and starts discovery (§2.4, §2.6)", () => {
  const { path } = setup();
  const { route, actions } = path.noteSend();
  assert.deepEqual(route, { udp: null, derpRegion: REGION });
  assert.deepEqual(pingTargets(actions), [EP2, EP1].sort());
  assert.ok(pings(actions).every((a) => a.purpose === "discovery" && a.txId.length === 12));
  assert.deepEqual(callMeMaybes(actions), [REGION]);
  assert.equal(path.pingsInFlight, 2);
  // Immediately again: candidates were pinged < 5 s ago, so nothing (and no CallMeMaybe).
  const again = path.noteSend();
  assert.deepEqual(again.actions, []);
  assert.deepEqual(again.route, { udp: null, derpRegion: REGION });
});

Deno.test("peer path: a Pong makes the path best and trusted for 6.5 s", () => {
  const { clock, path } = setup();
  const { actions } = path.noteSend();
  clock.advance(20);
  const result = answer(path, pingTo(actions, EP1));
  assert.ok(result);
  assert.equal(result.latencyMs, 20);
  assert.equal(result.purpose, "discovery");
  assert.equal(result.pongSrc.key, "203.0.113.9:1234");
  assert.equal(bestKey(path), EP1);
  assert.equal(path.bestPath?.trustedUntil, clock.monotonic() + trustUDPAddrDuration);
  assert.equal(path.directTrusted, true);
  // Trusted: UDP alone, and sending starts no discovery.
  const trusted = path.noteSend();
  assert.deepEqual(trusted.route, { udp: AddrPort.parse(EP1), derpRegion: null });
  assert.deepEqual(trusted.actions, []);
  // Just past the trust window: UDP and DERP both, and a new discovery round.
  clock.advance(trustUDPAddrDuration + 1);
  assert.equal(path.directTrusted, false);
  const untrusted = path.noteSend();
  assert.deepEqual(untrusted.route, { udp: AddrPort.parse(EP1), derpRegion: REGION });
  assert.deepEqual(pingTargets(untrusted.actions), [EP1, EP2].sort());
});

Deno.test("peer path: a better Pong replaces the best path; a near-equal one does not", () => {
  const { clock, path } = setup([EP1, "198.51.100.2:41641"]);
  const { actions } = path.noteSend();
  clock.advance(100);
  answer(path, pingTo(actions, EP1)); // 100 ms
  assert.equal(bestKey(path), EP1);
  clock.advance(0.4);
  answer(path, pingTo(actions, "198.51.100.2:41641")); // 100.4 ms: slower, not better
  assert.equal(bestKey(path), EP1);

  // Next round, the second path answers in 50 ms: better.
  clock.advance(5_000);
  const round = path.noteSend().actions; // still trusted? no: 5 s < 6.5 s, so no round
  assert.deepEqual(round, []);
  clock.advance(trustUDPAddrDuration);
  const round2 = path.noteSend().actions;
  clock.advance(50);
  answer(path, pingTo(round2, "198.51.100.2:41641"));
  assert.equal(bestKey(path), "198.51.100.2:41641");
  assert.equal(path.bestPath?.latencyMs, 50);
  // The old best path's late Pong (150 ms later) does not win it back,
  // but a Pong for the best path refreshes latency and trust.
  clock.advance(100);
  answer(path, pingTo(round2, EP1));
  assert.equal(bestKey(path), "198.51.100.2:41641");
});

Deno.test("peer path: an untrusted best path is replaced by any Pong (§2.6)", () => {
  const { clock, path } = setup([EP1, EP3]);
  const first = path.noteSend().actions;
  clock.advance(10);
  answer(path, pingTo(first, EP1)); // best, 10 ms
  clock.advance(trustUDPAddrDuration + 1); // untrusted now
  const round = path.noteSend().actions;
  clock.advance(300);
  answer(path, pingTo(round, EP3)); // much slower, but the best is untrusted
  assert.equal(bestKey(path), EP3);
  assert.equal(path.directTrusted, true);
});

Deno.test("peer path: heartbeats every 3 s while active, stop after 45 s idle", () => {
  const { clock, path } = setup([EP1]);
  const first = path.noteSend().actions;
  assert.equal(path.heartbeatRunning, true);
  clock.advance(5);
  answer(path, pingTo(first, EP1)); // 5 ms: good enough, no upgrade rounds
  assert.equal(path.nextDeadline(), 1000 + heartbeatInterval);

  let heartbeats = 0;
  let lastSend = clock.monotonic();
  // Keep sending for 20 s, answering every heartbeat Ping.
  for (let t = 0; t < 20_000; t += 1_000) {
    clock.advance(1_000);
    path.noteSend();
    lastSend = clock.monotonic();
    if (path.nextDeadline() !== null && path.nextDeadline()! <= clock.monotonic()) {
      const actions = path.poll();
      for (const ping of pings(actions)) {
        assert.equal(ping.purpose, "heartbeat");
        heartbeats++;
        answer(path, ping);
      }
    }
  }
  assert.ok(heartbeats >= 6 && heartbeats <= 7, `${heartbeats} heartbeats in 20 s`);
  assert.equal(path.directTrusted, true, "heartbeat Pongs keep the path trusted");

  // Now idle: heartbeats continue until 45 s after the last send, then stop.
  let idleHeartbeats = 0;
  while (path.heartbeatRunning) {
    const deadline = path.nextDeadline();
    assert.ok(deadline !== null);
    clock.advanceTo(deadline);
    const actions = path.poll();
    for (const ping of pings(actions)) {
      if (ping.purpose === "heartbeat") idleHeartbeats++;
      answer(path, ping);
    }
    assert.ok(clock.monotonic() - lastSend <= sessionActiveTimeout + heartbeatInterval);
  }
  assert.ok(idleHeartbeats >= 14 && idleHeartbeats <= 15, `${idleHeartbeats} idle heartbeats`);
  assert.ok(clock.monotonic() - lastSend > sessionActiveTimeout);
  assert.equal(path.nextDeadline(), null);
  // A send restarts them.
  path.noteSend();
  assert.equal(path.heartbeatRunning, true);
});

Deno.test("peer path: an unanswered Ping to an untrusted best path drops it after 5 s", () => {
  const { clock, path } = setup([EP1]);
  const first = path.noteSend().actions;
  clock.advance(10);
  answer(path, pingTo(first, EP1));
  assert.equal(bestKey(path), EP1);
  // Trust runs out, the next round's Ping is lost.
  clock.advance(trustUDPAddrDuration + 1);
  const round = path.noteSend().actions;
  assert.equal(pings(round).length, 1);
  assert.equal(path.pingsInFlight, 1);
  clock.advance(pingTimeoutDuration);
  // The heartbeat falls due in the same poll and, with no best path left, starts a new round.
  const polled = path.poll();
  assert.deepEqual(pingTargets(polled), [EP1]);
  assert.notDeepEqual(pings(polled)[0].txId, pings(round)[0].txId);
  assert.equal(path.pingsInFlight, 1, "only the new round's Ping");
  assert.equal(path.bestPath, null);
  assert.deepEqual(path.route(), { udp: null, derpRegion: REGION });
  // A Pong that comes after the timeout is unknown.
  assert.equal(answer(path, pings(round)[0]), null);
});

Deno.test("peer path: a timed-out Ping to a trusted best path keeps it", () => {
  const { clock, path } = setup([EP1, EP2]);
  const first = path.noteSend().actions;
  clock.advance(10);
  answer(path, pingTo(first, EP1)); // EP2's Ping is never answered
  clock.advance(pingTimeoutDuration - 10);
  const polled = path.poll();
  // EP2's Ping is gone; the heartbeat that fell due pinged the best path.
  assert.deepEqual(
    pings(polled).map((a) => [a.purpose, a.path.via === "udp" && a.path.addr.key]),
    [["heartbeat", EP1]],
  );
  assert.equal(path.pingsInFlight, 1);
  assert.equal(bestKey(path), EP1);
});

Deno.test("peer path: a full discovery round when the best path is slow, once a minute", () => {
  const { clock, path } = setup([EP1, EP2]);
  const first = path.noteSend().actions;
  clock.advance(30);
  answer(path, pingTo(first, EP1)); // 30 ms: above goodEnoughLatency
  answer(path, pingTo(first, EP2)); // same time: 30 ms, private +20 → becomes best
  assert.equal(bestKey(path), EP2);
  let fullRounds = 0;
  const start = clock.monotonic();
  while (clock.monotonic() - start < upgradeUDPDirectInterval + 10_000) {
    clock.advance(1_000);
    path.noteSend();
    if ((path.nextDeadline() ?? Infinity) <= clock.monotonic()) {
      const actions = path.poll();
      const targets = pingTargets(actions);
      if (targets.includes(EP1)) fullRounds++;
      clock.advance(30); // the best path stays at 30 ms, above goodEnoughLatency
      for (const ping of pings(actions)) answer(path, ping);
    }
  }
  assert.equal(fullRounds, 1, "one upgrade round after upgradeUDPDirectInterval");
});

Deno.test("peer path: Pings from the peer make candidates and get Pongs (§2.6)", () => {
  const { clock, path } = setup([], REGION);
  const ping: PingMessage = {
    type: "ping",
    txId: new Uint8Array(12).fill(1),
    nodeKey: new NodePublicKey(new Uint8Array(32).fill(2)),
    padding: 0,
  };
  const pong = path.handlePing(ping, udp("203.0.113.7:5555"));
  assert.ok(pong);
  assert.deepEqual(pong.txId, ping.txId);
  assert.equal(pong.src.key, "203.0.113.7:5555");
  const candidates = path.candidates();
  assert.equal(candidates.length, 1);
  assert.deepEqual(candidates[0].sources, ["ping"]);
  // The same TxID again on the same endpoint: a duplicate, no Pong.
  assert.equal(path.handlePing(ping, udp("203.0.113.7:5555")), null);
  // A new TxID: Pong.
  assert.ok(
    path.handlePing({ ...ping, txId: new Uint8Array(12).fill(3) }, udp("203.0.113.7:5555")),
  );
  // Over DERP: the Pong names the DERP magic address with the region as port.
  const viaDerp = path.handlePing(ping, { via: "derp", region: 12 });
  assert.equal(viaDerp?.src.key, "127.3.3.40:12");
  assert.equal(path.candidates().length, 1, "DERP pings add no candidate");

  // The learned candidate is pinged by discovery, and expires 45 s after its last Ping.
  const round = path.noteSend().actions;
  assert.deepEqual(pingTargets(round), ["203.0.113.7:5555"]);
  clock.advance(sessionActiveTimeout + 1);
  const later = path.noteSend().actions;
  assert.deepEqual(pingTargets(later), []);
  assert.equal(path.candidates().length, 0);
});

Deno.test("peer path: a learned candidate lives while it keeps pinging us", () => {
  const { clock, path } = setup([], REGION);
  for (let i = 0; i < 10; i++) {
    const ping: PingMessage = {
      type: "ping",
      txId: new Uint8Array(12).fill(i),
      nodeKey: null,
      padding: 0,
    };
    assert.ok(path.handlePing(ping, udp("203.0.113.7:5555")));
    clock.advance(30_000);
    path.noteSend();
    assert.equal(path.candidates().length, 1, `after ${i + 1} pings`);
  }
});

Deno.test("peer path: a netmap endpoint pinging us stays a netmap candidate", () => {
  const { clock, path } = setup([EP1]);
  assert.ok(
    path.handlePing(
      { type: "ping", txId: new Uint8Array(12), nodeKey: null, padding: 0 },
      udp(EP1),
    ),
  );
  clock.advance(sessionActiveTimeout * 2);
  path.noteSend();
  assert.deepEqual(path.candidates().map((c) => [c.addr.key, c.sources]), [[EP1, ["netmap"]]]);
});

Deno.test("peer path: CallMeMaybe adds endpoints and pings everything at once (§2.6)", () => {
  const { clock, path } = setup([EP1]);
  path.noteSend(); // EP1 just pinged
  clock.advance(1_000);
  const actions = path.handleCallMeMaybe({
    type: "call-me-maybe",
    endpoints: [AddrPort.parse(EP3), AddrPort.parse("[fe80::1]:41641"), AddrPort.parse(EP1)],
  });
  // Link-local IPv6 is skipped; EP1 is pinged again despite the 5 s spacing; no CallMeMaybe back.
  assert.deepEqual(pingTargets(actions), [EP1, EP3].sort());
  assert.deepEqual(callMeMaybes(actions), []);
  const sources = Object.fromEntries(path.candidates().map((c) => [c.addr.key, c.sources]));
  assert.deepEqual(sources, { [EP1]: ["netmap", "call-me-maybe"], [EP3]: ["call-me-maybe"] });

  // A later CallMeMaybe without EP3 removes it; EP1 keeps its netmap backing.
  clock.advance(1_000);
  path.handleCallMeMaybe({ type: "call-me-maybe", endpoints: [AddrPort.parse(EP2)] });
  const after = Object.fromEntries(path.candidates().map((c) => [c.addr.key, c.sources]));
  assert.deepEqual(after, { [EP1]: ["netmap"], [EP2]: ["call-me-maybe"] });

  // CallMeMaybe candidates survive netmap updates and time.
  clock.advance(10 * sessionActiveTimeout);
  path.updateFromNode({ discoKey: DISCO, homeDERP: REGION, endpoints: [] });
  assert.deepEqual(path.candidates().map((c) => c.addr.key), [EP2]);
  // An empty CallMeMaybe clears them.
  path.handleCallMeMaybe({ type: "call-me-maybe", endpoints: [] });
  assert.deepEqual(path.candidates(), []);
});

Deno.test("peer path: a CallMeMaybe naming thousands of endpoints gets pings to the first 64 only", () => {
  const { path } = setup([]);
  const endpoints = Array.from(
    { length: 3_000 },
    (_, i) => AddrPort.parse(`198.51.${i >> 8}.${i & 255}:41641`),
  );
  const actions = path.handleCallMeMaybe({ type: "call-me-maybe", endpoints });
  assert.equal(maxCallMeMaybeEndpoints, 64);
  assert.equal(pingTargets(actions).length, maxCallMeMaybeEndpoints);
  assert.equal(path.candidates().length, maxCallMeMaybeEndpoints);
  assert.deepEqual(
    new Set(path.candidates().map((c) => c.addr.key)),
    new Set(endpoints.slice(0, maxCallMeMaybeEndpoints).map((e) => e.key)),
  );
});

Deno.test("peer path: netmap updates add and drop endpoints, and drop a vanished best path", () => {
  const { clock, path } = setup([EP1, EP2]);
  const first = path.noteSend().actions;
  clock.advance(3);
  answer(path, pingTo(first, EP1));
  assert.equal(bestKey(path), EP1);
  const bogus = path.updateFromNode({
    discoKey: DISCO,
    homeDERP: 5,
    endpoints: [EP2, "not an endpoint", AddrPort.parse(EP3)],
  });
  assert.deepEqual(bogus, ["not an endpoint"]);
  assert.deepEqual(path.candidates().map((c) => c.addr.key).sort(), [EP2, EP3].sort());
  assert.equal(path.bestPath, null);
  assert.equal(path.derpRegion, 5);
  assert.deepEqual(path.route(), { udp: null, derpRegion: 5 });
  // A Pong for a Ping to a dropped candidate is known but sets nothing.
  const late = answer(path, pingTo(first, EP2));
  assert.ok(late);
  assert.equal(bestKey(path), EP2, "EP2 is still a candidate, so it counts");
});

Deno.test("peer path: Pongs that prove nothing", () => {
  const { clock, path } = setup([EP1]);
  const first = path.noteSend().actions;
  // Unknown TxID.
  assert.equal(
    path.handlePong(
      { type: "pong", txId: new Uint8Array(12).fill(0xee), src: AddrPort.parse(EP1) },
      udp(EP1),
    ),
    null,
  );
  // Our Ping's Pong arriving over DERP: a result, but no direct path.
  clock.advance(40);
  const viaDerp = path.handlePong(
    { type: "pong", txId: pingTo(first, EP1).txId, src: AddrPort.parse(EP1) },
    { via: "derp", region: REGION },
  );
  assert.equal(viaDerp?.latencyMs, 40);
  assert.equal(path.bestPath, null);
  // Answered once only.
  assert.equal(answer(path, pingTo(first, EP1)), null);
  // A Ping whose endpoint was dropped before the Pong came back.
  clock.advance(trustUDPAddrDuration);
  const round = path.noteSend().actions;
  path.updateFromNode({ discoKey: DISCO, homeDERP: REGION, endpoints: [] });
  assert.ok(answer(path, pingTo(round, EP1)));
  assert.equal(path.bestPath, null);
});

Deno.test("peer path: each candidate keeps its last 64 Pongs", () => {
  const { clock, path } = setup([EP1]);
  for (let i = 0; i < 100; i++) {
    const actions = path.cliPing();
    clock.advance(i + 1);
    const udpPing = pings(actions).find((a) => a.path.via === "udp");
    assert.ok(udpPing);
    answer(path, udpPing);
  }
  const [candidate] = path.candidates();
  assert.equal(candidate.pongCount, pongHistoryCount);
  assert.equal(candidate.latencyMs, 100, "the newest Pong's latency");
});

Deno.test("peer path: user pings go over DERP when untrusted and to the trusted path when not", () => {
  const { clock, path } = setup([EP1, EP2]);
  const untrusted = path.cliPing();
  assert.deepEqual(pingTargets(untrusted), [`derp:${REGION}`, EP1, EP2].sort());
  assert.ok(pings(untrusted).every((a) => a.purpose === "cli"));
  clock.advance(8);
  answer(path, pingTo(untrusted, EP2));
  const trusted = path.cliPing();
  assert.deepEqual(pingTargets(trusted), [EP2]);
  // An unanswered user ping is reported when it times out.
  clock.advance(pingTimeoutDuration);
  const timeouts = path.poll().filter((a) => a.type === "ping-timed-out");
  assert.equal(timeouts.length, 3, "the DERP ping, EP1's, and the last EP2 ping");
});

Deno.test("peer path: a failed send is forgotten; no disco key means no pings", () => {
  const { path } = setup([EP1]);
  const actions = path.noteSend().actions;
  path.forgetPing(pingTo(actions, EP1).txId);
  assert.equal(path.pingsInFlight, 0);

  const clock = new VirtualClock();
  const keyless = new PeerPath({ clock, random: counterRandom() });
  keyless.updateFromNode({ discoKey: null, homeDERP: REGION, endpoints: [EP1] });
  const sent = keyless.noteSend();
  assert.deepEqual(sent.actions, []);
  assert.deepEqual(sent.route, { udp: null, derpRegion: REGION });
  assert.deepEqual(keyless.cliPing(), []);
  assert.deepEqual(
    keyless.handleCallMeMaybe({ type: "call-me-maybe", endpoints: [AddrPort.parse(EP2)] }),
    [],
  );
  keyless.updateFromNode({ discoKey: DiscoPublicKey.zero(), homeDERP: REGION, endpoints: [EP1] });
  assert.equal(keyless.discoKey, null, "a zero disco key is no key");
});

Deno.test("peer path: bad endpoints, network changes and reset fall back to DERP", () => {
  const { clock, path } = setup([EP1, EP2]);
  const first = path.noteSend().actions;
  clock.advance(4);
  answer(path, pingTo(first, EP1));
  answer(path, pingTo(first, EP2));
  assert.ok(path.bestPath);

  path.noteBadEndpoint(AddrPort.parse(EP2));
  assert.equal(path.bestPath, null);
  assert.deepEqual(path.route(), { udp: null, derpRegion: REGION });
  const ep2 = path.candidates().find((c) => c.addr.key === EP2)!;
  assert.deepEqual([ep2.pongCount, ep2.lastPing], [0, null]);
  // EP1 still has its measurement until the network changes.
  assert.equal(path.candidates().find((c) => c.addr.key === EP1)!.pongCount, 1);
  path.noteConnectivityChange();
  assert.ok(path.candidates().every((c) => c.pongCount === 0 && c.lastPing === null));
  // Both get pinged at once on the next send.
  assert.deepEqual(pingTargets(path.noteSend().actions), [EP1, EP2].sort());

  path.reset();
  assert.equal(path.pingsInFlight, 0);
  assert.equal(path.heartbeatRunning, false);
  assert.equal(path.nextDeadline(), null);
  assert.equal(path.candidates().length, 2, "candidates are kept");
});

Deno.test("peer path: nextDeadline is the earliest of heartbeat and Ping timeouts", () => {
  const { clock, path } = setup([EP1]);
  assert.equal(path.nextDeadline(), null);
  const start = clock.monotonic();
  path.noteSend();
  assert.equal(path.nextDeadline(), start + heartbeatInterval);
  clock.advance(heartbeatInterval);
  path.poll(); // heartbeat: no best path, so a full round; EP1 was pinged 3 s ago, so skipped
  assert.equal(path.nextDeadline(), start + pingTimeoutDuration, "the first Ping's timeout");
  clock.advance(pingTimeoutDuration - heartbeatInterval);
  path.poll();
  assert.equal(path.nextDeadline(), start + 2 * heartbeatInterval);
});

Deno.test("peer path: a late heartbeat on the best path sends traffic to DERP within a second, before the 6.5 s of trust run out (ours, not Go's)", () => {
  const { clock, path } = setup([EP1]);
  const first = path.noteSend().actions;
  clock.advance(5);
  answer(path, pingTo(first, EP1)); // best: EP1, 5 ms, trusted for 6.5 s
  assert.equal(path.route().derpRegion, null, "direct only while it answers");
  // The path dies now. The next heartbeat goes out at its time and is not answered.
  clock.advanceTo(path.nextDeadline()!);
  const heartbeat = pings(path.poll()).find((p) => p.purpose === "heartbeat");
  assert.ok(heartbeat, "a heartbeat on the best path");
  const sentAt = clock.monotonic();
  clock.advance(999);
  assert.equal(path.route().derpRegion, null, "not yet late");
  clock.advance(2);
  assert.ok(clock.monotonic() - sentAt > 1_000);
  assert.ok(clock.monotonic() < 5 + trustUDPAddrDuration, "still within Go's trust window");
  assert.equal(path.route().derpRegion, REGION, "DERP now carries the traffic too");
  assert.equal(path.directTrusted, false);
  // The path comes back: the late heartbeat's Pong makes it trusted again.
  answer(path, heartbeat!);
  assert.equal(path.directTrusted, true);
  assert.equal(path.route().derpRegion, null);
});
