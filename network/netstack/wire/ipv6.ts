/**
 * IPv6 packets (RFC 8200): the 40-byte fixed header, parsed into a typed view
 * over the caller's bytes, with the extension-header chain walked (§4) far
 * enough to find the upper-layer protocol and its bytes. Fragments are
 * recognised and reported, never reassembled. Emitting writes the fixed
 * header only; this stack originates no extension headers.
 *
 * @module
 */
import { IPProtocol } from "../../netaddr/ip_protocol.ts";
import { WireError } from "./wire_error.ts";

/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LENGTH = 40;
/** Default hop limit for packets we originate (the value Tailscale uses, reference §5). */
export const IPV6_DEFAULT_HOP_LIMIT = 64;

/** The Fragment extension header's fields (RFC 8200 §4.5). */
export interface IPv6Fragment {
  /** Fragment offset in bytes (the field × 8). */
  readonly offset: number;
  /** M flag: more fragments follow. */
  readonly moreFragments: boolean;
  /** Identification. */
  readonly identification: number;
}

/**
 * An IPv6 packet as parsed. `src`, `dst` and `payload` are subarrays of the
 * parsed bytes, not copies.
 */
export interface IPv6Packet {
  /** Always 6: lets `IPv4Packet | IPv6Packet` be told apart. */
  readonly version: 6;
  /** Traffic class (DSCP and ECN). */
  readonly trafficClass: number;
  /** Flow label, 20 bits. */
  readonly flowLabel: number;
  /** Payload length field: everything after the fixed header. Bytes past it are ignored. */
  readonly payloadLength: number;
  /** The fixed header's next-header field. */
  readonly nextHeader: number;
  /** Hop limit. */
  readonly hopLimit: number;
  /** Source address, 16 bytes. */
  readonly src: Uint8Array;
  /** Destination address, 16 bytes. */
  readonly dst: Uint8Array;
  /**
   * The upper-layer protocol found at the end of the extension-header chain
   * (`IPProtocol`; 59 when there is none).
   */
  readonly protocol: number;
  /** Offset of the upper-layer bytes from the start of the packet. */
  readonly upperLayerOffset: number;
  /** The upper-layer bytes (for a non-first fragment, the fragment's data). */
  readonly payload: Uint8Array;
  /** Extension header types walked, in order. */
  readonly extensionHeaders: readonly number[];
  /** The Fragment header, when there is one. */
  readonly fragment: IPv6Fragment | null;
  /** Whether this is any fragment; the payload is then partial. */
  readonly isFragment: boolean;
}

/** Options for {@link parseIPv6Packet}. */
export interface IPv6ParseOptions {
  /**
   * Accept a packet shorter than its payload length says, the payload being
   * what is there (default false): for the packet an ICMPv6 error quotes
   * (RFC 4443 §3.1).
   */
  allowTruncated?: boolean;
}

/**
 * Parses an IPv6 packet and walks its extension headers. Throws a
 * {@link WireError}: `bad-version`, `truncated`, `bad-field` (Hop-by-Hop not
 * first), or `unsupported` (ESP, which cannot be walked past; jumbograms).
 *
 * @example
 * ```ts
 * const ip = parseIPv6Packet(bytes);
 * if (ip.protocol === IPProtocol.ICMPv6 && !ip.isFragment) handleICMPv6(ip.payload);
 * ```
 */
