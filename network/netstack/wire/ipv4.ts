/**
 * IPv4 headers (RFC 791 §3.1): parse into a typed view over the caller's
 * bytes, and emit into a caller's buffer with the header checksum filled in.
 * Fragments are recognised and reported, never reassembled: Tailscale's
 * netstack has no use for them and the filter passes non-first fragments
 * without inspection (data-plane reference §6.4).
 *
 * @module
 */
import { internetChecksum } from "./checksum.ts";
import { WireError } from "./wire_error.ts";

/** Length of an IPv4 header without options. */
export const IPV4_MIN_HEADER_LENGTH = 20;
/** Longest IPv4 header: IHL 15 × 4 bytes. */
export const IPV4_MAX_HEADER_LENGTH = 60;
/** Default TTL for packets we originate (the value Tailscale uses, reference §5). */
export const IPV4_DEFAULT_TTL = 64;

/**
 * An IPv4 packet as parsed. `src`, `dst`, `options` and `payload` are
 * subarrays of the parsed bytes, not copies.
 */
export interface IPv4Packet {
  /** Always 4: lets `IPv4Packet | IPv6Packet` be told apart. */
  readonly version: 4;
  /** Header length in bytes (IHL × 4), 20–60. */
  readonly headerLength: number;
  /** Differentiated Services code point (RFC 2474), the upper 6 bits of the old TOS byte. */
  readonly dscp: number;
  /** ECN field (RFC 3168), the lower 2 bits of the old TOS byte. */
  readonly ecn: number;
  /** Total length field: header plus payload. Bytes past it (link padding) are ignored. */
  readonly totalLength: number;
  /** Identification field. */
  readonly identification: number;
  /** DF flag. */
  readonly dontFragment: boolean;
  /** MF flag. */
  readonly moreFragments: boolean;
  /** Fragment offset in bytes (the field × 8). */
  readonly fragmentOffset: number;
  /** Whether this is any fragment (MF set or a non-zero offset); the payload is then partial. */
  readonly isFragment: boolean;
  /** Time to live. */
  readonly ttl: number;
  /** Protocol field (`IPProtocol`). */
  readonly protocol: number;
  /** Header checksum as found. */
  readonly checksum: number;
  /** Source address, 4 bytes. */
  readonly src: Uint8Array;
  /** Destination address, 4 bytes. */
  readonly dst: Uint8Array;
  /** Options bytes (headerLength − 20 of them), unparsed. */
  readonly options: Uint8Array;
  /** The bytes after the header, up to the total length. */
  readonly payload: Uint8Array;
}

/** Options for {@link parseIPv4Packet}. */
export interface IPv4ParseOptions {
  /** Reject a header whose checksum does not verify (default true). */
  verifyChecksum?: boolean;
  /**
   * Accept a packet shorter than its length field says, the payload being
   * what is there (default false): for the packet an ICMP error quotes,
   * which is cut after its first bytes (RFC 792, RFC 4443 §3.1).
   */
  allowTruncated?: boolean;
}

/**
 * Parses an IPv4 packet. Throws a {@link WireError}: `bad-version`,
 * `truncated`, `bad-header-length`, `bad-length` or `bad-checksum`.
 *
 * @example
 * ```ts
 * const ip = parseIPv4Packet(bytes);
 * if (!ip.isFragment && ip.protocol === IPProtocol.TCP) handleTCP(ip.payload);
 * ```
 */
export function parseIPv4Packet(bytes: Uint8Array, options: IPv4ParseOptions = {}): IPv4Packet {
  if (bytes.length < IPV4_MIN_HEADER_LENGTH) {
    throw new WireError("truncated", `IPv4 header needs 20 bytes, have ${bytes.length}`);
  }
  const version = bytes[0] >> 4;
  if (version !== 4) throw new WireError("bad-version", `IP version ${version}, expected 4`);
  const headerLength = (bytes[0] & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER_LENGTH) {
    throw new WireError("bad-header-length", `IPv4 IHL ${headerLength / 4} is below 5`);
  }
  if (headerLength > bytes.length) {
    throw new WireError("truncated", `IPv4 header of ${headerLength} bytes, have ${bytes.length}`);
  }
  const totalLength = (bytes[2] << 8) | bytes[3];
  if (totalLength < headerLength) {
    throw new WireError("bad-length", `IPv4 total length ${totalLength} < header ${headerLength}`);
  }
  if (totalLength > bytes.length && !options.allowTruncated) {
    throw new WireError("truncated", `IPv4 total length ${totalLength}, have ${bytes.length}`);
  }
  const header = bytes.subarray(0, headerLength);
  if (options.verifyChecksum !== false && internetChecksum(header) !== 0) {
    throw new WireError("bad-checksum", "IPv4 header checksum does not verify");
  }
  const flagsFragment = (bytes[6] << 8) | bytes[7];
  const moreFragments = (flagsFragment & 0x2000) !== 0;
  const fragmentOffset = (flagsFragment & 0x1fff) * 8;
  return {
    version: 4,
    headerLength,
    dscp: bytes[1] >> 2,
    ecn: bytes[1] & 0x03,
    totalLength,
    identification: (bytes[4] << 8) | bytes[5],
    dontFragment: (flagsFragment & 0x4000) !== 0,
    moreFragments,
    fragmentOffset,
    isFragment: moreFragments || fragmentOffset !== 0,
    ttl: bytes[8],
    protocol: bytes[9],
    checksum: (bytes[10] << 8) | bytes[11],
    src: bytes.subarray(12, 16),
    dst: bytes.subarray(16, 20),
    options: bytes.subarray(IPV4_MIN_HEADER_LENGTH, headerLength),
    payload: bytes.subarray(headerLength, Math.min(totalLength, bytes.length)),
  };
}

