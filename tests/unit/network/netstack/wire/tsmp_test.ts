import assert from "node:assert/strict";
import {
  emitTSMPMessage,
  emitTSMPPacket,
  parseTSMPMessage,
  type TSMPMessage,
  tsmpMessageLength,
  TSMPRejectReason,
} from "../../../../../network/netstack/wire/tsmp.ts";
import { parseIPPacket } from "../../../../../network/netstack/wire/ip_packet.ts";
import { WireError } from "../../../../../network/netstack/wire/wire_error.ts";
import { seededRandom } from "../../crypto/seeded_random.ts";
import { hex, toHex } from "./hex.ts";

function wireError(kind: string) {
  return (e: unknown) => e instanceof WireError && e.kind === kind;
}

// Layouts from data-plane reference §5, written out by hand.
const REJECT_ACL_TCP = "21 06 41 c350 0016"; // '!', TCP, 'A', flow 50000 → 22
const REJECT_MAYBE_BROKEN = "21 06 53 c350 0016 01";
const PING = "70 0102030405060708";
const PONG = "6f 0102030405060708 1f90"; // peerAPI port 8080
const DISCO_KEY = "61" + "ab".repeat(32);

Deno.test("tsmp: parses each message type as laid out in reference §5", () => {
  assert.deepEqual(parseTSMPMessage(hex(REJECT_ACL_TCP)), {
    kind: "rejected",
    protocol: 6,
    reason: TSMPRejectReason.ACL,
    srcPort: 50000,
    dstPort: 22,
    maybeBroken: false,
  });
  const broken = parseTSMPMessage(hex(REJECT_MAYBE_BROKEN));
  assert.equal(broken.kind === "rejected" && broken.maybeBroken, true);
  assert.equal(broken.kind === "rejected" && broken.reason, TSMPRejectReason.ShieldsUp);
  const ping = parseTSMPMessage(hex(PING));
  assert.equal(ping.kind === "ping" && toHex(ping.data), "0102030405060708");
  assert.deepEqual(parseTSMPMessage(hex(PONG)), {
    kind: "pong",
    data: hex("0102030405060708"),
    peerAPIPort: 8080,
  });
  // A pong without the port (9 bytes) reports port 0.
  const oldPong = parseTSMPMessage(hex(PONG).subarray(0, 9));
  assert.equal(oldPong.kind === "pong" && oldPong.peerAPIPort, 0);
  const disco = parseTSMPMessage(hex(DISCO_KEY));
  assert.equal(disco.kind === "disco-key" && toHex(disco.discoKey), "ab".repeat(32));
});

Deno.test("tsmp: emitting reproduces the reference layouts", () => {
  for (const text of [REJECT_ACL_TCP, REJECT_MAYBE_BROKEN, PING, PONG, DISCO_KEY]) {
    const bytes = hex(text);
    const message = parseTSMPMessage(bytes);
    assert.equal(tsmpMessageLength(message), bytes.length);
    const out = new Uint8Array(bytes.length);
    assert.equal(emitTSMPMessage(message, out), bytes.length);
    assert.equal(toHex(out), toHex(bytes));
  }
});

Deno.test("tsmp: whole packets carry Tailscale's IP headers (TTL/hop limit 64, protocol 99)", () => {
  const buf = new Uint8Array(80);
  const pong: TSMPMessage = { kind: "pong", data: hex("0102030405060708"), peerAPIPort: 0 };
  let n = emitTSMPPacket(pong, {
    src: hex("64400001"),
    dst: hex("64400002"),
    identification: 0xedcb,
  }, buf);
  assert.equal(n, 31);
  const ip4 = parseIPPacket(buf.subarray(0, n)); // verifies the header checksum
  assert.equal(ip4.version, 4);
  assert.equal(ip4.protocol, 99);
  assert.equal(ip4.version === 4 && ip4.ttl, 64);
  assert.equal(ip4.version === 4 && ip4.identification, 0xedcb);
  assert.deepEqual(parseTSMPMessage(ip4.payload), pong);
  const src6 = hex("fd7a115ca1e000000000000000000001");
  const dst6 = hex("fd7a115ca1e000000000000000000002");
  const key: TSMPMessage = { kind: "disco-key", discoKey: new Uint8Array(32).fill(7) };
  n = emitTSMPPacket(key, { src: src6, dst: dst6, identification: 0x123456 }, buf);
  assert.equal(n, 73);
  const ip6 = parseIPPacket(buf.subarray(0, n));
  assert.equal(ip6.version, 6);
  assert.equal(ip6.protocol, 99);
  assert.equal(ip6.version === 6 && ip6.hopLimit, 64);
  assert.equal(ip6.version === 6 && ip6.flowLabel, 0x23456);
  assert.deepEqual(parseTSMPMessage(ip6.payload), key);
});

Deno.test("tsmp: typed errors for empty, short, unknown and bad fields", () => {
  assert.throws(() => parseTSMPMessage(new Uint8Array(0)), wireError("truncated"));
  assert.throws(() => parseTSMPMessage(hex(REJECT_ACL_TCP).subarray(0, 6)), wireError("truncated"));
  assert.throws(() => parseTSMPMessage(hex(PING).subarray(0, 8)), wireError("truncated"));
  assert.throws(() => parseTSMPMessage(hex(DISCO_KEY).subarray(0, 32)), wireError("truncated"));
  assert.throws(() => parseTSMPMessage(hex("7a00")), wireError("unsupported"));
  assert.throws(
    () => emitTSMPMessage({ kind: "ping", data: new Uint8Array(7) }, new Uint8Array(9)),
    wireError("bad-field"),
  );
  assert.throws(
    () => emitTSMPMessage({ kind: "disco-key", discoKey: new Uint8Array(32) }, new Uint8Array(32)),
    wireError("buffer-too-small"),
  );
});

Deno.test("tsmp: emit then parse (random messages)", () => {
  const rng = seededRandom();
  for (let trial = 0; trial < 300; trial++) {
    const messages: TSMPMessage[] = [
      {
        kind: "rejected",
        protocol: rng.below(256),
        reason: rng.below(256),
        srcPort: rng.below(0x10000),
        dstPort: rng.below(0x10000),
        maybeBroken: rng.below(2) === 1,
      },
      { kind: "ping", data: rng.bytes(8) },
      { kind: "pong", data: rng.bytes(8), peerAPIPort: rng.below(0x10000) },
      { kind: "disco-key", discoKey: rng.bytes(32) },
    ];
    const message = messages[rng.below(4)];
    const buf = new Uint8Array(40);
    const n = emitTSMPMessage(message, buf);
    assert.deepEqual(
      parseTSMPMessage(buf.subarray(0, n)),
      message,
      `seed ${rng.seed} trial ${trial}`,
    );
  }
});
