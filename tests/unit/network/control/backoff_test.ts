import assert from "node:assert/strict";
import { Backoff } from "../../../../network/control/backoff.ts";

function fixedRandom(fill: number) {
  return (n: number) => new Uint8Array(n).fill(fill);
}

Deno.test("backoff doubles from the base up to the cap", () => {
  // 0x80808080 / 2^32 ≈ 0.502 → factor ≈ 1.002
  const backoff = new Backoff({ baseMs: 100, maxMs: 1_000, random: fixedRandom(0x80) });
  const delays = Array.from({ length: 7 }, () => backoff.nextDelayMs());
  assert.deepEqual(delays, [100, 200, 400, 801, 1001, 1001, 1001]);
  assert.equal(backoff.failures, 7);
});

Deno.test("backoff jitter stays within [0.5, 1.5) of the unjittered wait", () => {
  const low = new Backoff({ baseMs: 1_000, random: fixedRandom(0x00) });
  const high = new Backoff({ baseMs: 1_000, random: fixedRandom(0xff) });
  assert.equal(low.nextDelayMs(), 500);
  const h = high.nextDelayMs();
  assert.ok(h >= 1_499 && h < 1_500, `high jitter ${h}`);
});

Deno.test("backoff reset starts over", () => {
  const backoff = new Backoff({ baseMs: 100, maxMs: 10_000, random: fixedRandom(0x00) });
  backoff.nextDelayMs();
  backoff.nextDelayMs();
  backoff.reset();
  assert.equal(backoff.failures, 0);
  assert.equal(backoff.nextDelayMs(), 50);
});
