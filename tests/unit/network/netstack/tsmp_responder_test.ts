import assert from "node:assert/strict";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { internetChecksum } from "../../../../network/netstack/wire/checksum.ts";
import { isTSMPPacket, tsmpPong } from "../../../../network/netstack/tsmp_responder.ts";
import { IPProtocol } from "../../../../network/netaddr/ip_protocol.ts";
import { TSMPType } from "../../../../network/netstack/wire/tsmp.ts";

const US4 = parseIPAddress("100.64.0.1")!;
const THEM4 = parseIPAddress("100.64.0.2")!;
const US6 = parseIPAddress("fd7a:115c:a1e0::1")!;
const THEM6 = parseIPAddress("fd7a:115c:a1e0::2")!;
const DATA = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);

function ping4(dst = US4, type = 0x70): Uint8Array {
  const p = new Uint8Array(29);
  p[0] = 0x45;
  p[3] = 29;
  p[4] = 0x12;
  p[5] = 0x34;
  p[8] = 64;
  p[9] = IPProtocol.TSMP;
  p.set(THEM4, 12);
  p.set(dst, 16);
  p[20] = type;
  p.set(DATA, 21);
  const check = internetChecksum(p.subarray(0, 20));
  p[10] = check >> 8;
  p[11] = check & 0xff;
  return p;
}

function ping6(): Uint8Array {
  const p = new Uint8Array(49);
  p[0] = 0x60;
  p[1] = 0x0a;
  p[2] = 0xbc;
  p[3] = 0xde;
  p[5] = 9;
  p[6] = IPProtocol.TSMP;
  p[7] = 64;
  p.set(THEM6, 8);
  p.set(US6, 24);
  p[40] = 0x70;
  p.set(DATA, 41);
  return p;
}

Deno.test("tsmpPong: an IPv4 Ping to us gets the Pong tailscaled would write", () => {
  const pong = tsmpPong(ping4(), [US4], 0x1234)!;
  assert.equal(pong.length, 31);
  assert.equal(internetChecksum(pong.subarray(0, 20)), 0, "header checksum");
  assert.deepEqual([pong[4], pong[5]], [0xed, 0xcb], "ID complemented");
  assert.equal(pong[8], 64);
  assert.equal(pong[9], IPProtocol.TSMP);
  assert.deepEqual(pong.subarray(12, 16), US4);
  assert.deepEqual(pong.subarray(16, 20), THEM4);
  assert.equal(pong[20], TSMPType.Pong);
  assert.deepEqual(pong.subarray(21, 29), DATA);
  assert.deepEqual([pong[29], pong[30]], [0x12, 0x34], "peerAPI port");
  assert.ok(isTSMPPacket(pong));
});

Deno.test("tsmpPong: an IPv6 Ping gets a Pong with the flow label complemented", () => {
  const pong = tsmpPong(ping6(), [US6])!;
  assert.equal(pong.length, 51);
  assert.deepEqual([pong[1], pong[2], pong[3]], [0x05, 0x43, 0x21]);
  assert.equal(pong[5], 11);
  assert.equal(pong[6], IPProtocol.TSMP);
  assert.deepEqual(pong.subarray(8, 24), US6);
  assert.deepEqual(pong.subarray(24, 40), THEM6);
  assert.equal(pong[40], TSMPType.Pong);
  assert.deepEqual(pong.subarray(41, 49), DATA);
});

Deno.test("tsmpPong: not to us, not a Ping, short, or not TSMP: no Pong", () => {
  assert.equal(tsmpPong(ping4(THEM4), [US4]), undefined);
  assert.equal(tsmpPong(ping4(US4, 0x61), [US4]), undefined, "a disco-key advert");
  assert.equal(tsmpPong(ping4().subarray(0, 28), [US4]), undefined, "truncated");
  const icmp = ping4();
  icmp[9] = 1;
  assert.ok(!isTSMPPacket(icmp));
  assert.equal(tsmpPong(icmp, [US4]), undefined);
});
