import assert from "node:assert/strict";
import type { Clock } from "../../../../network/clock.ts";
import { TokenBucket } from "../../../../network/derp/token_bucket.ts";

function manualClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  return {
    now: () => now,
    monotonic: () => now,
    setTimeout: () => {
      throw new Error("not used");
    },
    clearTimeout: () => {},
    defer: () => {
      throw new Error("not used");
    },
    sleep: () => Promise.resolve(),
    advance(ms: number) {
      now += ms;
    },
  };
}

Deno.test("token bucket: starts full, refills at the rate, never beyond the burst", () => {
  const clock = manualClock();
  const bucket = new TokenBucket(1000, 1500, clock);
  assert.equal(bucket.take(1500), true);
  assert.equal(bucket.take(1), false);
  clock.advance(500);
  assert.equal(bucket.take(501), false, "only 500 bytes after 0.5 s");
  assert.equal(bucket.take(500), true);
  clock.advance(60_000);
  assert.equal(bucket.take(1501), false, "capped at the burst");
  assert.equal(bucket.take(1500), true);
});

Deno.test("token bucket: a refused take takes nothing", () => {
  const clock = manualClock();
  const bucket = new TokenBucket(100, 200, clock);
  assert.equal(bucket.take(300), false);
  assert.equal(bucket.take(200), true);
  assert.throws(() => new TokenBucket(0, 10, clock), RangeError);
  assert.throws(() => new TokenBucket(10, 0, clock), RangeError);
});
