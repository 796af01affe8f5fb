import assert from "node:assert/strict";
import { Backoff } from "../../../../network/control/backoff.ts";

function fixedRandom(fill: number) {
  return (n: number) => new Uint8Array(n).fill(fill);
}

Deno.test("backoff doubles from the base up to the cap", () => {
  // 0x80808080 / 2^32 ≈ 0.502: the middle of each window, d/2 … min(3d/2, max).
  const backoff = new Backoff({ baseMs: 100, maxMs: 1_000, random: fixedRandom(0x80) });
  const delays = Array.from({ length: 7 }, () => backoff.nextDelayMs());
  assert.deepEqual(delays, [100, 200, 400, 701, 750, 750, 750]);
  assert.equal(backoff.failures, 7);
});

Deno.test("backoff jitter stays within [0.5, 1.5) of the unjittered wait", () => {
  const low = new Backoff({ baseMs: 1_000, random: fixedRandom(0x00) });
  const high = new Backoff({ baseMs: 1_000, random: fixedRandom(0xff) });
  assert.equal(low.nextDelayMs(), 500);
  const h = high.nextDelayMs();
  assert.ok(h >= 1_499 && h < 1_500, `high jitter ${h}`);
});

Deno.test("backoff never waits longer than its cap, jitter included", () => {
  // The job loop's Redis reconnect: base 1 s, cap 30 s (it once logged 40–45 s waits).
  for (const fill of [0x00, 0x80, 0xff]) {
    const backoff = new Backoff({ baseMs: 1_000, maxMs: 30_000, random: fixedRandom(fill) });
    const delays = Array.from({ length: 12 }, () => backoff.nextDelayMs());
    assert.ok(delays.every((d) => d >= 500 && d < 30_000), `fill ${fill}: ${delays}`);
    // At the cap the waits still spread: from 15 s up to (not quite) 30 s.
    assert.ok(delays.at(-1)! >= 15_000, `fill ${fill}: ${delays}`);
  }
  const high = new Backoff({ baseMs: 1_000, maxMs: 30_000, random: fixedRandom(0xff) });
  const waits = Array.from({ length: 10 }, () => high.nextDelayMs());
  assert.ok(waits.at(-1)! > 29_900, `the top of the window is near the cap: ${waits}`);
});

Deno.test("backoff reset starts over", () => {
  const backoff = new Backoff({ baseMs: 100, maxMs: 10_000, random: fixedRandom(0x00) });
  backoff.nextDelayMs();
  backoff.nextDelayMs();
  backoff.reset();
  assert.equal(backoff.failures, 0);
  assert.equal(backoff.nextDelayMs(), 50);
});
