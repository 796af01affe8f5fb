import assert from "node:assert/strict";
import { ByteRing } from "../../../../../network/netstack/tcp/byte_ring.ts";

const bytes = (n: number, start = 0) =>
  Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);

Deno.test("byte ring: append takes what fits, read returns it in order", () => {
  const ring = new ByteRing(10_000);
  assert.equal(ring.allocated, 0, "nothing allocated until data arrives");
  assert.equal(ring.append(bytes(6000)), 6000);
  assert.equal(ring.append(bytes(6000, 6000)), 4000, "only the free space is taken");
  assert.equal(ring.free, 0);
  assert.ok(ring.allocated <= 10_000);
  const out = new Uint8Array(10_000);
  assert.equal(ring.read(out), 10_000);
  assert.deepEqual(out, bytes(10_000));
  assert.equal(ring.length, 0);
});

Deno.test("byte ring: wraps around and peeks at offsets", () => {
  const ring = new ByteRing(8192);
  ring.append(bytes(8000));
  ring.consume(7000);
  ring.append(bytes(5000, 8000)); // wraps
  const out = new Uint8Array(6000);
  ring.peek(0, out);
  assert.deepEqual(out, bytes(6000, 7000));
  const mid = new Uint8Array(100);
  ring.peek(900, mid);
  assert.deepEqual(mid, bytes(100, 7900));
  assert.throws(() => ring.peek(5990, new Uint8Array(20)), RangeError);
});

Deno.test("byte ring: written-ahead bytes keep their place through growth, wrap and consume", () => {
  const ring = new ByteRing(100_000);
  ring.append(bytes(3000));
  ring.consume(2500); // head moves; 500 committed
  ring.writeAt(10_000, bytes(1000, 13_000)); // ahead: forces growth past the old allocation
  ring.writeAt(0, bytes(10_000, 3000)); // fills the hole
  ring.commit(11_000);
  const out = new Uint8Array(11_500);
  assert.equal(ring.read(out), 11_500);
  assert.deepEqual(out, bytes(11_500, 2500));
  // A reader draining everything must not lose bytes written ahead of it.
  ring.writeAt(100, bytes(10, 99));
  ring.append(bytes(50));
  ring.read(new Uint8Array(50));
  ring.writeAt(0, bytes(50, 200));
  ring.commit(60);
  const tail = new Uint8Array(60);
  ring.read(tail);
  assert.deepEqual(tail.subarray(50), bytes(10, 99));
});

Deno.test("byte ring: never writes past its capacity", () => {
  const ring = new ByteRing(1000);
  ring.append(bytes(900));
  assert.throws(() => ring.writeAt(50, bytes(51)), RangeError);
  ring.writeAt(50, bytes(50));
  assert.throws(() => ring.commit(101), RangeError);
  assert.throws(() => ring.consume(901), RangeError);
});

Deno.test("byte ring: release frees an empty ring", () => {
  const ring = new ByteRing(1 << 20);
  ring.append(bytes(100_000));
  assert.ok(ring.allocated >= 100_000);
  ring.release();
  assert.ok(ring.allocated >= 100_000, "not while bytes are held");
  ring.consume(100_000);
  ring.release();
  assert.equal(ring.allocated, 0);
});

Deno.test("byte ring: release keeps an empty allocation no larger than asked, frees a larger one", () => {
  const ring = new ByteRing(1 << 20);
  ring.append(bytes(1000));
  ring.consume(1000);
  ring.release(16 * 1024);
  assert.equal(ring.allocated, 4096, "a small drained buffer stays for the next data");
  ring.append(bytes(100));
  const out = new Uint8Array(100);
  assert.equal(ring.read(out), 100);
  assert.deepEqual(out, bytes(100), "bytes after a kept release come out in order");
  ring.append(bytes(100_000));
  ring.consume(100_000);
  ring.release(16 * 1024);
  assert.equal(ring.allocated, 0, "a large drained buffer is freed");
});
