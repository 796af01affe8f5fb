/** The stack's small parts: rate limiter, ephemeral ports, flow keys, ICMP errors. */
import assert from "node:assert/strict";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { IPProtocol } from "../../../../network/netaddr/ip_protocol.ts";
import { flowKey } from "../../../../network/netstack/flow_key.ts";
import {
  buildPortUnreachable,
  parseTcpIcmpError,
} from "../../../../network/netstack/icmp_errors.ts";
import {
  allocateIPPacket,
  buildTcpPacket,
  buildUdpPacket,
} from "../../../../network/netstack/ip_output.ts";
import { PortAllocator } from "../../../../network/netstack/port_allocator.ts";
import { RateLimiter } from "../../../../network/netstack/rate_limiter.ts";
import {
  emitICMPv4DestinationUnreachable,
  parseICMPv4Message,
} from "../../../../network/netstack/wire/icmpv4.ts";
import { parseIPPacket } from "../../../../network/netstack/wire/ip_packet.ts";
import { TCPFlags } from "../../../../network/netstack/wire/tcp.ts";
import { SeededPrng } from "./link_simulator.ts";
import { prngRandom } from "./stack_pair.ts";

const A = parseIPAddress("10.0.0.1")!, B = parseIPAddress("10.0.0.2")!;

Deno.test("rate limiter: a burst, then the average rate", () => {
  const r = new RateLimiter(10, 3);
  assert.deepEqual([r.allow(0), r.allow(0), r.allow(0), r.allow(0)], [true, true, true, false]);
  assert.equal(r.allow(50), false, "half a token");
  assert.equal(r.allow(100), true);
  assert.equal(r.allow(10_000), true);
  assert.deepEqual([r.allow(10_000), r.allow(10_000), r.allow(10_000)], [true, true, false]);
});

Deno.test("port allocator: random starting points in the range, skipping ports in use", () => {
  const ports = new PortAllocator(prngRandom(new SeededPrng(5)), 50_000, 50_009);
  const seen = new Set<number>();
  for (let i = 0; i < 50; i++) seen.add(ports.allocate(() => false)!);
  assert.ok(seen.size > 5, "not one fixed port");
  for (const p of seen) assert.ok(p >= 50_000 && p <= 50_009);
  const used = new Set([50_000, 50_001, 50_002, 50_003, 50_004, 50_005, 50_006, 50_007, 50_008]);
  assert.equal(ports.allocate((p) => used.has(p)), 50_009);
  used.add(50_009);
  assert.equal(ports.allocate((p) => used.has(p)), undefined);
});

Deno.test("port allocator: per destination, successive ports, a 4-tuple back only after the range", () => {
  const ports = new PortAllocator(prngRandom(new SeededPrng(9)), 50_000, 50_009);
  const dest = (last: number) => Uint8Array.of(10, 0, 0, 1, 10, 0, 0, last, 0x1f, 0x90);
  const toA: number[] = [];
  for (let i = 0; i < 20; i++) toA.push(ports.allocateFor(dest(2), () => false)!);
  // All ten ports once, in turn, before any comes back (RFC 6056 §3.3.4).
  assert.equal(new Set(toA.slice(0, 10)).size, 10, String(toA));
  assert.deepEqual(toA.slice(10), toA.slice(0, 10));
  for (let i = 1; i < 10; i++) {
    assert.equal(toA[i], toA[i - 1] === 50_009 ? 50_000 : toA[i - 1] + 1, String(toA));
  }
  // A port in use is skipped, and the sequence goes on after it.
  const busy = toA[0];
  const next = ports.allocateFor(dest(2), (p) => p === busy);
  assert.notEqual(next, busy);
  // Another destination has its own starting point (here: not the same sequence).
  const toB = Array.from({ length: 10 }, () => ports.allocateFor(dest(3), () => false)!);
  assert.equal(new Set(toB).size, 10);
  assert.equal(ports.allocateFor(dest(2), () => true), undefined, "all taken");
});

