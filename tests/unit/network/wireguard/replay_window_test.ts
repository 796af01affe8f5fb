import assert from "node:assert/strict";
import { REPLAY_WINDOW_SIZE, ReplayWindow } from "../../../../network/wireguard/replay_window.ts";

Deno.test("replay window: the window is wireguard-go's 8128 counters", () => {
  assert.equal(REPLAY_WINDOW_SIZE, 8128);
});

// The sequence wireguard-go's replay test walks through (RFC 6479 behaviour):
// L is one past the window, so L and 0 cannot both be inside it.
Deno.test("replay window: in order, duplicates, reordering, window edges, big jumps", () => {
  const w = new ReplayWindow();
  const L = REPLAY_WINDOW_SIZE + 1;
  const steps: [number, boolean][] = [
    [0, true],
    [1, true],
    [1, false],
    [9, true],
    [8, true],
    [7, true],
    [7, false],
    [L, true],
    [L - 1, true],
    [L - 1, false],
    [L - 2, true],
    [2, true],
    [2, false],
    [L + 16, true],
    [3, false],
    [L + 16, false],
    [L * 4, true],
    [L * 4 - (L - 1), true],
    [10, false],
    [L * 4 - L, false],
    [L * 4 - (L + 1), false],
    [L * 4 - (L - 2), true],
    [L * 4 + 1 - L, false],
    [0, false],
  ];
  steps.forEach(([counter, expected], i) =>
    assert.equal(w.accept(counter), expected, `step ${i + 1}: counter ${counter}`)
  );
});

Deno.test("replay window: filling the whole window in either order", () => {
  const W = REPLAY_WINDOW_SIZE;
  let w = new ReplayWindow();
  for (let i = 1; i <= W; i++) assert.ok(w.accept(i));
  assert.ok(w.accept(0), "0 is exactly at the trailing edge");
  assert.ok(!w.accept(0));
  w = new ReplayWindow();
  for (let i = 2; i <= W + 1; i++) assert.ok(w.accept(i));
  assert.ok(w.accept(1));
  assert.ok(!w.accept(0), "0 fell out of the window");
  w = new ReplayWindow();
  for (let i = W + 1; i > 0; i--) assert.ok(w.accept(i), `descending ${i}`);
  w = new ReplayWindow();
  for (let i = W + 2; i > 1; i--) assert.ok(w.accept(i));
  assert.ok(!w.accept(0));
  w = new ReplayWindow();
  for (let i = W; i > 0; i--) assert.ok(w.accept(i));
  assert.ok(w.accept(W + 1));
  assert.ok(!w.accept(0));
});

Deno.test("replay window: exactly at the trailing edge is accepted, one past it is not", () => {
  const w = new ReplayWindow();
  assert.ok(w.accept(20_000));
  assert.ok(w.accept(20_000 - REPLAY_WINDOW_SIZE));
  assert.ok(!w.accept(20_000 - REPLAY_WINDOW_SIZE - 1));
});

Deno.test("replay window: a jump of more than the ring clears every old bit", () => {
  const w = new ReplayWindow();
  for (let i = 0; i < 200; i++) assert.ok(w.accept(i));
  const far = 1_000_000;
  assert.ok(w.accept(far));
  // Counters whose ring positions held old bits are fresh again, if inside the window.
  for (let i = far - 200; i < far; i++) assert.ok(w.accept(i), `counter ${i}`);
  assert.ok(!w.accept(far));
});

Deno.test("replay window: every counter of a shuffled run is accepted once", () => {
  const w = new ReplayWindow();
  const counters = Array.from({ length: 4000 }, (_, i) => i);
  for (let i = counters.length - 1; i > 0; i--) {
    const j = (i * 7919) % (i + 1);
    [counters[i], counters[j]] = [counters[j], counters[i]];
  }
  for (const c of counters) assert.ok(w.accept(c));
  for (const c of counters) assert.ok(!w.accept(c));
});

Deno.test("replay window: reset, and non-integers are refused", () => {
  const w = new ReplayWindow();
  assert.ok(w.accept(5));
  w.reset();
  assert.ok(w.accept(5));
  assert.ok(!w.accept(-1));
  assert.ok(!w.accept(1.5));
  assert.ok(!w.accept(NaN));
});

Deno.test("replay window: 64-bit counters near 2^53 still work", () => {
  const w = new ReplayWindow();
  const base = 2 ** 52;
  assert.ok(w.accept(base));
  assert.ok(w.accept(base + 64));
  assert.ok(w.accept(base + 1));
  assert.ok(!w.accept(base + 1));
  assert.ok(!w.accept(base - REPLAY_WINDOW_SIZE - 1000));
});
