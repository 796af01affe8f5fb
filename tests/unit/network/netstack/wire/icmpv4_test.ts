import assert from "node:assert/strict";
import {
  emitICMPv4DestinationUnreachable,
  emitICMPv4Echo,
  emitICMPv4Message,
  ICMPv4UnreachableCode,
  parseICMPv4Message,
} from "../../../../../network/netstack/wire/icmpv4.ts";
import { parseIPPacket } from "../../../../../network/netstack/wire/ip_packet.ts";
import { WireError } from "../../../../../network/netstack/wire/wire_error.ts";
import { seededRandom } from "../../crypto/seeded_random.ts";
import { hex, toHex } from "./hex.ts";
import {
  ICMPV4_ECHO_REPLY,
  ICMPV4_ECHO_REQUEST,
  ICMPV4_PORT_UNREACHABLE,
  UDP4_TO_CLOSED_PORT,
} from "./captured_packets.ts";

function wireError(kind: string) {
  return (e: unknown) => e instanceof WireError && e.kind === kind;
}

Deno.test("icmpv4: parses Linux's echo request and reply", () => {
  const request = parseICMPv4Message(parseIPPacket(hex(ICMPV4_ECHO_REQUEST)).payload);
  assert.equal(request.kind, "echo-request");
  if (request.kind !== "echo-request") return;
  assert.equal(request.identifier, 0x1234);
  assert.equal(request.sequence, 1);
  assert.equal(new TextDecoder().decode(request.data), "citadel-ping-v4!");
  const reply = parseICMPv4Message(parseIPPacket(hex(ICMPV4_ECHO_REPLY)).payload);
  assert.equal(reply.kind, "echo-reply");
  assert.equal(reply.checksum, 0x0505);
});

Deno.test("icmpv4: the echo reply we emit is Linux's, byte for byte", () => {
  const request = parseICMPv4Message(parseIPPacket(hex(ICMPV4_ECHO_REQUEST)).payload);
  if (request.kind !== "echo-request") throw new Error("not an echo request");
  const out = new Uint8Array(24);
  emitICMPv4Echo({ ...request, kind: "echo-reply" }, out);
  assert.equal(toHex(out), toHex(parseIPPacket(hex(ICMPV4_ECHO_REPLY)).payload));
});

Deno.test("icmpv4: Linux's port unreachable quotes our datagram and re-emits exactly", () => {
  const icmpBytes = parseIPPacket(hex(ICMPV4_PORT_UNREACHABLE)).payload;
  const icmp = parseICMPv4Message(icmpBytes);
  assert.equal(icmp.kind, "destination-unreachable");
  if (icmp.kind !== "destination-unreachable") return;
  assert.equal(icmp.code, ICMPv4UnreachableCode.Port);
  assert.equal(icmp.nextHopMTU, 0);
  assert.equal(toHex(icmp.original), UDP4_TO_CLOSED_PORT);
  const out = new Uint8Array(icmpBytes.length);
  emitICMPv4DestinationUnreachable({ code: icmp.code, original: icmp.original }, out);
  assert.equal(toHex(out), toHex(icmpBytes));
});

Deno.test("icmpv4: fragmentation-needed carries the next-hop MTU; other types stay generic", () => {
  const buf = new Uint8Array(36);
  const n = emitICMPv4DestinationUnreachable(
    {
      code: ICMPv4UnreachableCode.FragmentationNeeded,
      nextHopMTU: 1280,
      original: new Uint8Array(28),
    },
    buf,
  );
  const icmp = parseICMPv4Message(buf.subarray(0, n));
  assert.equal(icmp.kind === "destination-unreachable" && icmp.nextHopMTU, 1280);
  const timeExceeded = new Uint8Array(36);
  emitICMPv4Message({ type: 11, code: 0, body: new Uint8Array(28) }, timeExceeded);
  assert.equal(parseICMPv4Message(timeExceeded).kind, "time-exceeded");
  const timestamp = new Uint8Array(20);
  emitICMPv4Message(
    { type: 13, code: 0, restOfHeader: 0x00010002, body: new Uint8Array(12) },
    timestamp,
  );
  const other = parseICMPv4Message(timestamp);
  assert.equal(other.kind, "other");
  assert.equal(other.kind === "other" && other.restOfHeader, 0x00010002);
});

Deno.test("icmpv4: typed errors", () => {
  const good = parseIPPacket(hex(ICMPV4_ECHO_REQUEST)).payload;
  assert.throws(() => parseICMPv4Message(good.subarray(0, 7)), wireError("truncated"));
  const corrupt = good.slice();
  corrupt[9] ^= 1;
  assert.throws(() => parseICMPv4Message(corrupt), wireError("bad-checksum"));
  assert.equal(parseICMPv4Message(corrupt, { verifyChecksum: false }).kind, "echo-request");
  assert.throws(
    () =>
      emitICMPv4Echo(
        { kind: "echo-request", identifier: 1, sequence: 1, data: new Uint8Array(4) },
        new Uint8Array(11),
      ),
    wireError("buffer-too-small"),
  );
});

Deno.test("icmpv4: echo emit then parse (random values)", () => {
  const rng = seededRandom();
  for (let trial = 0; trial < 300; trial++) {
    const fields = {
      kind: rng.below(2) ? "echo-request" as const : "echo-reply" as const,
      identifier: rng.below(0x10000),
      sequence: rng.below(0x10000),
      data: rng.bytes(rng.below(100)),
    };
    const buf = new Uint8Array(8 + fields.data.length);
    emitICMPv4Echo(fields, buf);
    const icmp = parseICMPv4Message(buf);
    const msg = `seed ${rng.seed} trial ${trial}`;
    assert.equal(icmp.kind, fields.kind, msg);
    if (icmp.kind !== "echo-request" && icmp.kind !== "echo-reply") continue;
    assert.equal(icmp.identifier, fields.identifier, msg);
    assert.equal(icmp.sequence, fields.sequence, msg);
    assert.deepEqual(icmp.data, fields.data, msg);
  }
});