/** What {@link emitIPv4Header} writes. Omitted fields default as noted. */
export interface IPv4HeaderFields {
  /** Source address, 4 bytes. */
  src: Uint8Array;
  /** Destination address, 4 bytes. */
  dst: Uint8Array;
  /** Protocol field. */
  protocol: number;
  /** Bytes that will follow the header (total length = header + this). */
  payloadLength: number;
  /** TTL (default 64). */
  ttl?: number;
  /** Identification (default 0). */
  identification?: number;
  /** DSCP (default 0). */
  dscp?: number;
  /** ECN (default 0). */
  ecn?: number;
  /** DF flag (default false). */
  dontFragment?: boolean;
  /** MF flag (default false). */
  moreFragments?: boolean;
  /** Fragment offset in bytes, a multiple of 8 (default 0). */
  fragmentOffset?: number;
  /** Raw options, a multiple of 4 bytes, at most 40 (default none). */
  options?: Uint8Array;
}

/** The header length {@link emitIPv4Header} will write for `fields`. */
export function ipv4HeaderLength(fields: IPv4HeaderFields): number {
  return IPV4_MIN_HEADER_LENGTH + (fields.options?.length ?? 0);
}

/**
 * Writes an IPv4 header for `fields` at `buffer[offset]`, checksum included,
 * and returns its length. The payload is the caller's to place after it.
 * Throws a {@link WireError} (`buffer-too-small`, `bad-field`).
 *
 * @example
 * ```ts
 * const n = emitIPv4Header({ src, dst, protocol: IPProtocol.UDP, payloadLength: 8 }, buf);
 * emitUDPDatagram({ srcPort, dstPort }, buf.subarray(n), src, dst);
 * ```
 */
export function emitIPv4Header(fields: IPv4HeaderFields, buffer: Uint8Array, offset = 0): number {
  const optionsLength = fields.options?.length ?? 0;
  if (optionsLength % 4 !== 0 || optionsLength > IPV4_MAX_HEADER_LENGTH - IPV4_MIN_HEADER_LENGTH) {
    throw new WireError("bad-field", `IPv4 options of ${optionsLength} bytes`);
  }
  if (fields.src.length !== 4 || fields.dst.length !== 4) {
    throw new WireError("bad-field", "IPv4 addresses must be 4 bytes");
  }
  const headerLength = IPV4_MIN_HEADER_LENGTH + optionsLength;
  const totalLength = headerLength + fields.payloadLength;
  if (!Number.isInteger(fields.payloadLength) || fields.payloadLength < 0 || totalLength > 0xffff) {
    throw new WireError("bad-field", `IPv4 total length ${totalLength}`);
  }
  const fragmentOffset = fields.fragmentOffset ?? 0;
  if (fragmentOffset % 8 !== 0 || fragmentOffset / 8 > 0x1fff || fragmentOffset < 0) {
    throw new WireError("bad-field", `IPv4 fragment offset ${fragmentOffset}`);
  }
  if (buffer.length - offset < headerLength) {
    throw new WireError("buffer-too-small", `IPv4 header needs ${headerLength} bytes`);
  }
  const h = buffer.subarray(offset, offset + headerLength);
  h[0] = 0x40 | (headerLength / 4);
  h[1] = (((fields.dscp ?? 0) & 0x3f) << 2) | ((fields.ecn ?? 0) & 0x03);
  h[2] = totalLength >> 8;
  h[3] = totalLength & 0xff;
  const id = fields.identification ?? 0;
  h[4] = (id >> 8) & 0xff;
  h[5] = id & 0xff;
  const flags = (fields.dontFragment ? 0x4000 : 0) | (fields.moreFragments ? 0x2000 : 0) |
    (fragmentOffset / 8);
  h[6] = flags >> 8;
  h[7] = flags & 0xff;
  h[8] = (fields.ttl ?? IPV4_DEFAULT_TTL) & 0xff;
  h[9] = fields.protocol & 0xff;
  h[10] = 0;
  h[11] = 0;
  h.set(fields.src, 12);
  h.set(fields.dst, 16);
  if (fields.options) h.set(fields.options, IPV4_MIN_HEADER_LENGTH);
  const checksum = internetChecksum(h);
  h[10] = checksum >> 8;
  h[11] = checksum & 0xff;
  return headerLength;
}
