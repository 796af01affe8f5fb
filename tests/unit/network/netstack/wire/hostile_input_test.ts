/**
 * Hostile input for every parser in network/netstack/wire/ and for the echo
 * responder: random bytes, every truncation and single-bit flips of real
 * packets. The only exception allowed out is a WireError.
 */
import assert from "node:assert/strict";
import { buildEchoReply } from "../../../../../network/netstack/echo_responder.ts";
import { parseICMPv4Message } from "../../../../../network/netstack/wire/icmpv4.ts";
import { parseICMPv6Message } from "../../../../../network/netstack/wire/icmpv6.ts";
import { parseIPPacket } from "../../../../../network/netstack/wire/ip_packet.ts";
import { parseIPv4Packet } from "../../../../../network/netstack/wire/ipv4.ts";
import { parseIPv6Packet } from "../../../../../network/netstack/wire/ipv6.ts";
import { parseTCPOptions, parseTCPSegment } from "../../../../../network/netstack/wire/tcp.ts";
import { parseTSMPMessage } from "../../../../../network/netstack/wire/tsmp.ts";
import { parseUDPDatagram } from "../../../../../network/netstack/wire/udp.ts";
import { WireError } from "../../../../../network/netstack/wire/wire_error.ts";
import { seededRandom } from "../../crypto/seeded_random.ts";
import * as captured from "./captured_packets.ts";
import { hex } from "./hex.ts";

const PARSERS: Record<string, (b: Uint8Array) => unknown> = {
  parseIPPacket: (b) => parseIPPacket(b),
  parseIPv4Packet: (b) => parseIPv4Packet(b, { verifyChecksum: false }),
  parseIPv6Packet,
  parseUDPDatagram,
  parseTCPSegment,
  parseTCPOptions,
  parseICMPv4Message: (b) => parseICMPv4Message(b, { verifyChecksum: false }),
  parseICMPv6Message,
  parseTSMPMessage,
  buildEchoReply: (b) => buildEchoReply(b, [b.subarray(16, 20), b.subarray(24, 40)]),
};

function feed(bytes: Uint8Array, context: string): void {
  for (const [name, parse] of Object.entries(PARSERS)) {
    try {
      parse(bytes);
    } catch (e) {
      if (!(e instanceof WireError)) {
        assert.fail(`${name} threw ${e} (${context}, input ${bytes.length} bytes)`);
      }
    }
  }
}

Deno.test("hostile input: random bytes, with and without plausible first bytes", () => {
  const rng = seededRandom();
  for (let trial = 0; trial < 3000; trial++) {
    const bytes = rng.bytes(rng.below(120));
    if (bytes.length > 0 && trial % 3 === 0) bytes[0] = 0x45 + rng.below(11);
    if (bytes.length > 0 && trial % 3 === 1) bytes[0] = 0x60;
    feed(bytes, `seed ${rng.seed} trial ${trial}`);
  }
});

Deno.test("hostile input: every truncation and bit flip of the captured packets", () => {
  const rng = seededRandom();
  for (const [name, text] of Object.entries(captured)) {
    const bytes = hex(text);
    for (let n = 0; n <= bytes.length; n++) feed(bytes.subarray(0, n), `${name} cut to ${n}`);
    for (let i = 0; i < bytes.length; i++) {
      const flipped = bytes.slice();
      flipped[i] ^= 1 << rng.below(8);
      feed(flipped, `${name} byte ${i} flipped (seed ${rng.seed})`);
      // The transport parsers see the payload too.
      feed(flipped.subarray(bytes[0] >> 4 === 4 ? 20 : 40), `${name} payload, byte ${i} flipped`);
    }
  }
});
