/**
 * DerpLinks in virtual time with a scripted connector: home chosen and kept, peers' regions
 * opened on demand and closed after tailscaled's 60 s of idleness (checked every 15 s),
 * reconnect backoff 250 ms doubling to 5 s, home failover after three failed connects,
 * NotePreferred moved with home, the bound on open regions, the write queue, routes learned
 * from frames, and DERP map changes (data-plane reference §3.8).
 */
import assert from "node:assert/strict";
import { NodePrivateKey } from "../../../../network/crypto/keys.ts";
import { systemRandom } from "../../../../network/crypto/random.ts";
import type { DerpMessage } from "../../../../network/derp/derp_client.ts";
import {
  DERP_CLEAN_STALE_INTERVAL_MS,
  DERP_INACTIVE_CLEANUP_MS,
  type DerpLinkEvent,
  DerpLinks,
  type DerpLinksOptions,
} from "../../../../network/magicsock/derp_links.ts";
import { DERP_WRITE_QUEUE_DEPTH } from "../../../../network/magicsock/derp_region_link.ts";
import { NoDerpRegionError } from "../../../../network/magicsock/derp_home.ts";
import { VirtualClock } from "../disco/virtual_clock.ts";
import { FakeConnector, regionsMap, settle } from "./fake_derp_connection.ts";

function setup(extra: Partial<DerpLinksOptions> = {}) {
  const clock = new VirtualClock();
  const connector = new FakeConnector(clock);
  const events: DerpLinkEvent[] = [];
  const received: { message: DerpMessage; region: number }[] = [];
  const peers = new Set<string>();
  const links = new DerpLinks({
    nodeKey: NodePrivateKey.generate(),
    clock,
    random: systemRandom,
    connect: connector.connect,
    isPeer: (key) => peers.has(key.toText()),
    onMessage: (message, region) => received.push({ message, region }),
    onEvent: (event) => events.push(event),
    ...extra,
  });
  /** Moves virtual time timer by timer, letting connects and reads run after each. */
  const advance = async (ms: number) => {
    const target = clock.monotonic() + ms;
    await settle();
    for (;;) {
      const due = clock.nextDue();
      if (due === undefined || due > target) break;
      clock.advanceTo(due);
      await settle();
    }
    clock.advanceTo(target);
    await settle();
  };
  return { clock, connector, events, received, peers, links, advance };
}

const key = () => NodePrivateKey.generate().publicKey();
const bytes = (n: number) => Uint8Array.of(n);

Deno.test("DerpLinks: home is the preference, else the order's first, else the lowest ID", async () => {
  for (
    const [preferred, order, home] of [
      [undefined, [], 901],
      [903, [], 903],
      [undefined, [902, 901], 902],
      [904, [902], 902], // 904 is not in the map
    ] as [number | undefined, number[], number][]
  ) {
    const t = setup({ preferredRegion: preferred });
    t.links.setRegionOrder(order);
    assert.equal(await t.links.start(regionsMap(903, 901, 902)), home);
    assert.equal(t.links.homeRegion, home);
    assert.deepEqual(t.events.at(-1), {
      kind: "derp-home",
      region: home,
      previous: undefined,
      reason: "start",
    });
    assert.equal(t.connector.attempts[0].preferred, true, "home announces NotePreferred(1)");
    await t.links.close();
  }
  const t = setup();
  await assert.rejects(t.links.start({ Regions: {} }), NoDerpRegionError);
});

Deno.test("DerpLinks: a home that cannot connect at start gives way to the next candidate", async () => {
  const t = setup();
  t.connector.down.add(901);
  assert.equal(await t.links.start(regionsMap(901, 902)), 902);
  assert.deepEqual(t.connector.attempts.map((a) => [a.region, a.ok]), [[901, false], [902, true]]);
  await t.links.close();
  const all = setup();
  all.connector.down.add(901).add(902);
  await assert.rejects(all.links.start(regionsMap(901, 902)), /region 901 refused/);
  await all.links.close();
});

Deno.test("DerpLinks: a peer homed elsewhere gets its region opened on demand; writes wait for the connect", async () => {
  const t = setup();
  await t.links.start(regionsMap(901, 902));
  const peer = key();
  assert.ok(t.links.send(peer, bytes(1), 902));
  assert.ok(t.links.send(peer, bytes(2), 902));
  await settle();
  const conn902 = t.connector.live(902)!;
  assert.equal(conn902.preferred, false, "not home: NotePreferred(0)");
  assert.deepEqual(conn902.sent.map((s) => s.payload[0]), [1, 2], "queued writes flushed in order");
  assert.equal(t.connector.live(901)!.sent.length, 0, "nothing through our home");
  // A peer whose home is unknown goes through our home.
  t.links.send(key(), bytes(3));
  assert.deepEqual(t.connector.live(901)!.sent.map((s) => s.payload[0]), [3]);
  // A region not in the map: through our home too.
  t.links.send(key(), bytes(4), 999);
  assert.equal(t.connector.live(901)!.sent.length, 2);
  assert.deepEqual(t.links.regions().map((r) => [r.region, r.home, r.connected]), [
    [901, true, true],
    [902, false, true],
  ]);
  await t.links.close();
});

