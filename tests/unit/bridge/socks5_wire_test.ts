/**
 * SOCKS5 (RFC 1928) greeting, request and reply bytes: incremental parsing
 * (null until complete, at every prefix), the three address types, and the
 * bytes no client may send.
 */
import assert from "node:assert/strict";
import {
  emitSocks5MethodChoice,
  emitSocks5Reply,
  parseSocks5Greeting,
  parseSocks5Request,
  Socks5Error,
  Socks5Reply,
} from "../../../bridge/socks5_wire.ts";

const CONNECT_NAME = Uint8Array.of(
  5,
  1,
  0,
  3,
  7,
  ...new TextEncoder().encode("db-host"),
  0x15,
  0x38,
);
const CONNECT_V4 = Uint8Array.of(5, 1, 0, 1, 100, 64, 0, 7, 0, 80);
const CONNECT_V6 = Uint8Array.of(
  5,
  1,
  0,
  4,
  0xfd,
  0x7a,
  0x11,
  0x5c,
  0xa1,
  0xe0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  7,
  1,
  187,
);

Deno.test("socks5: the greeting, at every prefix", () => {
  const greeting = Uint8Array.of(5, 2, 0, 2);
  for (let i = 0; i < greeting.length; i++) {
    assert.equal(parseSocks5Greeting(greeting.subarray(0, i)), null);
  }
  assert.deepEqual(parseSocks5Greeting(greeting), { methods: [0, 2], length: 4 });
  assert.throws(() => parseSocks5Greeting(Uint8Array.of(4, 1, 0)), Socks5Error);
  assert.throws(() => parseSocks5Greeting(Uint8Array.of(5, 0)), Socks5Error);
  assert.deepEqual([...emitSocks5MethodChoice(0)], [5, 0]);
});

Deno.test("socks5: CONNECT requests by name, IPv4 and IPv6, at every prefix", () => {
  for (
    const [bytes, host, port] of [
      [CONNECT_NAME, "db-host", 5432],
      [CONNECT_V4, "100.64.0.7", 80],
      [CONNECT_V6, "fd7a:115c:a1e0:0:0:0:0:7", 443],
    ] as const
  ) {
    for (let i = 0; i < bytes.length; i++) {
      assert.equal(parseSocks5Request(bytes.subarray(0, i)), null, `prefix ${i} of ${host}`);
    }
    const request = parseSocks5Request(bytes)!;
    assert.equal(request.host, host);
    assert.equal(request.port, port);
    assert.equal(request.command, 1);
    assert.equal(request.length, bytes.length);
  }
});

Deno.test("socks5: what no client sends is refused, with the reply that fits", () => {
  const badType = Uint8Array.of(5, 1, 0, 9, 0, 0);
  assert.throws(() => parseSocks5Request(badType), (e: Socks5Error) => e.reply === 8);
  assert.throws(
    () => parseSocks5Request(Uint8Array.of(5, 1, 1, 1, 1, 2, 3, 4, 0, 80)),
    Socks5Error,
  );
  assert.throws(() => parseSocks5Request(Uint8Array.of(5, 1, 0, 3, 0, 0, 80)), Socks5Error);
  const control = Uint8Array.of(5, 1, 0, 3, 2, 0x61, 0x0a, 0, 80);
  assert.throws(() => parseSocks5Request(control), (e: Socks5Error) => e.reply === 4);
});

Deno.test("socks5: replies carry the code and a zero bound address", () => {
  assert.deepEqual([...emitSocks5Reply(Socks5Reply.ConnectionRefused)], [
    5,
    5,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
});
