/**
 * ICMP errors, both ways. Outbound: port unreachable for UDP to a closed
 * port (ICMPv4 type 3 code 3, RFC 792; ICMPv6 type 1 code 4, RFC 4443
 * §3.1), quoting as much of the offending packet as RFC 1812 §4.3.2.3
 * (576 bytes in all) and RFC 4443 §2.4 (c) (1280) allow, never for
 * packets that must not be answered (RFC 1122 §3.2.2, RFC 4443 §2.4 (e)).
 * Inbound: which of our TCP segments an error quotes, and what it says.
 *
 * @module
 */
import { isMulticastIP } from "../netaddr/ip_address.ts";
import { IPProtocol } from "../netaddr/ip_protocol.ts";
import { allocateIPPacket } from "./ip_output.ts";
import { emitICMPv4DestinationUnreachable, ICMPv4UnreachableCode } from "./wire/icmpv4.ts";
import { parseICMPv4Message } from "./wire/icmpv4.ts";
import {
  emitICMPv6DestinationUnreachable,
  ICMPv6UnreachableCode,
  parseICMPv6Message,
  verifyICMPv6Checksum,
} from "./wire/icmpv6.ts";
import { ICMP_HEADER_LENGTH } from "./wire/icmp_message.ts";
import { type IPPacket, parseIPPacket } from "./wire/ip_packet.ts";
import { WireError } from "./wire/wire_error.ts";
import type { IcmpErrorKind } from "./tcp/segment_input.ts";

const IPV4_ERROR_LIMIT = 576;
const IPV6_ERROR_LIMIT = 1280;

/**
 * The port-unreachable error for `packet` (parsed as `ip`), or null when
 * its source must not get one (unspecified, multicast, broadcast).
 */
export function buildPortUnreachable(
  packet: Uint8Array,
  ip: IPPacket,
  identification: number,
): Uint8Array | null {
  if (!isUnicast(ip.src)) return null;
  const limit = ip.version === 4 ? IPV4_ERROR_LIMIT : IPV6_ERROR_LIMIT;
  const headerLength = ip.version === 4 ? 20 : 40;
  const quoteLength = Math.min(packet.length, limit - headerLength - ICMP_HEADER_LENGTH);
  const original = packet.subarray(0, quoteLength);
  const protocol = ip.version === 4 ? IPProtocol.ICMPv4 : IPProtocol.ICMPv6;
  const { packet: out, offset } = allocateIPPacket(
    ip.dst,
    ip.src,
    protocol,
    ICMP_HEADER_LENGTH + quoteLength,
    identification,
  );
  if (ip.version === 4) {
    emitICMPv4DestinationUnreachable({ code: ICMPv4UnreachableCode.Port, original }, out, offset);
  } else {
    emitICMPv6DestinationUnreachable(
      { code: ICMPv6UnreachableCode.Port, original },
      out,
      ip.dst,
      ip.src,
      offset,
    );
  }
  return out;
}

/** What an arriving ICMP error says about one of our TCP segments. */
export interface QuotedTcpError {
  /** What went wrong. */
  kind: IcmpErrorKind;
  /** Our address in the quoted segment. */
  local: Uint8Array;
  /** Our port. */
  localPort: number;
  /** The peer's address the segment went to. */
  remote: Uint8Array;
  /** The peer's port. */
  remotePort: number;
  /** The quoted segment's sequence number. */
  seq: number;
  /** Next-hop MTU for "packet too big", else undefined. */
  mtu?: number;
}

/**
 * Reads an ICMPv4 or ICMPv6 error (`ip` is its packet) quoting a TCP
 * segment; null for anything else, malformed bytes included (never throws
 * for the packet's content).
 */
export function parseTcpIcmpError(ip: IPPacket): QuotedTcpError | null {
  let kind: IcmpErrorKind | undefined;
  let original: Uint8Array;
  let mtu: number | undefined;
  try {
    if (ip.version === 4) {
      const m = parseICMPv4Message(ip.payload);
      if (m.kind === "time-exceeded") kind = "time-exceeded";
      else if (m.kind === "destination-unreachable") kind = v4Kind(m.code);
      else return null;
      if (kind === "packet-too-big") mtu = m.nextHopMTU;
      original = m.original;
    } else {
      if (!verifyICMPv6Checksum(ip.src, ip.dst, ip.payload)) return null;
      const m = parseICMPv6Message(ip.payload);
      if (m.kind === "destination-unreachable") kind = v6Kind(m.code);
      else if (m.kind === "packet-too-big") {
        kind = "packet-too-big";
        mtu = m.value;
      } else if (m.kind === "time-exceeded") kind = "time-exceeded";
      else if (m.kind === "parameter-problem" && m.code === 1) kind = "protocol-unreachable";
      else return null;
      original = m.original;
    }
    if (!kind) return null;
    const quoted = parseIPPacket(original, { allowTruncated: true, verifyChecksum: false });
    if (quoted.version !== ip.version || quoted.protocol !== IPProtocol.TCP) return null;
    const t = quoted.payload;
    if (t.length < 8 || quoted.isFragment) return null;
    return {
      kind,
      local: quoted.src,
      localPort: (t[0] << 8) | t[1],
      remote: quoted.dst,
      remotePort: (t[2] << 8) | t[3],
      seq: ((t[4] << 24) | (t[5] << 16) | (t[6] << 8) | t[7]) >>> 0,
      mtu,
    };
  } catch (error) {
    if (error instanceof WireError) return null;
    throw error;
  }
}

function v4Kind(code: number): IcmpErrorKind {
  switch (code) {
    case ICMPv4UnreachableCode.Port:
      return "port-unreachable";
    case ICMPv4UnreachableCode.Protocol:
      return "protocol-unreachable";
    case ICMPv4UnreachableCode.FragmentationNeeded:
      return "packet-too-big";
    case ICMPv4UnreachableCode.AdministrativelyProhibited:
    case 9:
    case 10:
      return "admin-prohibited";
    default:
      return "host-unreachable";
  }
}

function v6Kind(code: number): IcmpErrorKind {
  switch (code) {
    case ICMPv6UnreachableCode.Port:
      return "port-unreachable";
    case ICMPv6UnreachableCode.AdministrativelyProhibited:
      return "admin-prohibited";
    default:
      return "host-unreachable";
  }
}

function isUnicast(ip: Uint8Array): boolean {
  if (isMulticastIP(ip)) return false;
  let zero = true, ones = true;
  for (const b of ip) {
    if (b !== 0) zero = false;
    if (b !== 0xff) ones = false;
  }
  return !zero && !(ip.length === 4 && ones);
}
