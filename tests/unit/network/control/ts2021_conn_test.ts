import assert from "node:assert/strict";
import { once } from "node:events";
import {
  NoiseConn,
  NoiseDecryptError,
  NoiseFrameReader,
  NoiseFrameWriter,
  NonceExhaustedError,
} from "../../../../network/control/ts2021_conn.ts";
import { NoiseProtocolError } from "../../../../network/control/ts2021_messages.ts";
import { chachaOpen } from "../../../../network/crypto/chacha20poly1305.ts";
import { countingBytes } from "../crypto/hex.ts";
import { MemoryStream } from "./memory_stream.ts";
import { sealRecord, transportNonce } from "./ts2021_responder.ts";

const KEY_A = countingBytes(32, 1);
const KEY_B = countingBytes(32, 101);
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Splits a buffer of back-to-back records into records. */
function splitRecords(wire: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let pos = 0; pos < wire.length;) {
    const total = 3 + ((wire[pos + 1] << 8) | wire[pos + 2]);
    out.push(wire.subarray(pos, pos + total));
    pos += total;
  }
  return out;
}

function collect(reader: NoiseFrameReader, chunks: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const chunk of chunks) reader.push(chunk, (p) => out.push(p.slice()));
  return out;
}

Deno.test("ts2021_conn: writes split at 4077 plaintext bytes, frames at most 4096", () => {
  const writer = new NoiseFrameWriter(KEY_A);
  const records = splitRecords(writer.seal(countingBytes(4077 * 2 + 1)));
  assert.deepEqual(records.map((r) => r.length), [4096, 4096, 3 + 1 + 16]);
  for (const r of records) assert.equal(r[0], 4);
  const empty = splitRecords(writer.seal(new Uint8Array(0)));
  assert.deepEqual(empty.map((r) => r.length), [19]);
});

Deno.test("ts2021_conn: nonces are 4 zero bytes + u64 big-endian counter (§5)", () => {
  const writer = new NoiseFrameWriter(KEY_A);
  for (let i = 0n; i < 300n; i++) {
    const plaintext = enc.encode(`message ${i}`);
    const record = writer.seal(plaintext);
    assert.deepEqual(record, sealRecord(KEY_A, i, plaintext), `counter ${i}`);
    // A little-endian nonce (the Noise spec's) would not open it past counter 0.
    if (i > 0n) {
      const le = new Uint8Array(12);
      new DataView(le.buffer).setBigUint64(4, i, true);
      assert.equal(chachaOpen(KEY_A, le, record.subarray(3)), null);
    }
  }
  assert.equal(
    Array.from(transportNonce(0x0102n)).join(","),
    "0,0,0,0,0,0,0,0,0,0,1,2",
  );
});

Deno.test("ts2021_conn: reader reassembles records from any chunking", () => {
  const messages = [enc.encode("a"), countingBytes(4077), enc.encode(""), countingBytes(100, 9)];
  const wire: number[] = [];
  messages.forEach((m, i) => wire.push(...sealRecord(KEY_B, BigInt(i), m)));
  const bytes = Uint8Array.from(wire);
  const expected = messages.filter((m) => m.length > 0);
  for (const size of [1, 2, 3, 4, 7, 19, 4096, 5000, bytes.length]) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
    assert.deepEqual(collect(new NoiseFrameReader(KEY_B), chunks), expected, `chunk size ${size}`);
  }
});

Deno.test("ts2021_conn: zero-length records are skipped but use a nonce", () => {
  const wire = [
    sealRecord(KEY_B, 0n, new Uint8Array(0)),
    sealRecord(KEY_B, 1n, new Uint8Array(0)),
    sealRecord(KEY_B, 2n, enc.encode("x")),
  ];
  const out = collect(new NoiseFrameReader(KEY_B), wire);
  assert.deepEqual(out.map((p) => dec.decode(p)), ["x"]);
});

Deno.test("ts2021_conn: the first bad record poisons the reader", () => {
  const reader = new NoiseFrameReader(KEY_B);
  const good = sealRecord(KEY_B, 0n, enc.encode("ok"));
  const bad = sealRecord(KEY_B, 1n, enc.encode("tampered"));
  bad[5] ^= 1;
  assert.deepEqual(collect(reader, [good]).map((p) => dec.decode(p)), ["ok"]);
  assert.throws(() => collect(reader, [bad]), NoiseDecryptError);
  // Even a record that would be valid now fails: the reader is dead.
  assert.throws(() => collect(reader, [sealRecord(KEY_B, 1n, enc.encode("x"))]), NoiseDecryptError);
});

Deno.test("ts2021_conn: wrong type, oversize frame and too-short ciphertext are fatal", () => {
  const record = sealRecord(KEY_B, 0n, enc.encode("x"));
  const wrongType = record.slice();
  wrongType[0] = 2;
  assert.throws(() => collect(new NoiseFrameReader(KEY_B), [wrongType]), NoiseProtocolError);
  // Header claims 4094 bytes of ciphertext: 4097 on the wire. Rejected from the header alone.
  assert.throws(
    () => collect(new NoiseFrameReader(KEY_B), [Uint8Array.of(4, 0x0f, 0xfe)]),
    NoiseProtocolError,
  );
  assert.throws(
    () => collect(new NoiseFrameReader(KEY_B), [Uint8Array.of(4, 0, 3, 1, 2, 3)]),
    NoiseDecryptError,
  );
});

