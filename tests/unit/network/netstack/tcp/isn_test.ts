import assert from "node:assert/strict";
import { IsnGenerator } from "../../../../../network/netstack/tcp/isn.ts";

const a = new Uint8Array([10, 0, 0, 1]), b = new Uint8Array([10, 0, 0, 2]);
const fixed = (fill: number) => (n: number) => new Uint8Array(n).fill(fill);

Deno.test("isn: RFC 6528 — a keyed hash of the 4-tuple plus a 4 µs clock", () => {
  const gen = new IsnGenerator(fixed(1));
  const first = gen.next(a, 80, b, 40000, 1000);
  const later = gen.next(a, 80, b, 40000, 1001);
  assert.equal((later.iss - first.iss) >>> 0, 250, "250 ticks of 4 µs per millisecond");
  assert.equal(later.timestampOffset, first.timestampOffset, "one timestamp offset per 4-tuple");
  const other = gen.next(a, 80, b, 40001, 1000);
  assert.notEqual(other.iss, first.iss);
  assert.notEqual(other.timestampOffset, first.timestampOffset);
  const otherKey = new IsnGenerator(fixed(2)).next(a, 80, b, 40000, 1000);
  assert.notEqual(otherKey.iss, first.iss, "the secret key changes everything");
});
