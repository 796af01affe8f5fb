/**
 * The one IP service the data plane answers by itself: ICMP echo (RFC 792
 * for IPv4, RFC 4443 §4 for IPv6) to one of our own addresses. This is the
 * smallest reply that proves a WireGuard path end to end (`tailscale ping
 * --icmp`); the userspace stack in `network/netstack/` will own ICMP once it
 * lands, and this file goes away then.
 *
 * @module
 */
import { ipAddressEquals } from "../filter/ip_address.ts";
import { onesComplementSum, writeChecksum } from "./ip_checksum.ts";

const IPV4_PROTOCOL_ICMP = 1;
const IPV6_NEXT_HEADER_ICMPV6 = 58;
const ICMPV4_ECHO_REQUEST = 8;
const ICMPV4_ECHO_REPLY = 0;
const ICMPV6_ECHO_REQUEST = 128;
const ICMPV6_ECHO_REPLY = 129;
const IPV6_HEADER_LENGTH = 40;
const REPLY_TTL = 64;

/**
 * The echo reply to `packet` when it is an ICMP echo request (IPv4 or IPv6,
 * no fragments, checksums valid) addressed to one of `ourAddresses` (4- or
 * 16-byte IPs); `undefined` for anything else. The reply swaps source and
 * destination, keeps identifier, sequence number and data, and is a new
 * buffer.
 *
 * @example
 * ```ts
 * const reply = icmpEchoReply(packet, [parseIPAddress("100.64.0.1")!]);
 * if (reply) send(reply);
 * ```
 */
export function icmpEchoReply(
  packet: Uint8Array,
  ourAddresses: readonly Uint8Array[],
): Uint8Array | undefined {
  if (packet.length < 1) return undefined;
  const version = packet[0] >> 4;
  if (version === 4) return icmpv4EchoReply(packet, ourAddresses);
  if (version === 6) return icmpv6EchoReply(packet, ourAddresses);
  return undefined;
}

function icmpv4EchoReply(
  packet: Uint8Array,
  ours: readonly Uint8Array[],
): Uint8Array | undefined {
  const headerLength = (packet[0] & 0x0f) * 4;
  if (headerLength < 20 || packet.length < headerLength + 8) return undefined;
  const totalLength = (packet[2] << 8) | packet[3];
  if (totalLength < headerLength + 8 || totalLength > packet.length) return undefined;
  const fragment = ((packet[6] << 8) | packet[7]) & 0x3fff; // MF flag and offset
  if (fragment !== 0 || packet[9] !== IPV4_PROTOCOL_ICMP) return undefined;
  if (onesComplementSum(packet.subarray(0, headerLength)) !== 0xffff) return undefined;
  const destination = packet.subarray(16, 20);
  if (!ours.some((ip) => ipAddressEquals(ip, destination))) return undefined;
  const icmp = packet.subarray(headerLength, totalLength);
  if (icmp[0] !== ICMPV4_ECHO_REQUEST || icmp[1] !== 0) return undefined;
  if (onesComplementSum(icmp) !== 0xffff) return undefined;

  // A 20-byte header without options: options are not echoed (RFC 1122 §3.2.2.6 allows this).
  const reply = new Uint8Array(20 + icmp.length);
  reply[0] = 0x45;
  reply[1] = packet[1];
  reply[2] = reply.length >> 8;
  reply[3] = reply.length & 0xff;
  reply[4] = packet[4]; // identification: any value will do for an unfragmented packet
  reply[5] = packet[5];
  reply[8] = REPLY_TTL;
  reply[9] = IPV4_PROTOCOL_ICMP;
  reply.set(destination, 12);
  reply.set(packet.subarray(12, 16), 16);
  writeChecksum(reply, 10, onesComplementSum(reply.subarray(0, 20)));
  reply.set(icmp, 20);
  reply[20] = ICMPV4_ECHO_REPLY;
  reply[22] = 0;
  reply[23] = 0;
  writeChecksum(reply, 22, onesComplementSum(reply.subarray(20)));
  return reply;
}

/** The ICMPv6 pseudo-header sum (RFC 8200 §8.1) over addresses, length and next header. */
function icmpv6PseudoHeaderSum(source: Uint8Array, destination: Uint8Array, length: number) {
  let sum = onesComplementSum(source);
  sum = onesComplementSum(destination, sum);
  sum += (length >>> 16) + (length & 0xffff) + IPV6_NEXT_HEADER_ICMPV6;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function icmpv6EchoReply(
  packet: Uint8Array,
  ours: readonly Uint8Array[],
): Uint8Array | undefined {
  if (packet.length < IPV6_HEADER_LENGTH + 8) return undefined;
  // Extension headers are not followed: an echo request with them is not answered.
  if (packet[6] !== IPV6_NEXT_HEADER_ICMPV6) return undefined;
  const payloadLength = (packet[4] << 8) | packet[5];
  if (payloadLength < 8 || IPV6_HEADER_LENGTH + payloadLength > packet.length) return undefined;
  const source = packet.subarray(8, 24);
  const destination = packet.subarray(24, 40);
  if (!ours.some((ip) => ipAddressEquals(ip, destination))) return undefined;
  const icmp = packet.subarray(IPV6_HEADER_LENGTH, IPV6_HEADER_LENGTH + payloadLength);
  if (icmp[0] !== ICMPV6_ECHO_REQUEST || icmp[1] !== 0) return undefined;
  if (onesComplementSum(icmp, icmpv6PseudoHeaderSum(source, destination, icmp.length)) !== 0xffff) {
    return undefined;
  }
  const reply = new Uint8Array(IPV6_HEADER_LENGTH + icmp.length);
  reply.set(packet.subarray(0, 4)); // version, traffic class, flow label
  reply[4] = icmp.length >> 8;
  reply[5] = icmp.length & 0xff;
  reply[6] = IPV6_NEXT_HEADER_ICMPV6;
  reply[7] = REPLY_TTL;
  reply.set(destination, 8);
  reply.set(source, 24);
  reply.set(icmp, IPV6_HEADER_LENGTH);
  reply[40] = ICMPV6_ECHO_REPLY;
  reply[42] = 0;
  reply[43] = 0;
  const sum = onesComplementSum(
    reply.subarray(IPV6_HEADER_LENGTH),
    icmpv6PseudoHeaderSum(destination, source, icmp.length),
  );
  writeChecksum(reply, 42, sum);
  return reply;
}
