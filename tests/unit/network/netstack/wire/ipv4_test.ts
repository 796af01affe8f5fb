import assert from "node:assert/strict";
import { buildUdpPacket } from "../../../../../network/netstack/ip_output.ts";
import {
  emitIPv4Header,
  ipv4HeaderLength,
  parseIPv4Packet,
} from "../../../../../network/netstack/wire/ipv4.ts";
import { parseIPPacket } from "../../../../../network/netstack/wire/ip_packet.ts";
import { WireError } from "../../../../../network/netstack/wire/wire_error.ts";
import { seededRandom } from "../../crypto/seeded_random.ts";
import { hex, toHex } from "./hex.ts";
import { ICMPV4_ECHO_REQUEST, ICMPV4_PORT_UNREACHABLE, TCP4_SYN_ACK } from "./captured_packets.ts";

function wireError(kind: string) {
  return (e: unknown) => e instanceof WireError && e.kind === kind;
}

Deno.test("ipv4: parses a real echo request from Linux", () => {
  const bytes = hex(ICMPV4_ECHO_REQUEST);
  const ip = parseIPv4Packet(bytes);
  assert.equal(ip.version, 4);
  assert.equal(ip.headerLength, 20);
  assert.equal(ip.totalLength, 44);
  assert.equal(ip.identification, 0x2bd5);
  assert.equal(ip.dontFragment, true);
  assert.equal(ip.moreFragments, false);
  assert.equal(ip.isFragment, false);
  assert.equal(ip.ttl, 64);
  assert.equal(ip.protocol, 1);
  assert.equal(ip.checksum, 0xfa5f);
  assert.deepEqual([...ip.src], [10, 77, 0, 1]);
  assert.deepEqual([...ip.dst], [10, 77, 0, 2]);
  assert.equal(ip.payload.length, 24);
  // Views, not copies.
  assert.equal(ip.payload.buffer, bytes.buffer);
});

Deno.test("ipv4: DSCP/ECN of a real ICMP error (TOS 0xc0)", () => {
  const ip = parseIPv4Packet(hex(ICMPV4_PORT_UNREACHABLE));
  assert.equal(ip.dscp, 0x30);
  assert.equal(ip.ecn, 0);
});

Deno.test("ipv4: emitting the parsed fields reproduces Linux's headers byte for byte", () => {
  for (const packet of [ICMPV4_ECHO_REQUEST, ICMPV4_PORT_UNREACHABLE, TCP4_SYN_ACK]) {
    const bytes = hex(packet);
    const ip = parseIPv4Packet(bytes);
    const out = new Uint8Array(20);
    assert.equal(emitIPv4Header({ ...ip, payloadLength: ip.payload.length }, out), 20);
    assert.equal(toHex(out), toHex(bytes.subarray(0, 20)));
  }
});

Deno.test("ipv4: link padding past the total length is not payload", () => {
  const bytes = new Uint8Array([...hex(ICMPV4_ECHO_REQUEST), 0, 0, 0, 0]);
  assert.equal(parseIPv4Packet(bytes).payload.length, 24);
});

Deno.test("ipv4: options are carried and counted in the header length", () => {
  const options = hex("94040000"); // Router Alert (RFC 2113)
  const fields = {
    src: hex("64400001"),
    dst: hex("64400002"),
    protocol: 2,
    payloadLength: 3,
    options,
  };
  assert.equal(ipv4HeaderLength(fields), 24);
  const buf = new Uint8Array(27);
  emitIPv4Header(fields, buf);
  const ip = parseIPv4Packet(buf);
  assert.equal(ip.headerLength, 24);
  assert.equal(toHex(ip.options), "94040000");
  assert.equal(ip.payload.length, 3);
  assert.throws(
    () => emitIPv4Header({ ...fields, options: new Uint8Array(3) }, buf),
    wireError("bad-field"),
  );
  assert.throws(
    () => emitIPv4Header({ ...fields, options: new Uint8Array(44) }, new Uint8Array(80)),
    wireError("bad-field"),
  );
});

