/**
 * The echo requests the data plane answers (moved here with the answering,
 * from magicsock's own copy): replies to us, valid checksums, and nothing
 * for others' addresses, replies, corruption, fragments or truncation.
 */
import assert from "node:assert/strict";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { buildEchoReply } from "../../../../network/netstack/echo_responder.ts";

const US4 = parseIPAddress("100.64.0.1")!;
const THEM4 = parseIPAddress("100.64.0.2")!;
const US6 = parseIPAddress("fd7a:115c:a1e0::1")!;
const THEM6 = parseIPAddress("fd7a:115c:a1e0::2")!;

function sum(data: Uint8Array, initial = 0): number {
  let s = initial;
  for (let i = 0; i < data.length; i += 2) s += (data[i] << 8) | (data[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function put16(b: Uint8Array, at: number, v: number) {
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
}

function echo4(src: Uint8Array, dst: Uint8Array, data = [1, 2, 3, 4, 5]): Uint8Array {
  const p = new Uint8Array(28 + data.length);
  p[0] = 0x45;
  put16(p, 2, p.length);
  p[8] = 64;
  p[9] = 1;
  p.set(src, 12);
  p.set(dst, 16);
  put16(p, 10, ~sum(p.subarray(0, 20)) & 0xffff);
  p[20] = 8;
  put16(p, 24, 0xbeef);
  put16(p, 26, 7);
  p.set(data, 28);
  put16(p, 22, ~sum(p.subarray(20)) & 0xffff);
  return p;
}

function pseudo6(src: Uint8Array, dst: Uint8Array, length: number): number {
  return sum(Uint8Array.of(0, 0, length >> 8, length & 0xff, 0, 0, 0, 58), sum(dst, sum(src)));
}

function echo6(src: Uint8Array, dst: Uint8Array): Uint8Array {
  const p = new Uint8Array(40 + 8 + 3);
  p[0] = 0x60;
  put16(p, 4, 11);
  p[6] = 58;
  p[7] = 64;
  p.set(src, 8);
  p.set(dst, 24);
  p[40] = 128;
  put16(p, 44, 1);
  put16(p, 46, 2);
  p.set([9, 8, 7], 48);
  put16(p, 42, ~sum(p.subarray(40), pseudo6(src, dst, 11)) & 0xffff);
  return p;
}

Deno.test("buildEchoReply (data-plane cases): an IPv4 echo request to us gets a valid reply, swapped addresses", () => {
  const reply = buildEchoReply(echo4(THEM4, US4), [US4])!;
  assert.ok(reply);
  assert.equal(reply.length, 33);
  assert.deepEqual(reply.subarray(12, 16), US4);
  assert.deepEqual(reply.subarray(16, 20), THEM4);
  assert.equal(sum(reply.subarray(0, 20)), 0xffff, "IPv4 header checksum");
  assert.equal(reply[20], 0, "echo reply");
  assert.equal(sum(reply.subarray(20)), 0xffff, "ICMP checksum");
  assert.deepEqual(reply.subarray(24), echo4(THEM4, US4).subarray(24), "id, seq and data kept");
});

Deno.test("buildEchoReply (data-plane cases): an odd-length IPv4 payload checksums right", () => {
  const reply = buildEchoReply(echo4(THEM4, US4, [1, 2, 3]), [US4])!;
  assert.equal(sum(reply.subarray(20)), 0xffff);
});

Deno.test("buildEchoReply (data-plane cases): an IPv6 echo request to us gets a valid reply", () => {
  const reply = buildEchoReply(echo6(THEM6, US6), [US4, US6])!;
  assert.ok(reply);
  assert.deepEqual(reply.subarray(8, 24), US6);
  assert.deepEqual(reply.subarray(24, 40), THEM6);
  assert.equal(reply[40], 129);
  assert.equal(sum(reply.subarray(40), pseudo6(US6, THEM6, 11)), 0xffff);
});

Deno.test("buildEchoReply (data-plane cases): not to us, not a request, or corrupted: no reply", () => {
  assert.equal(buildEchoReply(echo4(US4, THEM4), [US4]), null, "not our address");
  const reply = buildEchoReply(echo4(THEM4, US4), [US4])!;
  assert.equal(buildEchoReply(reply, [US4, THEM4]), null, "a reply is not answered");
  const corrupt = echo4(THEM4, US4);
  corrupt[30] ^= 1;
  assert.equal(buildEchoReply(corrupt, [US4]), null, "bad ICMP checksum");
  const fragment = echo4(THEM4, US4);
  fragment[6] = 0x20; // MF
  assert.equal(buildEchoReply(fragment, [US4]), null, "fragment");
  assert.equal(buildEchoReply(echo4(THEM4, US4).subarray(0, 27), [US4]), null, "truncated");
  const bad6 = echo6(THEM6, US6);
  bad6[49] ^= 1;
  assert.equal(buildEchoReply(bad6, [US6]), null, "bad ICMPv6 checksum");
  assert.equal(buildEchoReply(new Uint8Array(0), [US4]), null, "empty");
});
