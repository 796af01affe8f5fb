import assert from "node:assert/strict";
import { buildEchoReply } from "../../../../network/netstack/echo_responder.ts";
import { emitICMPv4Echo } from "../../../../network/netstack/wire/icmpv4.ts";
import { emitIPv4Header, parseIPv4Packet } from "../../../../network/netstack/wire/ipv4.ts";
import { parseIPPacket } from "../../../../network/netstack/wire/ip_packet.ts";
import { parseIPv6Packet } from "../../../../network/netstack/wire/ipv6.ts";
import { WireError } from "../../../../network/netstack/wire/wire_error.ts";
import { hex, toHex } from "./wire/hex.ts";
import {
  ICMPV4_ECHO_REPLY,
  ICMPV4_ECHO_REQUEST,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  UDP4_DATAGRAM,
} from "./wire/captured_packets.ts";

const OUR_V4 = hex("0a4d0002"); // 10.77.0.2, the pinged host in the captures
const OUR_V6 = hex("fd000077000000000000000000000002");
const OURS = [OUR_V4, OUR_V6];

Deno.test("echo responder: answers a real IPv4 ping as Linux did", () => {
  const reply = buildEchoReply(hex(ICMPV4_ECHO_REQUEST), OURS);
  assert.ok(reply);
  const ours = parseIPv4Packet(reply);
  const linux = parseIPv4Packet(hex(ICMPV4_ECHO_REPLY));
  assert.equal(toHex(ours.payload), toHex(linux.payload));
  assert.deepEqual(ours.src, linux.src);
  assert.deepEqual(ours.dst, linux.dst);
  assert.equal(ours.ttl, 64);
  assert.equal(ours.protocol, 1);
  assert.equal(ours.totalLength, linux.totalLength);
});

Deno.test("echo responder: answers a real IPv6 ping as Linux did", () => {
  const reply = buildEchoReply(hex(ICMPV6_ECHO_REQUEST), OURS);
  assert.ok(reply);
  const ours = parseIPv6Packet(reply);
  const linux = parseIPv6Packet(hex(ICMPV6_ECHO_REPLY));
  // Linux picks its own flow label; everything else matches.
  assert.equal(toHex(ours.payload), toHex(linux.payload));
  assert.deepEqual(ours.src, linux.src);
  assert.deepEqual(ours.dst, linux.dst);
  assert.equal(ours.hopLimit, 64);
  assert.equal(ours.payloadLength, linux.payloadLength);
});

Deno.test("echo responder: writes into a caller's buffer", () => {
  const out = new Uint8Array(1280);
  const reply = buildEchoReply(hex(ICMPV4_ECHO_REQUEST), OURS, out);
  assert.ok(reply);
  assert.equal(reply.buffer, out.buffer);
  assert.equal(reply.length, 44);
  assert.throws(
    () => buildEchoReply(hex(ICMPV4_ECHO_REQUEST), OURS, new Uint8Array(43)),
    (e: unknown) => e instanceof WireError && e.kind === "buffer-too-small",
  );
});

Deno.test("echo responder: stays silent for everything else", () => {
  const request4 = hex(ICMPV4_ECHO_REQUEST);
  // Not our address.
  assert.equal(buildEchoReply(request4, [hex("0a4d0003"), OUR_V6]), null);
  assert.equal(buildEchoReply(request4, []), null);
  // Replies, other protocols, garbage.
  assert.equal(buildEchoReply(hex(ICMPV4_ECHO_REPLY), [hex("0a4d0001")]), null);
  assert.equal(
    buildEchoReply(hex(ICMPV6_ECHO_REPLY), [hex("fd000077000000000000000000000001")]),
    null,
  );
  assert.equal(buildEchoReply(hex(UDP4_DATAGRAM), OURS), null);
  assert.equal(buildEchoReply(new Uint8Array(0), OURS), null);
  assert.equal(buildEchoReply(request4.subarray(0, 30), OURS), null);
  // A bad ICMP checksum (v4 and v6).
  const bad4 = request4.slice();
  bad4[30] ^= 0xff;
  assert.equal(buildEchoReply(bad4, OURS), null);
  const bad6 = hex(ICMPV6_ECHO_REQUEST);
  bad6[50] ^= 0xff;
  assert.equal(buildEchoReply(bad6, OURS), null);
  // Fragments, multicast and broadcast sources.
  const icmp = parseIPPacket(request4).payload;
  for (const extra of [{ moreFragments: true }, { fragmentOffset: 8 }]) {
    const frag = new Uint8Array(44);
    emitIPv4Header(
      { src: hex("0a4d0001"), dst: OUR_V4, protocol: 1, payloadLength: 24, ...extra },
      frag,
    );
    frag.set(icmp, 20);
    assert.equal(buildEchoReply(frag, OURS), null);
  }
  for (const src of ["e0000001", "ffffffff", "00000000"]) {
    const p = new Uint8Array(44);
    emitIPv4Header({ src: hex(src), dst: OUR_V4, protocol: 1, payloadLength: 24 }, p);
    emitICMPv4Echo(
      { kind: "echo-request", identifier: 1, sequence: 1, data: new Uint8Array(16) },
      p,
      20,
    );
    assert.equal(buildEchoReply(p, OURS), null, src);
  }
});
