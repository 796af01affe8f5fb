import assert from "node:assert/strict";
import { tai64n, tai64nAfter } from "../../../../network/wireguard/tai64n.ts";
import { toHex } from "../crypto/hex.ts";

Deno.test("tai64n: layout is 2^62 + 10 + seconds, then whitened nanoseconds, big-endian", () => {
  assert.equal(toHex(tai64n(0)), "400000000000000a00000000");
  // 1700000000.5 s: 0x6553f100 seconds; 500,000,000 ns whitened to a multiple of 2^24.
  const nanos = 500_000_000 - (500_000_000 % 2 ** 24);
  assert.equal(
    toHex(tai64n(1_700_000_000_500)),
    "40000000" + (0x6553f100 + 10).toString(16).padStart(8, "0") +
      nanos.toString(16).padStart(8, "0"),
  );
});

Deno.test("tai64n: later times compare after, times within one whitening step are equal", () => {
  const a = tai64n(1_700_000_000_000);
  const b = tai64n(1_700_000_000_017);
  const c = tai64n(1_700_000_000_001);
  assert.ok(tai64nAfter(b, a));
  assert.ok(!tai64nAfter(a, b));
  assert.ok(!tai64nAfter(c, a), "1 ms later falls in the same 16.8 ms step");
  assert.ok(!tai64nAfter(a, a));
  assert.ok(tai64nAfter(tai64n(1_700_000_001_000), tai64n(1_700_000_000_999)));
  assert.throws(() => tai64n(-1), RangeError);
});
