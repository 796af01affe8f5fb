import assert from "node:assert/strict";
import {
  seqAdd,
  seqDiff,
  seqGE,
  seqGT,
  seqInRange,
  seqLE,
  seqLT,
  seqMax,
  seqMin,
} from "../../../../../network/netstack/tcp/seq.ts";

Deno.test("seq: comparisons hold across the 2^32 wrap", () => {
  const top = 0xffff_fff0;
  const wrapped = seqAdd(top, 0x20);
  assert.equal(wrapped, 0x10);
  assert.ok(seqLT(top, wrapped));
  assert.ok(seqGT(wrapped, top));
  assert.ok(seqLE(top, top) && seqGE(top, top));
  assert.equal(seqDiff(wrapped, top), 0x20);
  assert.equal(seqDiff(top, wrapped), -0x20);
  assert.equal(seqMax(top, wrapped), wrapped);
  assert.equal(seqMin(top, wrapped), top);
  assert.equal(seqAdd(0, -1), 0xffff_ffff);
});

Deno.test("seq: ranges that straddle the wrap", () => {
  const lo = 0xffff_ff00, hi = 0x100;
  assert.ok(seqInRange(0xffff_ffff, lo, hi));
  assert.ok(seqInRange(0, lo, hi));
  assert.ok(seqInRange(lo, lo, hi));
  assert.ok(!seqInRange(hi, lo, hi));
  assert.ok(!seqInRange(0x8000_0000, lo, hi));
});
