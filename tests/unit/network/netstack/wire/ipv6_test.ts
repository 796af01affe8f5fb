import assert from "node:assert/strict";
import { buildUdpPacket } from "../../../../../network/netstack/ip_output.ts";
import { emitIPv6Header, parseIPv6Packet } from "../../../../../network/netstack/wire/ipv6.ts";
import { parseIPPacket } from "../../../../../network/netstack/wire/ip_packet.ts";
import { WireError } from "../../../../../network/netstack/wire/wire_error.ts";
import { seededRandom } from "../../crypto/seeded_random.ts";
import { hex, toHex } from "./hex.ts";
import { ICMPV6_ECHO_REQUEST, TCP6_SYN_ACK, UDP6_DATAGRAM } from "./captured_packets.ts";

function wireError(kind: string) {
  return (e: unknown) => e instanceof WireError && e.kind === kind;
}

const SRC = hex("fd7a115ca1e000000000000000000001");
const DST = hex("fd7a115ca1e000000000000000000002");

/** An IPv6 packet: fixed header, then `chain` (already linked), then `upper`. */
function packet(nextHeader: number, chain: Uint8Array, upper: Uint8Array): Uint8Array {
  const out = new Uint8Array(40 + chain.length + upper.length);
  emitIPv6Header(
    { src: SRC, dst: DST, nextHeader, payloadLength: chain.length + upper.length },
    out,
  );
  out.set(chain, 40);
  out.set(upper, 40 + chain.length);
  return out;
}

Deno.test("ipv6: parses a real echo request from Linux", () => {
  const bytes = hex(ICMPV6_ECHO_REQUEST);
  const ip = parseIPv6Packet(bytes);
  assert.equal(ip.version, 6);
  assert.equal(ip.trafficClass, 0);
  assert.equal(ip.flowLabel, 0x5e149);
  assert.equal(ip.payloadLength, 24);
  assert.equal(ip.nextHeader, 58);
  assert.equal(ip.protocol, 58);
  assert.equal(ip.hopLimit, 64);
  assert.equal(toHex(ip.src), "fd000077000000000000000000000001");
  assert.equal(toHex(ip.dst), "fd000077000000000000000000000002");
  assert.equal(ip.upperLayerOffset, 40);
  assert.equal(ip.payload.length, 24);
  assert.deepEqual(ip.extensionHeaders, []);
  assert.equal(ip.fragment, null);
  assert.equal(ip.isFragment, false);
  assert.equal(parseIPPacket(bytes).version, 6);
});

Deno.test("ipv6: emitting the parsed fields reproduces Linux's headers byte for byte", () => {
  for (const text of [ICMPV6_ECHO_REQUEST, UDP6_DATAGRAM, TCP6_SYN_ACK]) {
    const bytes = hex(text);
    const ip = parseIPv6Packet(bytes);
    const out = new Uint8Array(40);
    emitIPv6Header(ip, out);
    assert.equal(toHex(out), toHex(bytes.subarray(0, 40)));
  }
});

Deno.test("ipv6: walks Hop-by-Hop, Routing, Destination Options and AH to the upper layer", () => {
  const hbh = hex("2b00 0102 0000 0000"); // next Routing, 8 bytes, PadN
  const routing = hex("3c02 0000 0000 0000" + "00".repeat(16)); // next DestOpts, 24 bytes
  const dest = hex("3300 0104 0000 0000"); // next AH
  const ah = hex("1101 0000 0000 0001"); // next UDP, (1+2)*4 = 12 bytes
  const ahFull = new Uint8Array([...ah, 0, 0, 0, 0]);
  const udp = hex("1234 5678 0008 0000");
  const bytes = packet(0, new Uint8Array([...hbh, ...routing, ...dest, ...ahFull]), udp);
  const ip = parseIPv6Packet(bytes);
  assert.deepEqual(ip.extensionHeaders, [0, 43, 60, 51]);
  assert.equal(ip.protocol, 17);
  assert.equal(ip.upperLayerOffset, 40 + 8 + 24 + 8 + 12);
  assert.equal(toHex(ip.payload), toHex(udp));
});