Deno.test("ts2021_conn: nonce 2^64-1 is never used (exhaustion)", () => {
  const max = (1n << 64n) - 1n;
  const writer = new NoiseFrameWriter(KEY_A, max - 1n);
  const last = writer.seal(enc.encode("last"));
  assert.deepEqual(last, sealRecord(KEY_A, max - 1n, enc.encode("last")));
  assert.throws(() => writer.seal(enc.encode("more")), NonceExhaustedError);
  assert.throws(() => writer.seal(enc.encode("more")), NonceExhaustedError);

  const reader = new NoiseFrameReader(KEY_A, max - 1n);
  assert.equal(collect(reader, [last]).length, 1);
  assert.throws(
    () => collect(reader, [sealRecord(KEY_A, max, enc.encode("x"))]),
    NonceExhaustedError,
  );

  // The 32-bit halves carry correctly.
  const carry = new NoiseFrameWriter(KEY_A, 0xffff_ffffn);
  carry.seal(new Uint8Array(0));
  assert.deepEqual(carry.seal(enc.encode("c")), sealRecord(KEY_A, 0x1_0000_0000n, enc.encode("c")));
});

Deno.test("ts2021_conn: NoiseConn duplex carries bytes both ways with initial bytes and a filter", async () => {
  const [clientEnd, serverEnd] = MemoryStream.pair();
  clientEnd.maxReadChunk = 1000;
  const first = sealRecord(KEY_B, 0n, enc.encode("HEAD"));
  const conn = new NoiseConn(clientEnd, { sendKey: KEY_A, receiveKey: KEY_B }, {
    initialBytes: first.subarray(0, 10),
    readFilter: (p) => (dec.decode(p) === "drop" ? null : p),
  });
  serverEnd.write(first.subarray(10));
  serverEnd.write(sealRecord(KEY_B, 1n, enc.encode("drop")));
  const big = countingBytes(20000, 3);
  const bigWire: number[] = [];
  let counter = 2n;
  for (let i = 0; i < big.length; i += 4077) {
    bigWire.push(...sealRecord(KEY_B, counter++, big.subarray(i, i + 4077)));
  }
  serverEnd.write(Uint8Array.from(bigWire));

  const received: number[] = [];
  conn.on("data", (chunk: Uint8Array) => received.push(...chunk));
  const want = 4 + big.length;
  while (received.length < want) await new Promise((r) => setTimeout(r, 5));
  assert.equal(dec.decode(Uint8Array.from(received.slice(0, 4))), "HEAD");
  assert.deepEqual(Uint8Array.from(received.slice(4)), big);

  // Writes are sealed with the send key, in order.
  await new Promise<void>((resolve, reject) =>
    conn.write(countingBytes(5000), (err) => (err ? reject(err) : resolve()))
  );
  const reader = new NoiseFrameReader(KEY_A);
  const opened = collect(reader, clientEnd.written);
  assert.deepEqual(opened.map((p) => p.length), [4077, 923]);

  conn.destroy();
  await once(conn, "close");
  assert.equal(clientEnd.closed, true);
});

Deno.test("ts2021_conn: NoiseConn reports a bad record and EOF inside a frame as errors", async () => {
  {
    const [clientEnd, serverEnd] = MemoryStream.pair();
    const conn = new NoiseConn(clientEnd, { sendKey: KEY_A, receiveKey: KEY_B });
    conn.resume();
    const bad = sealRecord(KEY_B, 0n, enc.encode("x"));
    bad[4] ^= 1;
    serverEnd.write(bad);
    const [err] = await once(conn, "error");
    assert.ok(err instanceof NoiseDecryptError);
    assert.equal(clientEnd.closed, true);
  }
  {
    const [clientEnd, serverEnd] = MemoryStream.pair();
    const conn = new NoiseConn(clientEnd, { sendKey: KEY_A, receiveKey: KEY_B });
    conn.resume();
    serverEnd.write(sealRecord(KEY_B, 0n, enc.encode("partial")).subarray(0, 8));
    serverEnd.close();
    const [err] = await once(conn, "error");
    assert.ok(err instanceof NoiseProtocolError);
  }
  {
    const [clientEnd, serverEnd] = MemoryStream.pair();
    const conn = new NoiseConn(clientEnd, { sendKey: KEY_A, receiveKey: KEY_B });
    conn.resume();
    serverEnd.close();
    await once(conn, "end");
    conn.destroy();
  }
});

Deno.test("ts2021_conn: back-pressure pauses reading from the stream", async () => {
  const [clientEnd, serverEnd] = MemoryStream.pair();
  const conn = new NoiseConn(clientEnd, { sendKey: KEY_A, receiveKey: KEY_B });
  const records: number[] = [];
  for (let i = 0; i < 64; i++) records.push(...sealRecord(KEY_B, BigInt(i), countingBytes(4077)));
  serverEnd.write(Uint8Array.from(records));
  conn.read(0); // start reading
  await new Promise((r) => setTimeout(r, 20));
  // The readable side holds at most about one highWaterMark plus one read buffer.
  assert.ok(conn.readableLength < 64 * 4077, `buffered ${conn.readableLength}`);
  let total = 0;
  conn.on("data", (chunk: Uint8Array) => (total += chunk.length));
  while (total < 64 * 4077) await new Promise((r) => setTimeout(r, 5));
  assert.equal(total, 64 * 4077);
  conn.destroy();
});