Deno.test("DerpLinks: frames from any region reach the callback with it; routes only for netmap peers", async () => {
  const t = setup();
  await t.links.start(regionsMap(901, 902));
  const peer = key();
  const stranger = key();
  t.peers.add(peer.toText());
  t.links.send(peer, bytes(1), 902);
  await settle();
  const conn902 = t.connector.live(902)!;
  conn902.push({ type: "packet", src: peer, data: bytes(9) });
  conn902.push({ type: "packet", src: stranger, data: bytes(8) });
  await settle();
  assert.deepEqual(t.received.map((r) => [r.region, r.message.type]), [[902, "packet"], [
    902,
    "packet",
  ]]);
  // Home unknown: the peer goes back the way it was heard, the stranger through our home.
  t.links.send(peer, bytes(2));
  t.links.send(stranger, bytes(3));
  assert.deepEqual(conn902.sent.map((s) => s.payload[0]), [1, 2]);
  assert.deepEqual(t.connector.live(901)!.sent.map((s) => s.payload[0]), [3]);
  // PeerGone on that connection forgets the route.
  conn902.push({ type: "peerGone", peer, reason: 0 });
  await settle();
  t.links.send(peer, bytes(4));
  assert.deepEqual(t.connector.live(901)!.sent.map((s) => s.payload[0]), [3, 4]);
  await t.links.close();
});

Deno.test("DerpLinks: a non-home region idle for 60 s is closed, checked every 15 s; writes keep it", async () => {
  const t = setup();
  await t.links.start(regionsMap(901, 902, 903));
  const peer = key();
  t.links.send(peer, bytes(1), 902);
  t.links.send(peer, bytes(1), 903);
  await settle();
  // 903 stays busy: a write every 10 s.
  for (let s = 0; s < 6; s++) {
    await t.advance(10_000);
    t.links.send(peer, bytes(2), 903);
  }
  // At 60 s, 902 has been idle exactly 60 s: not yet "older than" 60 s.
  assert.deepEqual(t.links.regions().map((r) => r.region), [901, 902, 903]);
  await t.advance(DERP_CLEAN_STALE_INTERVAL_MS);
  assert.deepEqual(t.links.regions().map((r) => r.region), [901, 903]);
  assert.ok(
    t.events.some((e) => e.kind === "derp-closed" && e.region === 902 && e.reason === "idle"),
  );
  assert.ok(t.connector.connections.find((c) => c.region === 902)!.closed);
  // Once 903 is idle too it goes; home never does.
  await t.advance(DERP_INACTIVE_CLEANUP_MS + DERP_CLEAN_STALE_INTERVAL_MS);
  assert.deepEqual(t.links.regions().map((r) => r.region), [901]);
  assert.ok(t.connector.live(901));
  await t.links.close();
});

Deno.test("DerpLinks: reconnect backoff 250 ms doubling to 5 s, reset by a connect", async () => {
  const t = setup();
  // One region only, so that home has nowhere to fail over to.
  await t.links.start(regionsMap(901));
  t.connector.down.add(901);
  t.connector.live(901)!.fail();
  await settle();
  const lostAt = t.clock.monotonic();
  await t.advance(30_000);
  const retries = t.connector.attempts.slice(1).map((a) => a.at - lostAt);
  // Lost at 0: wait 250, then failures wait 250, 500, 1000, 2000, 4000, 5000, 5000…
  assert.deepEqual(retries.slice(0, 8), [250, 500, 1000, 2000, 4000, 8000, 13000, 18000]);
  assert.equal(t.links.homeRegion, 901);
  assert.equal(t.links.connected, false);
  t.connector.down.delete(901);
  await t.advance(5_000);
  assert.equal(t.links.connected, true, "back within one 5 s wait");
  // The next loss waits 250 ms again.
  const before = t.connector.attempts.length;
  t.connector.live(901)!.fail();
  await settle();
  const again = t.clock.monotonic();
  await t.advance(300);
  assert.equal(t.connector.attempts[before].at - again, 250);
  await t.links.close();
});

Deno.test("DerpLinks: home fails over after three failed connects, to the order's next region", async () => {
  const t = setup();
  t.links.setRegionOrder([901, 903, 902]);
  await t.links.start(regionsMap(901, 902, 903));
  const old = t.connector.live(901)!;
  t.connector.down.add(901);
  old.fail("derper killed");
  // Lost, then three failed connects: 250 + 250 + 500 ms.
  await t.advance(900);
  assert.equal(t.links.homeRegion, 901, "two failures are not enough");
  await t.advance(400);
  assert.equal(t.links.homeRegion, 903);
  const home = t.events.filter((e) => e.kind === "derp-home");
  assert.deepEqual(home.at(-1), {
    kind: "derp-home",
    region: 903,
    previous: 901,
    reason: "failover",
  });
  assert.equal(
    t.connector.live(903)?.preferred,
    true,
    "the new home connects with NotePreferred(1)",
  );
  assert.ok(t.links.connected);
  // Sends to peers without a home now go through 903.
  t.links.send(key(), bytes(7));
  assert.deepEqual(t.connector.live(903)!.sent.map((s) => s.payload[0]), [7]);
  // The old home is an ordinary region now: unwritten, it is closed within 75 s.
  await t.advance(DERP_INACTIVE_CLEANUP_MS + DERP_CLEAN_STALE_INTERVAL_MS);
  assert.deepEqual(t.links.regions().map((r) => r.region), [903]);
  await t.links.close();
});

