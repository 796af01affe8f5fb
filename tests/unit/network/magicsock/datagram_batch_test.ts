/**
 * The batch format between the main thread and the UDP worker: entries
 * round-trip with their address, port and bytes; a batch that does not
 * decode whole stops at the first bad entry instead of throwing.
 */
import assert from "node:assert/strict";
import {
  AddrPortCache,
  entrySize,
  MAX_DATAGRAM,
  MAX_ENTRY_OVERHEAD,
  readEntries,
  writeEntry,
} from "../../../../network/magicsock/datagram_batch.ts";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";

const V4 = AddrPort.parse("127.0.0.1:41641");
const V6 = AddrPort.parse("[2001:db8::7]:65535");

function decode(batch: Uint8Array, length = batch.length) {
  const entries: { key: string; payload: number[] }[] = [];
  const read = readEntries(batch, length, (ip, port, payload) => {
    entries.push({ key: new AddrPort(ip, port).key, payload: [...payload] });
  });
  return { read, entries };
}

Deno.test("datagram batch: IPv4 and IPv6 entries, empty and largest payloads, round-trip", () => {
  const largest = new Uint8Array(MAX_DATAGRAM).map((_, i) => i & 0xff);
  const items: [AddrPort, Uint8Array][] = [
    [V4, new Uint8Array([1, 2, 3])],
    [V6, new Uint8Array(0)],
    [V4, largest],
    [V6, new Uint8Array([9])],
  ];
  const size = items.reduce((n, [to, p]) => n + entrySize(to.ip.length, p.length), 0);
  const batch = new Uint8Array(size);
  let offset = 0;
  for (const [to, payload] of items) offset = writeEntry(batch, offset, to.ip, to.port, payload);
  assert.equal(offset, size, "entrySize is what writeEntry takes");
  const { read, entries } = decode(batch);
  assert.equal(read, size, "the whole batch decodes");
  assert.deepEqual(entries.map((e) => e.key), items.map(([to]) => to.key));
  for (let i = 0; i < items.length; i++) {
    assert.ok(entries[i].payload.length === items[i][1].length, `entry ${i}'s length`);
    assert.ok(entries[i].payload.every((b, j) => b === items[i][1][j]), `entry ${i}'s bytes`);
  }
  assert.ok(MAX_ENTRY_OVERHEAD >= entrySize(16, 0), "the overhead bound covers IPv6");
});

Deno.test("datagram batch: a truncated or malformed entry stops decoding at its start", () => {
  const batch = new Uint8Array(entrySize(4, 10) * 2);
  const second = writeEntry(batch, 0, V4.ip, V4.port, new Uint8Array(10).fill(1));
  writeEntry(batch, second, V4.ip, V4.port, new Uint8Array(10).fill(2));
  for (let cut = second; cut < batch.length; cut++) {
    const { read, entries } = decode(batch, cut);
    assert.equal(read, second, `cut at ${cut}: stops after the first entry`);
    assert.equal(entries.length, 1);
  }
  const bad = batch.slice();
  bad[second + 2] = 5; // an address length other than 4 or 16
  assert.equal(decode(bad).read, second);
  const long = batch.slice();
  long[second] = 0xff; // a payload length past the end
  assert.equal(decode(long).read, second);
  assert.equal(
    decode(batch, batch.length + 100).read,
    batch.length,
    "length is capped to the buffer",
  );
});

Deno.test("datagram batch: writing refuses a payload too large, a bad address, or no room", () => {
  assert.throws(
    () => writeEntry(new Uint8Array(70_000), 0, V4.ip, 1, new Uint8Array(MAX_DATAGRAM + 1)),
    RangeError,
  );
  assert.throws(
    () => writeEntry(new Uint8Array(100), 0, new Uint8Array(5), 1, new Uint8Array(1)),
    RangeError,
  );
  assert.throws(
    () => writeEntry(new Uint8Array(entrySize(4, 10) - 1), 0, V4.ip, 1, new Uint8Array(10)),
    RangeError,
  );
});

Deno.test("datagram batch: the address cache gives the same AddrPort for the same sender", () => {
  const cache = new AddrPortCache();
  const a = cache.get(V4.ip, V4.port);
  assert.equal(a.key, V4.key);
  assert.equal(cache.get(V4.ip.slice(), V4.port), a, "same bytes, same object");
  assert.notEqual(cache.get(V4.ip, V4.port + 1).key, a.key, "another port, another address");
  const scratch = V6.ip.slice();
  const b = cache.get(scratch, V6.port);
  scratch.fill(0);
  assert.equal(b.key, V6.key, "the AddrPort keeps its own copy of the bytes");
});