Deno.test("ipv6: fragments are reported; a non-first fragment stops the walk", () => {
  const first = packet(44, hex("3a00 0001 deadbeef"), hex("8000 0000 0001 0002"));
  let ip = parseIPv6Packet(first);
  assert.deepEqual(ip.fragment, { offset: 0, moreFragments: true, identification: 0xdeadbeef });
  assert.equal(ip.isFragment, true);
  assert.equal(ip.protocol, 58);
  // Offset 1232 bytes = 154 blocks; what follows is mid-datagram data, not a header.
  const later = packet(44, hex("0000 04d0 deadbeef"), hex("0001 0203"));
  ip = parseIPv6Packet(later);
  assert.deepEqual(ip.fragment, { offset: 1232, moreFragments: false, identification: 0xdeadbeef });
  assert.equal(ip.protocol, 0);
  assert.equal(ip.isFragment, true);
  assert.equal(toHex(ip.payload), "00010203");
  // An atomic fragment (offset 0, M clear, RFC 6946) is no fragment at all.
  ip = parseIPv6Packet(packet(44, hex("1100 0000 00000001"), hex("1234 5678 0008 0000")));
  assert.equal(ip.isFragment, false);
  assert.equal(ip.protocol, 17);
});

Deno.test("ipv6: unsupported and malformed extension chains are typed errors", () => {
  assert.throws(
    () => parseIPv6Packet(packet(50, new Uint8Array(0), hex("00000001"))),
    wireError("unsupported"),
  );
  // Hop-by-Hop anywhere but first.
  assert.throws(
    () => parseIPv6Packet(packet(60, hex("0000 0000 0000 0000"), hex("3a00 0000 0000 0000"))),
    wireError("bad-field"),
  );
  // A Destination Options header claiming 16 bytes in an 8-byte payload.
  assert.throws(
    () => parseIPv6Packet(packet(60, hex("3a01 0000 0000 0000"), new Uint8Array(0))),
    wireError("truncated"),
  );
  // Two Fragment headers.
  assert.throws(
    () => parseIPv6Packet(packet(44, hex("2c00 0001 0000 0001"), hex("3a00 0001 0000 0001"))),
    wireError("bad-field"),
  );
  // A jumbogram (payload length 0 with Hop-by-Hop).
  const jumbo = new Uint8Array(48);
  emitIPv6Header({ src: SRC, dst: DST, nextHeader: 0, payloadLength: 0 }, jumbo);
  assert.throws(() => parseIPv6Packet(jumbo), wireError("unsupported"));
  const good = hex(ICMPV6_ECHO_REQUEST);
  assert.throws(() => parseIPv6Packet(good.subarray(0, 39)), wireError("truncated"));
  assert.throws(() => parseIPv6Packet(good.subarray(0, 63)), wireError("truncated"));
  const v4 = good.slice();
  v4[0] = 0x45;
  assert.throws(() => parseIPv6Packet(v4), wireError("bad-version"));
  // No Next Header: an empty upper layer.
  const none = parseIPv6Packet(packet(59, new Uint8Array(0), new Uint8Array(0)));
  assert.equal(none.protocol, 59);
  assert.equal(none.payload.length, 0);
});

Deno.test("ipv6: emit then parse returns every field (random values)", () => {
  const rng = seededRandom();
  for (let trial = 0; trial < 300; trial++) {
    const fields = {
      src: rng.bytes(16),
      dst: rng.bytes(16),
      nextHeader: [6, 17, 58, 99][rng.below(4)],
      payloadLength: rng.below(300),
      hopLimit: rng.below(256),
      trafficClass: rng.below(256),
      flowLabel: rng.below(0x100000),
    };
    const buf = new Uint8Array(40 + fields.payloadLength);
    assert.equal(emitIPv6Header(fields, buf), 40);
    const ip = parseIPv6Packet(buf);
    const msg = `seed ${rng.seed} trial ${trial}`;
    for (
      const key of ["nextHeader", "payloadLength", "hopLimit", "trafficClass", "flowLabel"] as const
    ) {
      assert.equal(ip[key], fields[key], `${key}: ${msg}`);
    }
    assert.deepEqual(ip.src, fields.src, msg);
    assert.deepEqual(ip.dst, fields.dst, msg);
  }
});

Deno.test("ipv6: allowTruncated reads the header of a packet an ICMPv6 error cut short", () => {
  const a = new Uint8Array(16).fill(1), b = new Uint8Array(16).fill(2);
  const packet = buildUdpPacket(a, b, 1, 2, new Uint8Array(100), 1);
  const cut = packet.subarray(0, 48);
  assert.throws(() => parseIPv6Packet(cut), WireError);
  const ip = parseIPv6Packet(cut, { allowTruncated: true });
  assert.equal(ip.payloadLength, 108);
  assert.equal(ip.payload.length, 8);
});