export function parseIPv6Packet(
  bytes: Uint8Array,
  options: IPv6ParseOptions = {},
): IPv6Packet {
  if (bytes.length < IPV6_HEADER_LENGTH) {
    throw new WireError("truncated", `IPv6 header needs 40 bytes, have ${bytes.length}`);
  }
  const version = bytes[0] >> 4;
  if (version !== 6) throw new WireError("bad-version", `IP version ${version}, expected 6`);
  const payloadLength = (bytes[4] << 8) | bytes[5];
  let end = IPV6_HEADER_LENGTH + payloadLength;
  if (end > bytes.length && options.allowTruncated) end = bytes.length;
  if (end > bytes.length) {
    throw new WireError(
      "truncated",
      `IPv6 payload length ${payloadLength}, have ${bytes.length - 40}`,
    );
  }
  const nextHeader = bytes[6];
  const extensionHeaders: number[] = [];
  let fragment: IPv6Fragment | null = null;
  let protocol = nextHeader;
  let offset = IPV6_HEADER_LENGTH;
  walk: while (true) {
    switch (protocol) {
      case IPProtocol.HopByHop:
        // RFC 8200 §4.1: Hop-by-Hop Options may appear only right after the fixed header.
        if (offset !== IPV6_HEADER_LENGTH) {
          throw new WireError("bad-field", "IPv6 Hop-by-Hop header not first");
        }
        if (payloadLength === 0) {
          throw new WireError("unsupported", "IPv6 jumbogram (RFC 2675)");
        }
        // falls through
      case IPProtocol.IPv6Routing:
      case IPProtocol.IPv6DestinationOptions:
      case IPProtocol.MobilityHeader:
      case IPProtocol.HIP:
      case IPProtocol.Shim6:
      case IPProtocol.AH: {
        if (offset + 2 > end) throw new WireError("truncated", `IPv6 extension header ${protocol}`);
        // AH counts 4-byte units minus two (RFC 4302 §2.2); the rest 8-byte units minus one (§4).
        const length = protocol === IPProtocol.AH
          ? (bytes[offset + 1] + 2) * 4
          : (bytes[offset + 1] + 1) * 8;
        if (offset + length > end) {
          throw new WireError("truncated", `IPv6 extension header ${protocol} of ${length} bytes`);
        }
        extensionHeaders.push(protocol);
        protocol = bytes[offset];
        offset += length;
        break;
      }
      case IPProtocol.IPv6Fragment: {
        if (offset + 8 > end) throw new WireError("truncated", "IPv6 Fragment header");
        if (fragment) throw new WireError("bad-field", "two IPv6 Fragment headers");
        const word = (bytes[offset + 2] << 8) | bytes[offset + 3];
        fragment = {
          offset: (word >> 3) * 8,
          moreFragments: (word & 1) !== 0,
          identification: ((bytes[offset + 4] << 24) | (bytes[offset + 5] << 16) |
            (bytes[offset + 6] << 8) | bytes[offset + 7]) >>> 0,
        };
        extensionHeaders.push(protocol);
        protocol = bytes[offset];
        offset += 8;
        // Past a non-first fragment's header lies the middle of the upper-layer data.
        if (fragment.offset !== 0) break walk;
        break;
      }
      case IPProtocol.ESP:
        throw new WireError("unsupported", "IPv6 ESP header cannot be walked past");
      default:
        break walk;
    }
  }
  return {
    version: 6,
    trafficClass: ((bytes[0] & 0x0f) << 4) | (bytes[1] >> 4),
    flowLabel: ((bytes[1] & 0x0f) << 16) | (bytes[2] << 8) | bytes[3],
    payloadLength,
    nextHeader,
    hopLimit: bytes[7],
    src: bytes.subarray(8, 24),
    dst: bytes.subarray(24, 40),
    protocol,
    upperLayerOffset: offset,
    payload: bytes.subarray(offset, end),
    extensionHeaders,
    fragment,
    isFragment: fragment !== null && (fragment.offset !== 0 || fragment.moreFragments),
  };
}

/** What {@link emitIPv6Header} writes. Omitted fields default as noted. */
export interface IPv6HeaderFields {
  /** Source address, 16 bytes. */
  src: Uint8Array;
  /** Destination address, 16 bytes. */
  dst: Uint8Array;
  /** Next header (the upper-layer protocol). */
  nextHeader: number;
  /** Bytes that will follow the fixed header. */
  payloadLength: number;
  /** Hop limit (default 64). */
  hopLimit?: number;
  /** Traffic class (default 0). */
  trafficClass?: number;
  /** Flow label, 20 bits (default 0). */
  flowLabel?: number;
}

/**
 * Writes a fixed IPv6 header at `buffer[offset]` and returns 40. Throws a
 * {@link WireError} (`buffer-too-small`, `bad-field`).
 *
 * @example
 * ```ts
 * emitIPv6Header({ src, dst, nextHeader: IPProtocol.ICMPv6, payloadLength: 16 }, buf);
 * ```
 */
export function emitIPv6Header(fields: IPv6HeaderFields, buffer: Uint8Array, offset = 0): number {
  if (fields.src.length !== 16 || fields.dst.length !== 16) {
    throw new WireError("bad-field", "IPv6 addresses must be 16 bytes");
  }
  const length = fields.payloadLength;
  if (!Number.isInteger(length) || length < 0 || length > 0xffff) {
    throw new WireError("bad-field", `IPv6 payload length ${length}`);
  }
  if (buffer.length - offset < IPV6_HEADER_LENGTH) {
    throw new WireError("buffer-too-small", "IPv6 header needs 40 bytes");
  }
  const h = buffer.subarray(offset, offset + IPV6_HEADER_LENGTH);
  const tc = (fields.trafficClass ?? 0) & 0xff;
  const flow = (fields.flowLabel ?? 0) & 0xfffff;
  h[0] = 0x60 | (tc >> 4);
  h[1] = ((tc & 0x0f) << 4) | (flow >> 16);
  h[2] = (flow >> 8) & 0xff;
  h[3] = flow & 0xff;
  h[4] = length >> 8;
  h[5] = length & 0xff;
  h[6] = fields.nextHeader & 0xff;
  h[7] = (fields.hopLimit ?? IPV6_DEFAULT_HOP_LIMIT) & 0xff;
  h.set(fields.src, 8);
  h.set(fields.dst, 24);
  return IPV6_HEADER_LENGTH;
}
