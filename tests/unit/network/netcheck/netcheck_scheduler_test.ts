import assert from "node:assert/strict";
import { localAddressSnapshot } from "../../../../network/netcheck/local_addresses.ts";
import {
  NetcheckScheduler,
  shouldDoPeriodicReport,
} from "../../../../network/netcheck/netcheck_scheduler.ts";
import { seededRandom } from "../crypto/seeded_random.ts";

const LAN = [{ name: "eth0", family: "IPv4" as const, address: "192.168.1.20" }];
const OTHER_LAN = [{ name: "wlan0", family: "IPv4" as const, address: "10.1.2.3" }];

Deno.test("scheduler: a request runs at once; one made meanwhile runs right after", () => {
  const s = new NetcheckScheduler({ random: seededRandom(1).bytes });
  assert.equal(s.poll(0), undefined);
  assert.equal(s.nextDeadline(0), undefined, "nothing planned");
  s.request("startup", 0);
  assert.equal(s.nextDeadline(0), 0);
  assert.deepEqual(s.poll(0), { reason: "startup", full: false });
  assert.equal(s.poll(1), undefined, "running");
  s.request("derp-map-update", 100);
  s.request("derp-recv-error", 200, { full: true });
  s.request("link-change", 300);
  assert.equal(s.poll(400), undefined, "still running");
  assert.equal(s.nextDeadline(400), undefined);
  s.noteReportDone(1000, true);
  // Three requests collapse into one, the latest reason, full because one asked.
  assert.deepEqual(s.poll(1000), { reason: "link-change", full: true });
  s.noteReportDone(2000, true);
  assert.equal(s.poll(2001), undefined);
});

Deno.test("scheduler: periodic reports come 20–26 s after the last one, with jitter", () => {
  const rng = seededRandom();
  const s = new NetcheckScheduler({ random: rng.bytes });
  const gaps = new Set<number>();
  let now = 0;
  s.request("startup", now);
  for (let i = 0; i < 200; i++) {
    assert.ok(s.poll(now), `seed ${rng.seed}`);
    now += 1500; // the report takes 1.5 s
    s.noteReportDone(now, true);
    const at = s.periodicAt!;
    const gap = at - now;
    assert.ok(gap >= 20_000 && gap < 26_000, `seed ${rng.seed}: gap ${gap}`);
    gaps.add(Math.floor(gap / 1000));
    assert.equal(s.poll(at - 1), undefined);
    assert.equal(s.nextDeadline(at - 1), at);
    now = at;
    assert.equal(s.poll(now)?.reason, "periodic");
    s.noteReportDone(now, true);
    now = s.periodicAt!;
  }
  assert.ok(gaps.size >= 5, `seed ${rng.seed}: the interval varies (${[...gaps]})`);
});

Deno.test("scheduler: without peers or when idle, no periodic report is planned", () => {
  const s = new NetcheckScheduler({ random: seededRandom(2).bytes });
  s.request("startup", 0);
  s.poll(0);
  s.noteReportDone(10, false);
  assert.equal(s.periodicAt, undefined);
  assert.equal(s.nextDeadline(10), undefined);
  assert.equal(shouldDoPeriodicReport({ peerCount: 0 }), false);
  assert.equal(shouldDoPeriodicReport({ peerCount: 3 }), true);
  assert.equal(shouldDoPeriodicReport({ peerCount: 3, idleMs: 45_000 }), true);
  assert.equal(shouldDoPeriodicReport({ peerCount: 3, idleMs: 45_001 }), false);
  assert.equal(
    shouldDoPeriodicReport({ peerCount: 3, idleMs: 90_000, forceBackgroundSTUN: true }),
    true,
  );
  assert.equal(shouldDoPeriodicReport({ peerCount: 3, networkUp: false }), false);
});

Deno.test("scheduler: a change of local addresses asks for a report; the first read does not", () => {
  const s = new NetcheckScheduler({ random: seededRandom(3).bytes });
  assert.equal(s.noteLocalAddresses(localAddressSnapshot(LAN), 0), false);
  assert.equal(s.poll(0), undefined);
  assert.equal(s.noteLocalAddresses(localAddressSnapshot(LAN), 5000), false);
  assert.equal(s.noteLocalAddresses(localAddressSnapshot(OTHER_LAN), 10_000), true);
  assert.deepEqual(s.poll(10_000), { reason: "link-change", full: false });
  s.noteReportDone(11_000, true);
  // A periodic report was due at 31–37 s; the change at 20 s comes first.
  assert.equal(s.noteLocalAddresses(localAddressSnapshot(LAN), 20_000), true);
  assert.equal(s.poll(20_000)?.reason, "link-change");
});
