/**
 * Answering ICMP echo requests (ping) addressed to this node: the first
 * thing a tsnet-like node must do, and what gVisor's ICMP handling does for
 * tailscaled's netstack (data-plane reference §7.3). Pure: packet in, reply
 * packet (or nothing) out.
 *
 * @module
 */
import { ipAddressEquals, isMulticastIP } from "../netaddr/ip_address.ts";
import { emitICMPv4Echo, ICMPV4_HEADER_LENGTH, parseICMPv4Message } from "./wire/icmpv4.ts";
import {
  emitICMPv6Echo,
  ICMPV6_HEADER_LENGTH,
  parseICMPv6Message,
  verifyICMPv6Checksum,
} from "./wire/icmpv6.ts";
import { IPProtocol } from "../netaddr/ip_protocol.ts";
import { emitIPv4Header, IPV4_MIN_HEADER_LENGTH } from "./wire/ipv4.ts";
import { emitIPv6Header, IPV6_HEADER_LENGTH } from "./wire/ipv6.ts";
import { type IPPacket, parseIPPacket } from "./wire/ip_packet.ts";
import { WireError } from "./wire/wire_error.ts";

/**
 * The echo reply to `packet` if it is an ICMPv4 or ICMPv6 echo request
 * addressed to one of `localAddresses` (4- or 16-byte addresses), else null.
 *
 * The reply swaps the addresses, changes the type (8 → 0, 128 → 129), keeps
 * identifier, sequence and data, and carries a fresh IP header (TTL / hop
 * limit 64, no IPv4 options, no IPv6 extension headers) and checksum.
 * Nothing is answered for malformed packets, bad checksums, fragments,
 * multicast, broadcast or unspecified sources, or other destinations.
 *
 * The reply is written to `out` (returned as a subarray of it) when given,
 * else to a new buffer; `out` must not overlap `packet`. Never throws for
 * the packet's content; throws a `WireError` `buffer-too-small` when `out`
 * cannot hold the reply.
 *
 * @example
 * ```ts
 * const reply = buildEchoReply(decrypted, [ourIPv4, ourIPv6]);
 * if (reply) wireguard.send(reply);
 * ```
 */
export function buildEchoReply(
  packet: Uint8Array,
  localAddresses: readonly Uint8Array[],
  out?: Uint8Array,
): Uint8Array | null {
  let ip: IPPacket;
  try {
    ip = parseIPPacket(packet);
  } catch (e) {
    if (e instanceof WireError) return null;
    throw e;
  }
  if (ip.isFragment || !isLocal(ip.dst, localAddresses) || !isUnicastSource(ip.src)) return null;
  if (ip.version === 4) {
    if (ip.protocol !== IPProtocol.ICMPv4 || ip.payload.length < ICMPV4_HEADER_LENGTH) return null;
    let icmp;
    try {
      icmp = parseICMPv4Message(ip.payload);
    } catch (e) {
      if (e instanceof WireError) return null;
      throw e;
    }
    if (icmp.kind !== "echo-request" || icmp.code !== 0) return null;
    const length = IPV4_MIN_HEADER_LENGTH + ip.payload.length;
    const buffer = target(out, length);
    emitIPv4Header({
      src: ip.dst,
      dst: ip.src,
      protocol: IPProtocol.ICMPv4,
      payloadLength: ip.payload.length,
      identification: ip.identification,
      dscp: ip.dscp,
    }, buffer);
    emitICMPv4Echo(
      {
        kind: "echo-reply",
        identifier: icmp.identifier,
        sequence: icmp.sequence,
        data: icmp.data,
      },
      buffer,
      IPV4_MIN_HEADER_LENGTH,
    );
    return buffer;
  }
  if (ip.protocol !== IPProtocol.ICMPv6 || ip.payload.length < ICMPV6_HEADER_LENGTH) return null;
  if (!verifyICMPv6Checksum(ip.src, ip.dst, ip.payload)) return null;
  const icmp = parseICMPv6Message(ip.payload);
  if (icmp.kind !== "echo-request" || icmp.code !== 0) return null;
  const length = IPV6_HEADER_LENGTH + ip.payload.length;
  const buffer = target(out, length);
  emitIPv6Header({
    src: ip.dst,
    dst: ip.src,
    nextHeader: IPProtocol.ICMPv6,
    payloadLength: ip.payload.length,
    trafficClass: ip.trafficClass,
  }, buffer);
  emitICMPv6Echo(
    {
      kind: "echo-reply",
      identifier: icmp.identifier,
      sequence: icmp.sequence,
      data: icmp.data,
    },
    buffer,
    ip.dst,
    ip.src,
    IPV6_HEADER_LENGTH,
  );
  return buffer;
}

function target(out: Uint8Array | undefined, length: number): Uint8Array {
  if (!out) return new Uint8Array(length);
  if (out.length < length) {
    throw new WireError("buffer-too-small", `echo reply needs ${length} bytes`);
  }
  return out.subarray(0, length);
}

function isLocal(dst: Uint8Array, localAddresses: readonly Uint8Array[]): boolean {
  for (const address of localAddresses) if (ipAddressEquals(address, dst)) return true;
  return false;
}

// RFC 1122 §3.2.2.6 and RFC 4443 §4.2: replies go to unicast sources only.
function isUnicastSource(src: Uint8Array): boolean {
  if (isMulticastIP(src)) return false;
  let allZero = true, allOnes = true;
  for (const b of src) {
    if (b !== 0) allZero = false;
    if (b !== 0xff) allOnes = false;
  }
  return !allZero && !(src.length === 4 && allOnes);
}
