/**
 * AddrPort's cookie-binding bytes: the address then the big-endian port,
 * built once per AddrPort (a stream of datagrams from one sender reuses it).
 */
import assert from "node:assert/strict";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import { datagramSourceBytes } from "../../../../network/magicsock/magic_sock.ts";

Deno.test("addr port: bytes are the address then the big-endian port, made once", () => {
  const v4 = AddrPort.parse("192.0.2.7:41641");
  assert.deepEqual([...v4.bytes], [192, 0, 2, 7, 0xa2, 0xa9]);
  assert.equal(v4.bytes, v4.bytes, "the same array each time");
  const v6 = AddrPort.parse("[2001:db8::1]:65535");
  assert.equal(v6.bytes.length, 18);
  assert.deepEqual([...v6.bytes.subarray(16)], [0xff, 0xff]);
  assert.deepEqual(v6.bytes.subarray(0, 16), v6.ip);
  assert.equal(datagramSourceBytes({ via: "udp", addr: v4 }), v4.bytes);
});