Deno.test("flow key: distinct for every field, IPv4 and IPv6", () => {
  const v6a = parseIPAddress("fd00::1")!, v6b = parseIPAddress("fd00::2")!;
  const keys = new Set([
    flowKey(A, 1, B, 2),
    flowKey(B, 1, A, 2),
    flowKey(A, 2, B, 1),
    flowKey(A, 1, B, 3),
    flowKey(v6a, 1, v6b, 2),
    flowKey(v6b, 1, v6a, 2),
  ]);
  assert.equal(keys.size, 6);
  assert.equal(flowKey(A, 1, B, 2), flowKey(A.slice(), 1, B.slice(), 2));
});

Deno.test("icmp errors: port unreachable quotes at most 576 bytes in all over IPv4", () => {
  const big = buildUdpPacket(B, A, 5, 9, new Uint8Array(1000), 1);
  const error = buildPortUnreachable(big, parseIPPacket(big), 7)!;
  assert.equal(error.length, 576);
  const icmp = parseICMPv4Message(parseIPPacket(error).payload);
  assert.equal(icmp.kind, "destination-unreachable");
  if (icmp.kind !== "destination-unreachable") return;
  assert.deepEqual([...icmp.original], [...big.subarray(0, 548)]);
});

Deno.test("icmp errors: the quoted TCP segment of a (truncated) error is read back", () => {
  const segment = buildTcpPacket(
    A,
    B,
    {
      srcPort: 50_123,
      dstPort: 443,
      seq: 0xdeadbeef,
      ack: 0,
      flags: TCPFlags.SYN,
      window: 100,
    },
    0,
    undefined,
    1,
  );
  const quote = segment.subarray(0, 28); // IP header and 8 bytes, as RFC 792 requires at least
  const { packet, offset } = allocateIPPacket(B, A, IPProtocol.ICMPv4, 8 + quote.length, 1);
  emitICMPv4DestinationUnreachable({ code: 3, original: quote }, packet, offset);
  const error = parseTcpIcmpError(parseIPPacket(packet));
  assert.ok(error);
  assert.equal(error.kind, "port-unreachable");
  assert.deepEqual([...error.local], [...A]);
  assert.equal(error.localPort, 50_123);
  assert.equal(error.remotePort, 443);
  assert.equal(error.seq, 0xdeadbeef);
  // Too short a quote, or a quoted UDP datagram, is not a TCP error.
  const short = allocateIPPacket(B, A, IPProtocol.ICMPv4, 8 + 24, 1);
  emitICMPv4DestinationUnreachable(
    { code: 3, original: segment.subarray(0, 24) },
    short.packet,
    short.offset,
  );
  assert.equal(parseTcpIcmpError(parseIPPacket(short.packet)), null);
});

Deno.test("port allocator: connects to one destination take the ports in turn, another destination starts elsewhere", () => {
  const ports = new PortAllocator(prngRandom(new SeededPrng(9)), 50_000, 50_999);
  const dest = Uint8Array.of(100, 64, 0, 2, 0x1f, 0x90);
  const other = Uint8Array.of(100, 64, 0, 3, 0x1f, 0x90);
  const taken: number[] = [];
  for (let i = 0; i < 1000; i++) taken.push(ports.allocateFor(dest, () => false)!);
  assert.equal(new Set(taken).size, 1000, "no port twice before the range is used up");
  for (let i = 1; i < taken.length; i++) {
    assert.equal((taken[i] - 50_000) % 1000, (taken[i - 1] - 50_000 + 1) % 1000, "in turn");
  }
  // Another destination starts elsewhere in the range (the keyed hash), not at the next port.
  const a = ports.allocateFor(dest, () => false)!;
  const b = ports.allocateFor(other, () => false)!;
  assert.notEqual((b - 50_000) % 1000, (a - 50_000 + 1) % 1000);
  assert.equal(ports.allocateFor(dest, (p) => p !== 50_500), 50_500, "skips ports in use");
});
