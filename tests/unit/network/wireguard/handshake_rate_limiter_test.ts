import assert from "node:assert/strict";
import {
  HandshakeRateLimiter,
  INITIATIONS_PER_SOURCE_BURST,
  MAX_RATE_LIMITED_SOURCES,
} from "../../../../network/wireguard/handshake_rate_limiter.ts";
import { HandshakeLoad } from "../../../../network/wireguard/handshake_load.ts";

const source = (n: number) => new Uint8Array([10, (n >> 16) & 255, (n >> 8) & 255, n & 255, 0, 1]);

Deno.test("rate limiter: one source gets its burst, then 20 per second", () => {
  const limiter = new HandshakeRateLimiter(1_000);
  let allowed = 0;
  for (let t = 0; t < 2_000; t++) if (limiter.allow(source(1), t)) allowed++;
  assert.equal(allowed, INITIATIONS_PER_SOURCE_BURST + 39); // 20/s over 1.999 s, whole tokens
  assert.ok(limiter.allow(source(2), 2_000), "another source has its own bucket");
});

Deno.test("rate limiter: many sources together stay within the total budget", () => {
  const limiter = new HandshakeRateLimiter(128);
  let allowed = 0;
  // 3,000 sources (a host varying its port), each within its own rate, over one second.
  for (let i = 0; i < 3_000; i++) if (limiter.allow(source(i), i / 3)) allowed++;
  assert.ok(allowed <= 128 + 128, `${allowed} allowed in 1 s`);
  assert.ok(allowed >= 128);
});

Deno.test("rate limiter: the source table is bounded and idle sources are swept", () => {
  const limiter = new HandshakeRateLimiter(1e9);
  for (let i = 0; i < MAX_RATE_LIMITED_SOURCES; i++) assert.ok(limiter.allow(source(i), 0));
  assert.ok(!limiter.allow(source(MAX_RATE_LIMITED_SOURCES), 0), "a full table refuses newcomers");
  assert.equal(limiter.size, MAX_RATE_LIMITED_SOURCES);
  // A second later every bucket has refilled: they are forgotten and the newcomer fits.
  assert.ok(limiter.allow(source(MAX_RATE_LIMITED_SOURCES), 1_000));
  assert.equal(limiter.size, 1);
});

Deno.test("handshake load: the threshold within one second, held for holdMs", () => {
  const load = new HandshakeLoad(4, 1_000);
  assert.ok(!load.noteInitiation(0));
  assert.ok(!load.noteInitiation(400));
  assert.ok(!load.noteInitiation(800));
  assert.ok(!load.noteInitiation(1_000), "the first left the window: 3 in the last second");
  assert.ok(load.noteInitiation(1_100), "4 within 1 s");
  assert.ok(load.underLoad(2_099) && !load.underLoad(2_100));
  assert.throws(() => new HandshakeLoad(0), RangeError);
});
