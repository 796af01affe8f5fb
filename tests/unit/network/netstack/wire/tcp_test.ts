import assert from "node:assert/strict";
import {
  emitTCPOptions,
  emitTCPSegment,
  parseTCPOptions,
  parseTCPSegment,
  TCPFlags,
  type TCPOptions,
  tcpOptionsLength,
  verifyTCPChecksum,
} from "../../../../../network/netstack/wire/tcp.ts";
import { parseIPPacket } from "../../../../../network/netstack/wire/ip_packet.ts";
import { WireError } from "../../../../../network/netstack/wire/wire_error.ts";
import { seededRandom } from "../../crypto/seeded_random.ts";
import { hex, toHex } from "./hex.ts";
import {
  TCP4_DATA,
  TCP4_SYN,
  TCP4_SYN_ACK,
  TCP6_ACK,
  TCP6_SYN,
  TCP6_SYN_ACK,
} from "./captured_packets.ts";

function wireError(kind: string) {
  return (e: unknown) => e instanceof WireError && e.kind === kind;
}

Deno.test("tcp: parses a real SYN from Linux with all its options", () => {
  const ip = parseIPPacket(hex(TCP4_SYN));
  const tcp = parseTCPSegment(ip.payload);
  assert.equal(tcp.srcPort, 0xedc0);
  assert.equal(tcp.dstPort, 40002);
  assert.equal(tcp.seq, 0xabc49a50);
  assert.equal(tcp.ack, 0);
  assert.equal(tcp.headerLength, 40);
  assert.equal(tcp.flags, TCPFlags.SYN);
  assert.equal(tcp.window, 0xfaf0);
  assert.deepEqual(tcp.options, {
    mss: 1460,
    sackPermitted: true,
    timestamps: { value: 0x4ef6f7c1, echoReply: 0 },
    windowScale: 10,
  });
  assert.equal(tcp.payload.length, 0);
  assert.equal(verifyTCPChecksum(ip.src, ip.dst, ip.payload), true);
});

Deno.test("tcp: SYN-ACK and data segments from Linux, IPv4 and IPv6", () => {
  const synAck = parseTCPSegment(parseIPPacket(hex(TCP4_SYN_ACK)).payload);
  assert.equal(synAck.flags, TCPFlags.SYN | TCPFlags.ACK);
  assert.equal(synAck.ack, 0xabc49a51);
  const data = parseTCPSegment(parseIPPacket(hex(TCP4_DATA)).payload);
  assert.equal(data.flags, TCPFlags.PSH | TCPFlags.ACK);
  assert.equal(new TextDecoder().decode(data.payload), "GET / HTTP/1.0\r\n\r\n");
  assert.deepEqual(data.options, { timestamps: { value: 0x4ef6f7c2, echoReply: 0x2f87215c } });
  const syn6 = parseIPPacket(hex(TCP6_SYN));
  assert.equal(parseTCPSegment(syn6.payload).options.mss, 1440);
  assert.equal(verifyTCPChecksum(syn6.src, syn6.dst, syn6.payload), true);
});

Deno.test("tcp: emitting the parsed fields reproduces Linux's segments byte for byte", () => {
  for (const text of [TCP4_SYN, TCP4_SYN_ACK, TCP4_DATA, TCP6_SYN, TCP6_SYN_ACK, TCP6_ACK]) {
    const ip = parseIPPacket(hex(text));
    const tcp = parseTCPSegment(ip.payload);
    const out = new Uint8Array(ip.payload.length);
    assert.equal(emitTCPSegment(tcp, out, ip.src, ip.dst), ip.payload.length);
    assert.equal(toHex(out), toHex(ip.payload), text);
  }
});

