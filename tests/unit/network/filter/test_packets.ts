/**
 * Builds IPv4/IPv6 packets for filter tests: just the headers the filter
 * reads, with correct lengths (checksums are not the filter's business).
 */

import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";

/** What to put in a test packet. */
export interface TestPacket {
  /** Source address text. */
  src: string;
  /** Destination address text. */
  dst: string;
  /** IP protocol number. */
  proto: number;
  /** Source port (TCP/UDP/SCTP). */
  srcPort?: number;
  /** Destination port (TCP/UDP/SCTP). */
  dstPort?: number;
  /** TCP flags byte (default SYN). */
  tcpFlags?: number;
  /** ICMP type (default echo request for the family). */
  icmpType?: number;
  /** ICMP code. */
  icmpCode?: number;
  /** Payload length after the transport header. */
  payload?: number;
  /** Transport header length override (to make truncated packets). */
  transportLength?: number;
  /** IPv4 flags+fragment-offset field, or for IPv6 a fragment header with this offset field. */
  fragment?: number;
}

function transportLength(p: TestPacket): number {
  if (p.transportLength !== undefined) return p.transportLength;
  switch (p.proto) {
    case 6:
      return 20;
    case 17:
      return 8;
    case 132:
      return 12;
    case 1:
    case 58:
      return 8;
    case 99:
      return 7;
    default:
      return 8;
  }
}

/** Builds the packet. */
export function buildPacket(p: TestPacket): Uint8Array {
  const src = parseIPAddress(p.src), dst = parseIPAddress(p.dst);
  if (!src || !dst || src.length !== dst.length) throw new Error(`bad addresses ${p.src} ${p.dst}`);
  const v4 = src.length === 4;
  const fragmentHeader = !v4 && p.fragment !== undefined ? 8 : 0;
  const header = (v4 ? 20 : 40) + fragmentHeader;
  const transport = transportLength(p);
  const out = new Uint8Array(header + transport + (p.payload ?? 0));
  if (v4) {
    out[0] = 0x45;
    out[2] = out.length >> 8;
    out[3] = out.length & 0xff;
    if (p.fragment !== undefined) {
      out[6] = p.fragment >> 8;
      out[7] = p.fragment & 0xff;
    }
    out[8] = 64;
    out[9] = p.proto;
    out.set(src, 12);
    out.set(dst, 16);
  } else {
    out[0] = 0x60;
    const payloadLength = out.length - 40;
    out[4] = payloadLength >> 8;
    out[5] = payloadLength & 0xff;
    out[6] = fragmentHeader ? 44 : p.proto;
    out[7] = 64;
    out.set(src, 8);
    out.set(dst, 24);
    if (fragmentHeader) {
      out[40] = p.proto;
      out[42] = p.fragment! >> 8;
      out[43] = p.fragment! & 0xff;
    }
  }
  const t = header;
  if (transport >= 4 && (p.proto === 6 || p.proto === 17 || p.proto === 132)) {
    const sp = p.srcPort ?? 40000, dp = p.dstPort ?? 0;
    out[t] = sp >> 8;
    out[t + 1] = sp & 0xff;
    out[t + 2] = dp >> 8;
    out[t + 3] = dp & 0xff;
    if (p.proto === 6 && transport >= 14) {
      out[t + 12] = 5 << 4;
      out[t + 13] = p.tcpFlags ?? 0x02;
    }
  } else if (transport >= 2 && (p.proto === 1 || p.proto === 58)) {
    out[t] = p.icmpType ?? (p.proto === 1 ? 8 : 128);
    out[t + 1] = p.icmpCode ?? 0;
  }
  return out;
}