Deno.test("DerpLinks: setHome moves NotePreferred and connects the new home at once", async () => {
  const t = setup();
  await t.links.start(regionsMap(901, 902));
  t.links.send(key(), bytes(1), 902);
  await settle();
  const c901 = t.connector.live(901)!;
  const c902 = t.connector.live(902)!;
  assert.equal(t.links.setHome(902), true);
  assert.deepEqual(c901.notedPreferred, [false]);
  assert.deepEqual(c902.notedPreferred, [true]);
  assert.deepEqual(t.events.at(-1), {
    kind: "derp-home",
    region: 902,
    previous: 901,
    reason: "set",
  });
  assert.equal(t.links.setHome(902), true, "no change, no event");
  assert.equal(t.events.filter((e) => e.kind === "derp-home").length, 2);
  assert.equal(t.links.setHome(777), false, "not in the map");
  assert.equal(t.links.homeRegion, 902);
  // A home not yet connected connects with NotePreferred(1).
  const u = setup();
  await u.links.start(regionsMap(901, 902));
  u.links.setHome(902);
  await settle();
  assert.equal(u.connector.live(902)?.preferred, true);
  await Promise.all([t.links.close(), u.links.close()]);
});

Deno.test("DerpLinks: at the bound, a new region closes the non-home one written to least recently", async () => {
  const t = setup({ maxRegions: 3 });
  await t.links.start(regionsMap(901, 902, 903, 904));
  const peer = key();
  t.links.send(peer, bytes(1), 902);
  await t.advance(1_000);
  t.links.send(peer, bytes(1), 903);
  await t.advance(1_000);
  t.links.send(peer, bytes(1), 904);
  await settle();
  assert.deepEqual(t.links.regions().map((r) => r.region), [901, 903, 904]);
  assert.ok(
    t.events.some((e) => e.kind === "derp-closed" && e.region === 902 && e.reason === "evicted"),
  );
  await t.links.close();
});

Deno.test("DerpLinks: while a region connects, 32 writes wait; the oldest are dropped", async () => {
  const t = setup();
  await t.links.start(regionsMap(901, 902));
  t.connector.down.add(902);
  const peer = key();
  for (let i = 0; i < DERP_WRITE_QUEUE_DEPTH + 8; i++) t.links.send(peer, bytes(i), 902);
  await settle();
  assert.equal(t.links.regions().find((r) => r.region === 902)?.queued, DERP_WRITE_QUEUE_DEPTH);
  assert.equal(t.links.stats.queueDrops, 8);
  t.connector.down.delete(902);
  await t.advance(300);
  const sent = t.connector.live(902)!.sent.map((s) => s.payload[0]);
  assert.deepEqual(sent, Array.from({ length: DERP_WRITE_QUEUE_DEPTH }, (_, i) => i + 8));
  await t.links.close();
});

Deno.test("DerpLinks: a new DERP map closes vanished or redefined regions; a vanished home moves", async () => {
  const t = setup();
  t.links.setRegionOrder([901, 903]);
  await t.links.start(regionsMap(901, 902, 903));
  t.links.send(key(), bytes(1), 902);
  await settle();
  const next = regionsMap(902, 903);
  next.Regions!["902"]!.Nodes![0].DERPPort = 2; // redefined
  t.links.setDerpMap(next);
  await settle();
  assert.deepEqual(t.events.filter((e) => e.kind === "derp-closed").map((e) => e.region), [
    901,
    902,
  ]);
  assert.deepEqual(t.events.find((e) => e.kind === "derp-home" && e.reason !== "start"), {
    kind: "derp-home",
    region: 903,
    previous: 901,
    reason: "map-changed",
  });
  assert.ok(t.connector.live(903)?.preferred);
  await t.links.close();
});

Deno.test("DerpLinks: a lost connection forgets the routes learned on it and reconnects", async () => {
  const t = setup();
  await t.links.start(regionsMap(901, 902));
  const peer = key();
  t.peers.add(peer.toText());
  t.links.send(peer, bytes(1), 902);
  await settle();
  t.connector.live(902)!.push({ type: "packet", src: peer, data: bytes(1) });
  await settle();
  t.connector.live(902)!.fail();
  await settle();
  t.links.send(peer, bytes(2));
  assert.deepEqual(t.connector.live(901)!.sent.map((s) => s.payload[0]), [2]);
  assert.ok(t.events.some((e) => e.kind === "derp-lost" && e.region === 902));
  await t.advance(300);
  assert.ok(t.connector.live(902), "reconnected after 250 ms");
  await t.links.close();
});
