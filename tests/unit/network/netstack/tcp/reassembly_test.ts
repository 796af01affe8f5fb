import assert from "node:assert/strict";
import { Reassembly } from "../../../../../network/netstack/tcp/reassembly.ts";

Deno.test("reassembly: merges overlapping and touching ranges", () => {
  const r = new Reassembly(8);
  r.add(100, 200);
  r.add(300, 400);
  assert.equal(r.size, 2);
  r.add(200, 300); // touches both
  assert.equal(r.size, 1);
  assert.ok(r.covers(100, 400));
  r.add(150, 450);
  assert.equal(r.bytes, 350);
});

Deno.test("reassembly: advance returns how far the data now runs contiguously", () => {
  const r = new Reassembly(8);
  r.add(1010, 1020);
  r.add(1030, 1040);
  assert.equal(r.advance(1000), 0, "a hole before the first range");
  assert.equal(r.advance(1010), 10);
  assert.equal(r.size, 1);
  assert.equal(r.advance(1035), 5, "a range RCV.NXT reached part way");
  assert.equal(r.size, 0);
});

Deno.test("reassembly: refuses a range past its bound, still merges into existing ones", () => {
  const r = new Reassembly(3);
  assert.ok(r.add(10, 20));
  assert.ok(r.add(30, 40));
  assert.ok(r.add(50, 60));
  assert.equal(r.add(70, 80), false, "a fourth disjoint range is refused");
  assert.ok(r.add(20, 25), "extending a held range is fine");
  assert.equal(r.size, 3);
});

Deno.test("reassembly: SACK blocks, most recently changed first (RFC 2018 §4)", () => {
  const r = new Reassembly(8);
  r.add(100, 200);
  r.add(300, 400);
  r.add(500, 600);
  r.add(350, 420);
  assert.deepEqual(r.sackBlocks(3), [
    { left: 300, right: 420 },
    { left: 500, right: 600 },
    { left: 100, right: 200 },
  ]);
  assert.equal(r.sackBlocks(1).length, 1);
});

Deno.test("reassembly: sequence numbers wrapping past 2^32", () => {
  const r = new Reassembly(4);
  r.add(0xffff_fff0, 0x10);
  r.add(0x10, 0x20);
  assert.equal(r.size, 1);
  assert.equal(r.advance(0xffff_fff0), 0x30);
});
