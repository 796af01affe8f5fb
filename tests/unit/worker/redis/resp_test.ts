import assert from "node:assert/strict";
import {
  encodeCommand,
  encodeReply,
  RespErrorReply,
  RespOversized,
  RespParser,
  RespProtocolError,
  type RespValue,
} from "../../../../worker/redis/resp.ts";

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);

Deno.test("encodeCommand: known answer from the protocol spec", () => {
  assert.equal(
    new TextDecoder().decode(encodeCommand(["LLEN", "mylist"])),
    "*2\r\n$4\r\nLLEN\r\n$6\r\nmylist\r\n",
  );
  assert.deepEqual(
    encodeCommand(["SET", "k", 42, new Uint8Array([0, 0xff])]),
    new Uint8Array([...bytes("*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n42\r\n$2\r\n"), 0, 0xff, 13, 10]),
  );
  // Multi-byte UTF-8: the length is in bytes, not characters.
  assert.deepEqual(encodeCommand(["é"]), bytes("*1\r\n$2\r\né\r\n"));
});

Deno.test("parser: every RESP2 type, known answers", () => {
  const parser = new RespParser();
  const out = parser.feed(
    bytes("+OK\r\n-ERR bad thing\r\n:-42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n*0\r\n"),
  );
  assert.equal(out.length, 7);
  assert.equal(out[0], "OK");
  assert.ok(out[1] instanceof RespErrorReply);
  assert.equal((out[1] as RespErrorReply).code, "ERR");
  assert.equal((out[1] as RespErrorReply).message, "ERR bad thing");
  assert.equal(out[2], -42);
  assert.deepEqual(out[3], bytes("hello"));
  assert.equal(out[4], null);
  assert.equal(out[5], null);
  assert.deepEqual(out[6], []);
});

Deno.test("parser: nested arrays, fed one byte at a time", () => {
  const wire = bytes("*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n");
  const parser = new RespParser();
  const out: RespValue[] = [];
  for (let i = 0; i < wire.length; i++) out.push(...parser.feed(wire.subarray(i, i + 1)));
  assert.equal(out.length, 1);
  const [first, second] = out[0] as RespValue[][];
  assert.deepEqual(first, [1, 2, 3]);
  assert.equal(second[0], "Hello");
  assert.equal((second[1] as RespErrorReply).message, "World");
  assert.equal(parser.bufferedBytes, 0);
});

Deno.test("parser: round trip of random values, split at random points", () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const gen = (depth: number): RespValue => {
    switch (rand(depth > 3 ? 5 : 6)) {
      case 0:
        return "simple " + rand(1000);
      case 1:
        return rand(2) ? rand(1 << 30) : -rand(1 << 30);
      case 2: {
        const b = new Uint8Array(rand(300));
        for (let i = 0; i < b.length; i++) b[i] = rand(256); // CR/LF bytes included
        return b;
      }
      case 3:
        return null;
      case 4:
        return new RespErrorReply("ERR number " + rand(100));
      default: {
        const a: RespValue[] = [];
        const n = rand(6);
        for (let i = 0; i < n; i++) a.push(gen(depth + 1));
        return a;
      }
    }
  };
  for (let round = 0; round < 200; round++) {
    const values = Array.from({ length: 1 + rand(5) }, () => gen(0));
    const wire = concat(values.map(encodeReply));
    const parser = new RespParser();
    const out: RespValue[] = [];
    let at = 0;
    while (at < wire.length) {
      const step = 1 + rand(40);
      out.push(...parser.feed(wire.slice(at, at + step)));
      at += step;
    }
    assert.deepEqual(out, values);
  }
});

Deno.test("parser: a bulk string over the limit becomes a marker and the stream stays usable", () => {
  const parser = new RespParser({ maxBulkBytes: 10 });
  const big = "x".repeat(1000);
  const wire = bytes(`*3\r\n$2\r\nid\r\n$1000\r\n${big}\r\n$2\r\nok\r\n+NEXT\r\n`);
  const out: RespValue[] = [];
  for (let i = 0; i < wire.length; i += 7) out.push(...parser.feed(wire.slice(i, i + 7)));
  assert.equal(out.length, 2);
  const arr = out[0] as RespValue[];
  assert.deepEqual(arr[0], bytes("id"));
  assert.ok(arr[1] instanceof RespOversized);
  assert.equal((arr[1] as RespOversized).length, 1000);
  assert.deepEqual(arr[2], bytes("ok"));
  assert.equal(out[1], "NEXT");
});

Deno.test("parser: hostile lengths never size an allocation", () => {
  // A 2 GB bulk announced but never sent: nothing is allocated for it.
  const parser = new RespParser();
  assert.deepEqual(parser.feed(bytes("$2000000000\r\nabc")), []);
  // A huge array length is refused before anything is allocated.
  assert.throws(() => new RespParser().feed(bytes("*2000000000\r\n")), RespProtocolError);
  assert.throws(
    () => new RespParser({ maxArrayLength: 3 }).feed(bytes("*4\r\n")),
    RespProtocolError,
  );
  // Lengths beyond a safe integer, and malformed numbers.
  for (const bad of ["$99999999999999999999\r\n", ":12a\r\n", "$-2\r\n", ":\r\n", "*-5\r\n"]) {
    assert.throws(() => new RespParser().feed(bytes(bad)), RespProtocolError, bad);
  }
});

Deno.test("parser: deep nesting, long lines, unknown types and bad terminators are refused", () => {
  assert.throws(
    () => new RespParser({ maxDepth: 3 }).feed(bytes("*1\r\n*1\r\n*1\r\n*1\r\n")),
    RespProtocolError,
  );
  assert.throws(
    () => new RespParser({ maxLineBytes: 8 }).feed(bytes("+" + "a".repeat(20))),
    RespProtocolError,
  );
  assert.throws(
    () => new RespParser({ maxLineBytes: 8 }).feed(bytes("+" + "a".repeat(20) + "\r\n")),
    RespProtocolError,
  );
  assert.throws(() => new RespParser().feed(bytes("%1\r\n")), RespProtocolError); // RESP3 map
  assert.throws(() => new RespParser().feed(bytes("$3\r\nabcXY")), RespProtocolError);
  assert.throws(() => new RespParser().feed(bytes("+a\rb\r\n")), RespProtocolError);
  // After a protocol error, the parser stays failed.
  const parser = new RespParser();
  assert.throws(() => parser.feed(bytes("?\r\n")), RespProtocolError);
  assert.throws(() => parser.feed(bytes("+OK\r\n")), RespProtocolError);
});

Deno.test("parser: random garbage either parses or throws RespProtocolError, never anything else", () => {
  let seed = 99;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = bytes("+-:$*\r\n0123456789-abc");
  for (let round = 0; round < 2000; round++) {
    const junk = new Uint8Array(1 + rand(64));
    for (let i = 0; i < junk.length; i++) {
      junk[i] = rand(4) === 0 ? rand(256) : alphabet[rand(alphabet.length)];
    }
    try {
      new RespParser({ maxBulkBytes: 64, maxArrayLength: 64 }).feed(junk);
    } catch (e) {
      assert.ok(e instanceof RespProtocolError, String(e));
    }
  }
});

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
