import assert from "node:assert/strict";
import {
  emitUDPDatagram,
  parseUDPDatagram,
  verifyUDPChecksum,
} from "../../../../../network/netstack/wire/udp.ts";
import { parseIPPacket } from "../../../../../network/netstack/wire/ip_packet.ts";
import { WireError } from "../../../../../network/netstack/wire/wire_error.ts";
import { seededRandom } from "../../crypto/seeded_random.ts";
import { hex, toHex } from "./hex.ts";
import { UDP4_DATAGRAM, UDP6_DATAGRAM } from "./captured_packets.ts";

function wireError(kind: string) {
  return (e: unknown) => e instanceof WireError && e.kind === kind;
}

Deno.test("udp: parses and verifies real IPv4 and IPv6 datagrams from Linux", () => {
  const ip4 = parseIPPacket(hex(UDP4_DATAGRAM));
  const udp4 = parseUDPDatagram(ip4.payload);
  assert.equal(udp4.srcPort, 52689);
  assert.equal(udp4.dstPort, 40000);
  assert.equal(udp4.length, 17);
  assert.equal(udp4.checksum, 0x57c6);
  assert.equal(new TextDecoder().decode(udp4.payload), "hello udp");
  assert.equal(verifyUDPChecksum(ip4.src, ip4.dst, ip4.payload), true);
  const ip6 = parseIPPacket(hex(UDP6_DATAGRAM));
  const udp6 = parseUDPDatagram(ip6.payload);
  assert.equal(udp6.dstPort, 40001);
  assert.equal(new TextDecoder().decode(udp6.payload), "hello udp6");
  assert.equal(verifyUDPChecksum(ip6.src, ip6.dst, ip6.payload), true);
  // The wrong addresses make the checksum fail.
  assert.equal(verifyUDPChecksum(ip4.dst, ip4.dst, ip4.payload), false);
});

Deno.test("udp: emitting reproduces Linux's datagrams byte for byte", () => {
  for (const text of [UDP4_DATAGRAM, UDP6_DATAGRAM]) {
    const ip = parseIPPacket(hex(text));
    const udp = parseUDPDatagram(ip.payload);
    const out = new Uint8Array(udp.length);
    assert.equal(emitUDPDatagram(udp, out, ip.src, ip.dst), udp.length);
    assert.equal(toHex(out), toHex(ip.payload));
    // The same with the data already in place.
    const inPlace = new Uint8Array(udp.length);
    inPlace.set(udp.payload, 8);
    emitUDPDatagram(
      { ...udp, payload: undefined, payloadLength: udp.payload.length },
      inPlace,
      ip.src,
      ip.dst,
    );
    assert.equal(toHex(inPlace), toHex(ip.payload));
  }
});

Deno.test("udp: zero checksum means none over IPv4 only (RFC 768, RFC 8200 §8.1)", () => {
  const ip4 = parseIPPacket(hex(UDP4_DATAGRAM));
  const d4 = ip4.payload.slice();
  d4[6] = d4[7] = 0;
  assert.equal(verifyUDPChecksum(ip4.src, ip4.dst, d4), true);
  const ip6 = parseIPPacket(hex(UDP6_DATAGRAM));
  const d6 = ip6.payload.slice();
  d6[6] = d6[7] = 0;
  assert.equal(verifyUDPChecksum(ip6.src, ip6.dst, d6), false);
});

Deno.test("udp: a computed checksum of zero is sent as 0xffff", () => {
  // Find ports making the sum come out to 0, then check the emitted field.
  const src = hex("0a000001"), dst = hex("0a000002");
  const buf = new Uint8Array(8);
  let found = false;
  for (let port = 0; port < 0x10000 && !found; port++) {
    emitUDPDatagram({ srcPort: port, dstPort: 0 }, buf, src, dst);
    if (buf[6] === 0xff && buf[7] === 0xff) {
      found = true;
      assert.equal(verifyUDPChecksum(src, dst, buf), true);
    }
  }
  assert.equal(found, true);
});

Deno.test("udp: typed errors", () => {
  const d = parseIPPacket(hex(UDP4_DATAGRAM)).payload;
  assert.throws(() => parseUDPDatagram(d.subarray(0, 7)), wireError("truncated"));
  assert.throws(() => parseUDPDatagram(d.subarray(0, 16)), wireError("truncated"));
  const short = d.slice();
  short[5] = 7;
  assert.throws(() => parseUDPDatagram(short), wireError("bad-length"));
  assert.equal(verifyUDPChecksum(new Uint8Array(4), new Uint8Array(4), short), false);
  assert.throws(
    () =>
      emitUDPDatagram(
        { srcPort: 1, dstPort: 2, payload: new Uint8Array(10) },
        new Uint8Array(17),
        new Uint8Array(4),
        new Uint8Array(4),
      ),
    wireError("buffer-too-small"),
  );
});

Deno.test("udp: emit then parse and verify (random values, both families)", () => {
  const rng = seededRandom();
  for (let trial = 0; trial < 300; trial++) {
    const family = rng.below(2) === 0 ? 4 : 16;
    const src = rng.bytes(family), dst = rng.bytes(family);
    const fields = {
      srcPort: rng.below(0x10000),
      dstPort: rng.below(0x10000),
      payload: rng.bytes(rng.below(200)),
    };
    const buf = new Uint8Array(8 + fields.payload.length + rng.below(4));
    const n = emitUDPDatagram(fields, buf, src, dst);
    const msg = `seed ${rng.seed} trial ${trial}`;
    const udp = parseUDPDatagram(buf);
    assert.equal(udp.srcPort, fields.srcPort, msg);
    assert.equal(udp.dstPort, fields.dstPort, msg);
    assert.deepEqual(udp.payload, fields.payload, msg);
    assert.equal(verifyUDPChecksum(src, dst, buf.subarray(0, n)), true, msg);
    if (fields.payload.length > 0) {
      buf[8] ^= 1 << rng.below(8);
      assert.equal(verifyUDPChecksum(src, dst, buf.subarray(0, n)), false, msg);
    }
  }
});
