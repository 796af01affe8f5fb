import assert from "node:assert/strict";
import {
  emitICMPv6DestinationUnreachable,
  emitICMPv6Echo,
  emitICMPv6Message,
  ICMPv6UnreachableCode,
  parseICMPv6Message,
  verifyICMPv6Checksum,
} from "../../../../../network/netstack/wire/icmpv6.ts";
import { parseIPPacket } from "../../../../../network/netstack/wire/ip_packet.ts";
import { WireError } from "../../../../../network/netstack/wire/wire_error.ts";
import { seededRandom } from "../../crypto/seeded_random.ts";
import { hex, toHex } from "./hex.ts";
import {
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_PORT_UNREACHABLE,
  UDP6_TO_CLOSED_PORT,
} from "./captured_packets.ts";

function wireError(kind: string) {
  return (e: unknown) => e instanceof WireError && e.kind === kind;
}

Deno.test("icmpv6: parses and verifies Linux's echo request and reply", () => {
  const ip = parseIPPacket(hex(ICMPV6_ECHO_REQUEST));
  assert.equal(verifyICMPv6Checksum(ip.src, ip.dst, ip.payload), true);
  const request = parseICMPv6Message(ip.payload);
  assert.equal(request.kind, "echo-request");
  if (request.kind !== "echo-request") return;
  assert.equal(request.identifier, 0x4321);
  assert.equal(request.sequence, 7);
  assert.equal(new TextDecoder().decode(request.data), "citadel-ping-v6!");
  const reply = parseIPPacket(hex(ICMPV6_ECHO_REPLY));
  assert.equal(verifyICMPv6Checksum(reply.src, reply.dst, reply.payload), true);
  assert.equal(parseICMPv6Message(reply.payload).kind, "echo-reply");
  // The pseudo-header matters: swapped addresses are still fine (the sum commutes), others are not.
  assert.equal(verifyICMPv6Checksum(ip.dst, ip.src, ip.payload), true);
  assert.equal(verifyICMPv6Checksum(ip.src, ip.src, ip.payload), false);
});

Deno.test("icmpv6: the echo reply we emit is Linux's, byte for byte", () => {
  const ip = parseIPPacket(hex(ICMPV6_ECHO_REQUEST));
  const request = parseICMPv6Message(ip.payload);
  if (request.kind !== "echo-request") throw new Error("not an echo request");
  const out = new Uint8Array(24);
  emitICMPv6Echo({ ...request, kind: "echo-reply" }, out, ip.dst, ip.src);
  assert.equal(toHex(out), toHex(parseIPPacket(hex(ICMPV6_ECHO_REPLY)).payload));
});

Deno.test("icmpv6: Linux's port unreachable quotes our packet and re-emits exactly", () => {
  const ip = parseIPPacket(hex(ICMPV6_PORT_UNREACHABLE));
  assert.equal(verifyICMPv6Checksum(ip.src, ip.dst, ip.payload), true);
  const icmp = parseICMPv6Message(ip.payload);
  assert.equal(icmp.kind, "destination-unreachable");
  if (icmp.kind !== "destination-unreachable") return;
  assert.equal(icmp.code, ICMPv6UnreachableCode.Port);
  assert.equal(toHex(icmp.original), UDP6_TO_CLOSED_PORT);
  const out = new Uint8Array(ip.payload.length);
  emitICMPv6DestinationUnreachable(
    { code: icmp.code, original: icmp.original },
    out,
    ip.src,
    ip.dst,
  );
  assert.equal(toHex(out), toHex(ip.payload));
});

Deno.test("icmpv6: packet-too-big carries the MTU; neighbour discovery stays generic", () => {
  const src = new Uint8Array(16).fill(1), dst = new Uint8Array(16).fill(2);
  const buf = new Uint8Array(48);
  emitICMPv6Message(
    { type: 2, code: 0, restOfHeader: 1280, body: new Uint8Array(40) },
    buf,
    src,
    dst,
  );
  const tooBig = parseICMPv6Message(buf);
  assert.equal(tooBig.kind, "packet-too-big");
  assert.equal(tooBig.kind === "packet-too-big" && tooBig.value, 1280);
  const ns = new Uint8Array(24);
  emitICMPv6Message({ type: 135, code: 0, body: new Uint8Array(16) }, ns, src, dst);
  assert.equal(parseICMPv6Message(ns).kind, "other");
  assert.equal(verifyICMPv6Checksum(src, dst, ns), true);
});

Deno.test("icmpv6: typed errors", () => {
  assert.throws(() => parseICMPv6Message(new Uint8Array(7)), wireError("truncated"));
  assert.throws(
    () =>
      emitICMPv6Echo(
        { kind: "echo-request", identifier: 1, sequence: 1 },
        new Uint8Array(8),
        new Uint8Array(4),
        new Uint8Array(4),
      ),
    wireError("bad-field"),
  );
  assert.throws(
    () =>
      emitICMPv6Echo(
        { kind: "echo-request", identifier: 1, sequence: 1 },
        new Uint8Array(7),
        new Uint8Array(16),
        new Uint8Array(16),
      ),
    wireError("buffer-too-small"),
  );
});

Deno.test("icmpv6: echo emit then parse and verify (random values)", () => {
  const rng = seededRandom();
  for (let trial = 0; trial < 300; trial++) {
    const src = rng.bytes(16), dst = rng.bytes(16);
    const fields = {
      kind: rng.below(2) ? "echo-request" as const : "echo-reply" as const,
      identifier: rng.below(0x10000),
      sequence: rng.below(0x10000),
      data: rng.bytes(rng.below(100)),
    };
    const buf = new Uint8Array(8 + fields.data.length);
    emitICMPv6Echo(fields, buf, src, dst);
    const msg = `seed ${rng.seed} trial ${trial}`;
    assert.equal(verifyICMPv6Checksum(src, dst, buf), true, msg);
    const icmp = parseICMPv6Message(buf);
    assert.equal(icmp.kind, fields.kind, msg);
    if (icmp.kind !== "echo-request" && icmp.kind !== "echo-reply") continue;
    assert.equal(icmp.identifier, fields.identifier, msg);
    assert.equal(icmp.sequence, fields.sequence, msg);
    assert.deepEqual(icmp.data, fields.data, msg);
  }
});