Deno.test("tcp: SACK blocks round-trip; unknown options are skipped; EOL stops", () => {
  const options: TCPOptions = {
    timestamps: { value: 1, echoReply: 2 },
    sackBlocks: [{ left: 100, right: 200 }, { left: 0xfffffff0, right: 5 }, { left: 7, right: 9 }],
  };
  assert.equal(tcpOptionsLength(options), 40);
  const buf = new Uint8Array(40);
  assert.equal(emitTCPOptions(options, buf), 40);
  assert.deepEqual(parseTCPOptions(buf), options);
  // Kind 30 (MPTCP) with 4 bytes, a NOP, then EOL and garbage that must be ignored.
  assert.deepEqual(parseTCPOptions(hex("1e04abcd 01 00 ff ff")), { unknownKinds: [30] });
  assert.throws(() => tcpOptionsLength({ ...options, mss: 1460 }), wireError("bad-field"));
  assert.throws(() => emitTCPOptions({ windowScale: 15 }, buf), wireError("bad-field"));
});

Deno.test("tcp: malformed options and headers are typed errors", () => {
  for (
    const bad of [
      "0203 05b4",
      "0204 05",
      "0304 0a00",
      "0403",
      "050a 00000001 000000",
      "080a 0000",
      "1e",
      "1e01",
      "1e05 0000",
    ]
  ) {
    assert.throws(() => parseTCPOptions(hex(bad)), wireError("bad-option"), bad);
  }
  const seg = parseIPPacket(hex(TCP4_SYN)).payload;
  assert.throws(() => parseTCPSegment(seg.subarray(0, 19)), wireError("truncated"));
  assert.throws(() => parseTCPSegment(seg.subarray(0, 39)), wireError("truncated"));
  const lowOffset = seg.slice();
  lowOffset[12] = 0x40;
  assert.throws(() => parseTCPSegment(lowOffset), wireError("bad-header-length"));
  assert.throws(
    () =>
      emitTCPSegment(
        { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: 0, window: 0 },
        new Uint8Array(19),
        new Uint8Array(4),
        new Uint8Array(4),
      ),
    wireError("buffer-too-small"),
  );
});

Deno.test("tcp: emit then parse and verify (random fields and options, both families)", () => {
  const rng = seededRandom();
  for (let trial = 0; trial < 300; trial++) {
    const family = rng.below(2) === 0 ? 4 : 16;
    const src = rng.bytes(family), dst = rng.bytes(family);
    const options: TCPOptions = {};
    if (rng.below(2)) options.mss = rng.below(0x10000);
    if (rng.below(2)) options.sackPermitted = true;
    if (rng.below(2)) {
      options.timestamps = { value: rng.below(2 ** 32), echoReply: rng.below(2 ** 32) };
    }
    if (rng.below(2)) options.windowScale = rng.below(15);
    const room = 40 - tcpOptionsLength(options);
    const maxBlocks = Math.min(4, Math.floor((room - 4) / 8));
    if (maxBlocks > 0 && rng.below(2)) {
      options.sackBlocks = Array.from({ length: 1 + rng.below(maxBlocks) }, () => ({
        left: rng.below(2 ** 32),
        right: rng.below(2 ** 32),
      }));
    }
    const fields = {
      srcPort: rng.below(0x10000),
      dstPort: rng.below(0x10000),
      seq: rng.below(2 ** 32),
      ack: rng.below(2 ** 32),
      flags: rng.below(256),
      window: rng.below(0x10000),
      urgentPointer: rng.below(0x10000),
      options,
      payload: rng.bytes(rng.below(100)),
    };
    const buf = new Uint8Array(60 + fields.payload.length);
    const n = emitTCPSegment(fields, buf, src, dst);
    const tcp = parseTCPSegment(buf.subarray(0, n));
    const msg = `seed ${rng.seed} trial ${trial}`;
    for (
      const key of ["srcPort", "dstPort", "seq", "ack", "flags", "window", "urgentPointer"] as const
    ) {
      assert.equal(tcp[key], fields[key], `${key}: ${msg}`);
    }
    assert.deepEqual(tcp.options, options, msg);
    assert.deepEqual(tcp.payload, fields.payload, msg);
    assert.equal(tcp.reserved, 0, msg);
    assert.equal(verifyTCPChecksum(src, dst, buf.subarray(0, n)), true, msg);
    buf[rng.below(n)] ^= 1 << rng.below(8);
    assert.equal(verifyTCPChecksum(src, dst, buf.subarray(0, n)), false, msg);
  }
});