Deno.test("ipv4: fragments are reported, not reassembled", () => {
  const buf = new Uint8Array(28);
  const base = { src: hex("0a000001"), dst: hex("0a000002"), protocol: 17, payloadLength: 8 };
  emitIPv4Header({ ...base, moreFragments: true }, buf);
  let ip = parseIPv4Packet(buf);
  assert.equal(ip.isFragment, true);
  assert.equal(ip.fragmentOffset, 0);
  emitIPv4Header({ ...base, fragmentOffset: 1480 }, buf);
  ip = parseIPPacket(buf) as ReturnType<typeof parseIPv4Packet>;
  assert.equal(ip.isFragment, true);
  assert.equal(ip.moreFragments, false);
  assert.equal(ip.fragmentOffset, 1480);
  assert.throws(() => emitIPv4Header({ ...base, fragmentOffset: 3 }, buf), wireError("bad-field"));
});

Deno.test("ipv4: typed errors for bad version, lengths and checksum", () => {
  const good = hex(ICMPV4_ECHO_REQUEST);
  assert.throws(() => parseIPv4Packet(good.subarray(0, 19)), wireError("truncated"));
  assert.throws(() => parseIPv4Packet(good.subarray(0, 43)), wireError("truncated"));
  const v6 = good.slice();
  v6[0] = 0x65;
  assert.throws(() => parseIPv4Packet(v6), wireError("bad-version"));
  const shortIhl = good.slice();
  shortIhl[0] = 0x44;
  assert.throws(() => parseIPv4Packet(shortIhl), wireError("bad-header-length"));
  const longIhl = good.slice(0, 20);
  longIhl[0] = 0x46;
  assert.throws(() => parseIPv4Packet(longIhl), wireError("truncated"));
  const shortTotal = good.slice();
  shortTotal[3] = 19;
  assert.throws(() => parseIPv4Packet(shortTotal), wireError("bad-length"));
  const corrupt = good.slice();
  corrupt[8] = 63;
  assert.throws(() => parseIPv4Packet(corrupt), wireError("bad-checksum"));
  assert.equal(parseIPv4Packet(corrupt, { verifyChecksum: false }).ttl, 63);
  assert.throws(
    () => emitIPv4Header({ ...parseIPv4Packet(good), payloadLength: 24 }, new Uint8Array(19)),
    wireError("buffer-too-small"),
  );
  assert.throws(() => parseIPPacket(new Uint8Array(0)), wireError("truncated"));
  assert.throws(() => parseIPPacket(new Uint8Array([0x50])), wireError("bad-version"));
});

Deno.test("ipv4: emit then parse returns every field (random values)", () => {
  const rng = seededRandom();
  for (let trial = 0; trial < 300; trial++) {
    const optionsLength = 4 * rng.below(11);
    const payloadLength = rng.below(200);
    const fields = {
      src: rng.bytes(4),
      dst: rng.bytes(4),
      protocol: rng.below(256),
      payloadLength,
      ttl: rng.below(256),
      identification: rng.below(0x10000),
      dscp: rng.below(64),
      ecn: rng.below(4),
      dontFragment: rng.below(2) === 1,
      moreFragments: rng.below(2) === 1,
      fragmentOffset: 8 * rng.below(0x2000),
      options: rng.bytes(optionsLength),
    };
    const buf = new Uint8Array(20 + optionsLength + payloadLength);
    const n = emitIPv4Header(fields, buf);
    assert.equal(n, 20 + optionsLength);
    const ip = parseIPv4Packet(buf);
    const msg = `seed ${rng.seed} trial ${trial}`;
    for (
      const key of [
        "protocol",
        "ttl",
        "identification",
        "dscp",
        "ecn",
        "dontFragment",
        "moreFragments",
        "fragmentOffset",
      ] as const
    ) {
      assert.equal(ip[key], fields[key], `${key}: ${msg}`);
    }
    assert.deepEqual(ip.src, fields.src, msg);
    assert.deepEqual(ip.dst, fields.dst, msg);
    assert.deepEqual(ip.options, fields.options, msg);
    assert.equal(ip.payload.length, payloadLength, msg);
  }
});

Deno.test("ipv4: allowTruncated reads the header of a packet an ICMP error cut short", () => {
  const packet = buildUdpPacket(
    new Uint8Array([10, 0, 0, 1]),
    new Uint8Array([10, 0, 0, 2]),
    1,
    2,
    new Uint8Array(100),
    1,
  );
  const cut = packet.subarray(0, 28);
  assert.throws(() => parseIPv4Packet(cut), WireError);
  const ip = parseIPv4Packet(cut, { allowTruncated: true });
  assert.equal(ip.totalLength, 128);
  assert.equal(ip.payload.length, 8);
});
