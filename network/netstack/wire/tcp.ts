/**
 * TCP segments (RFC 9293 §3.1): header fields, the options this stack uses
 * (MSS, window scale and timestamps from RFC 7323, SACK-permitted and SACK
 * blocks from RFC 2018), the checksum under the IPv4/IPv6 pseudo-header, and
 * emitting into a caller's buffer. The state machine lives elsewhere.
 *
 * @module
 */
import { checksumAdd, checksumFinish, pseudoHeaderSum } from "./checksum.ts";
import { IPProtocol } from "../../netaddr/ip_protocol.ts";
import { WireError } from "./wire_error.ts";

/** Length of a TCP header without options. */
export const TCP_MIN_HEADER_LENGTH = 20;
/** Longest TCP header: data offset 15 × 4 bytes. */
export const TCP_MAX_HEADER_LENGTH = 60;
/** The largest window-scale shift (RFC 7323 §2.3). */
export const TCP_MAX_WINDOW_SCALE = 14;

/** TCP control bits (RFC 9293 §3.1; CWR and ECE from RFC 3168). */
export const TCPFlags = {
  /** No more data from sender. */
  FIN: 0x01,
  /** Synchronize sequence numbers. */
  SYN: 0x02,
  /** Reset the connection. */
  RST: 0x04,
  /** Push function. */
  PSH: 0x08,
  /** Acknowledgment field is significant. */
  ACK: 0x10,
  /** Urgent pointer field is significant. */
  URG: 0x20,
  /** ECN-Echo. */
  ECE: 0x40,
  /** Congestion Window Reduced. */
  CWR: 0x80,
} as const;

/** Option kinds (IANA "TCP Option Kind Numbers"). */
export const TCPOptionKind = {
  /** End of option list. */
  EndOfList: 0,
  /** No-operation (padding). */
  NoOperation: 1,
  /** Maximum segment size (RFC 9293 §3.2). */
  MaximumSegmentSize: 2,
  /** Window scale (RFC 7323 §2). */
  WindowScale: 3,
  /** SACK permitted (RFC 2018 §2). */
  SackPermitted: 4,
  /** SACK blocks (RFC 2018 §3). */
  Sack: 5,
  /** Timestamps (RFC 7323 §3). */
  Timestamps: 8,
} as const;

/** One SACK block: the sequence numbers of a received range [left, right). */
export interface SackBlock {
  /** First sequence number of the block. */
  left: number;
  /** Sequence number just past the block. */
  right: number;
}

/** The timestamps option's two values (RFC 7323 §3.2). */
export interface TCPTimestamps {
  /** TSval: the sender's clock. */
  value: number;
  /** TSecr: the TSval being echoed. */
  echoReply: number;
}

/** The options of one segment. Absent options are `undefined` (or false / empty). */
export interface TCPOptions {
  /** Maximum segment size (SYN only). */
  mss?: number;
  /** Window-scale shift as sent; receivers clamp above 14 (RFC 7323 §2.3). */
  windowScale?: number;
  /** SACK permitted (SYN only). */
  sackPermitted?: boolean;
  /** SACK blocks, 1–4 (empty or absent when none). */
  sackBlocks?: SackBlock[];
  /** Timestamps. */
  timestamps?: TCPTimestamps;
  /** Kinds of options present but not understood (skipped, as RFC 9293 §3.2 requires). */
  unknownKinds?: number[];
}

/** A TCP segment as parsed; `payload` and `rawOptions` are subarrays of the parsed bytes. */
export interface TCPSegment {
  /** Source port. */
  readonly srcPort: number;
  /** Destination port. */
  readonly dstPort: number;
  /** Sequence number (unsigned 32-bit). */
  readonly seq: number;
  /** Acknowledgment number (unsigned 32-bit). */
  readonly ack: number;
  /** Header length in bytes (data offset × 4), 20–60. */
  readonly headerLength: number;
  /** Control bits (`TCPFlags`). */
  readonly flags: number;
  /** The four reserved bits (should be zero; kept for diagnostics). */
  readonly reserved: number;
  /** Window, unscaled. */
  readonly window: number;
  /** Checksum as found. */
  readonly checksum: number;
  /** Urgent pointer. */
  readonly urgentPointer: number;
  /** The parsed options. */
  readonly options: TCPOptions;
  /** The option bytes, unparsed. */
  readonly rawOptions: Uint8Array;
  /** The data. */
  readonly payload: Uint8Array;
}

/**
 * Parses a TCP segment (an IP packet's payload, all of it: TCP has no length
 * field of its own). Throws a {@link WireError}: `truncated`,
 * `bad-header-length` or `bad-option`. Checksums are checked separately by
 * {@link verifyTCPChecksum}.
 *
 * @example
 * ```ts
 * const tcp = parseTCPSegment(ip.payload);
 * if (tcp.flags & TCPFlags.SYN) console.log(tcp.options.mss);
 * ```
 */
export function parseTCPSegment(bytes: Uint8Array): TCPSegment {
  if (bytes.length < TCP_MIN_HEADER_LENGTH) {
    throw new WireError("truncated", `TCP header needs 20 bytes, have ${bytes.length}`);
  }
  const headerLength = (bytes[12] >> 4) * 4;
  if (headerLength < TCP_MIN_HEADER_LENGTH) {
    throw new WireError("bad-header-length", `TCP data offset ${headerLength / 4} is below 5`);
  }
  if (headerLength > bytes.length) {
    throw new WireError("truncated", `TCP header of ${headerLength} bytes, have ${bytes.length}`);
  }
  const rawOptions = bytes.subarray(TCP_MIN_HEADER_LENGTH, headerLength);
  return {
    srcPort: (bytes[0] << 8) | bytes[1],
    dstPort: (bytes[2] << 8) | bytes[3],
    seq: readU32(bytes, 4),
    ack: readU32(bytes, 8),
    headerLength,
    flags: bytes[13],
    reserved: bytes[12] & 0x0f,
    window: (bytes[14] << 8) | bytes[15],
    checksum: (bytes[16] << 8) | bytes[17],
    urgentPointer: (bytes[18] << 8) | bytes[19],
    options: parseTCPOptions(rawOptions),
    rawOptions,
    payload: bytes.subarray(headerLength),
  };
}

/**
 * Parses TCP option bytes (RFC 9293 §3.2): End of List stops, NOP is
 * skipped, unknown kinds are skipped by their length. A known option with
 * the wrong length, or any option running past the end, is a
 * {@link WireError} `bad-option`.
 */
export function parseTCPOptions(bytes: Uint8Array): TCPOptions {
  const options: TCPOptions = {};
  let i = 0;
  while (i < bytes.length) {
    const kind = bytes[i];
    if (kind === TCPOptionKind.EndOfList) break;
    if (kind === TCPOptionKind.NoOperation) {
      i++;
      continue;
    }
    if (i + 1 >= bytes.length) {
      throw new WireError("bad-option", `TCP option ${kind} has no length`);
    }
    const length = bytes[i + 1];
    if (length < 2 || i + length > bytes.length) {
      throw new WireError("bad-option", `TCP option ${kind} length ${length}`);
    }
    const expect = (n: boolean) => {
      if (!n) throw new WireError("bad-option", `TCP option ${kind} length ${length}`);
    };
    switch (kind) {
      case TCPOptionKind.MaximumSegmentSize:
        expect(length === 4);
        options.mss = (bytes[i + 2] << 8) | bytes[i + 3];
        break;
      case TCPOptionKind.WindowScale:
        expect(length === 3);
        options.windowScale = bytes[i + 2];
        break;
      case TCPOptionKind.SackPermitted:
        expect(length === 2);
        options.sackPermitted = true;
        break;
      case TCPOptionKind.Sack: {
        expect(length >= 10 && (length - 2) % 8 === 0);
        const blocks: SackBlock[] = [];
        for (let j = i + 2; j < i + length; j += 8) {
          blocks.push({ left: readU32(bytes, j), right: readU32(bytes, j + 4) });
        }
        options.sackBlocks = blocks;
        break;
      }
      case TCPOptionKind.Timestamps:
        expect(length === 10);
        options.timestamps = { value: readU32(bytes, i + 2), echoReply: readU32(bytes, i + 6) };
        break;
      default:
        (options.unknownKinds ??= []).push(kind);
    }
    i += length;
  }
  return options;
}

/**
 * The number of option bytes {@link emitTCPOptions} writes for `options`
 * (a multiple of 4). Throws a {@link WireError} `bad-field` past 40 bytes.
 */
export function tcpOptionsLength(options: TCPOptions): number {
  let n = 0;
  if (options.mss !== undefined) n += 4;
  if (options.timestamps || options.sackPermitted) n += options.timestamps ? 12 : 4;
  if (options.windowScale !== undefined) n += 4;
  const blocks = options.sackBlocks?.length ?? 0;
  if (blocks > 0) n += 4 + 8 * blocks;
  if (n > TCP_MAX_HEADER_LENGTH - TCP_MIN_HEADER_LENGTH) {
    throw new WireError("bad-field", `TCP options need ${n} bytes, at most 40 fit`);
  }
  return n;
}

/**
 * Writes `options` at `buffer[offset]` in the layout Linux uses (MSS;
 * SACK-permitted and timestamps, NOP-padded; NOP and window scale; NOPs and
 * SACK blocks), each 4-byte aligned, and returns the bytes written. Unknown
 * kinds are not emitted. Throws a {@link WireError}.
 */
export function emitTCPOptions(options: TCPOptions, buffer: Uint8Array, offset = 0): number {
  const length = tcpOptionsLength(options);
  if (buffer.length - offset < length) {
    throw new WireError("buffer-too-small", `TCP options need ${length} bytes`);
  }
  let i = offset;
  if (options.mss !== undefined) {
    if (options.mss < 0 || options.mss > 0xffff) throw new WireError("bad-field", "TCP MSS");
    buffer[i++] = TCPOptionKind.MaximumSegmentSize;
    buffer[i++] = 4;
    buffer[i++] = options.mss >> 8;
    buffer[i++] = options.mss & 0xff;
  }
  if (options.timestamps || options.sackPermitted) {
    if (options.sackPermitted) {
      buffer[i++] = TCPOptionKind.SackPermitted;
      buffer[i++] = 2;
    } else {
      buffer[i++] = TCPOptionKind.NoOperation;
      buffer[i++] = TCPOptionKind.NoOperation;
    }
    if (options.timestamps) {
      buffer[i++] = TCPOptionKind.Timestamps;
      buffer[i++] = 10;
      writeU32(buffer, i, options.timestamps.value);
      writeU32(buffer, i + 4, options.timestamps.echoReply);
      i += 8;
    } else {
      buffer[i++] = TCPOptionKind.NoOperation;
      buffer[i++] = TCPOptionKind.NoOperation;
    }
  }
  if (options.windowScale !== undefined) {
    if (options.windowScale < 0 || options.windowScale > TCP_MAX_WINDOW_SCALE) {
      throw new WireError("bad-field", `TCP window scale ${options.windowScale}`);
    }
    buffer[i++] = TCPOptionKind.NoOperation;
    buffer[i++] = TCPOptionKind.WindowScale;
    buffer[i++] = 3;
    buffer[i++] = options.windowScale;
  }
  const blocks = options.sackBlocks ?? [];
  if (blocks.length > 0) {
    buffer[i++] = TCPOptionKind.NoOperation;
    buffer[i++] = TCPOptionKind.NoOperation;
    buffer[i++] = TCPOptionKind.Sack;
    buffer[i++] = 2 + 8 * blocks.length;
    for (const block of blocks) {
      writeU32(buffer, i, block.left);
      writeU32(buffer, i + 4, block.right);
      i += 8;
    }
  }
  return i - offset;
}

/**
 * Whether the checksum of `segment` (the whole IP payload) verifies for
 * these addresses (4 or 16 bytes each).
 */
export function verifyTCPChecksum(src: Uint8Array, dst: Uint8Array, segment: Uint8Array): boolean {
  const sum = pseudoHeaderSum(src, dst, IPProtocol.TCP, segment.length);
  return checksumFinish(checksumAdd(sum, segment)) === 0;
}

/** What {@link emitTCPSegment} writes. */
export interface TCPSegmentFields {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** Sequence number (taken modulo 2^32). */
  seq: number;
  /** Acknowledgment number (taken modulo 2^32). */
  ack: number;
  /** Control bits (`TCPFlags`). */
  flags: number;
  /** Window, already scaled down. */
  window: number;
  /** Urgent pointer (default 0). */
  urgentPointer?: number;
  /** Options (default none). */
  options?: TCPOptions;
  /**
   * The data, copied after the header. Omit it when the data already sits
   * after the header in `buffer` and give `payloadLength` instead.
   */
  payload?: Uint8Array;
  /** Length of data already in place (used when `payload` is omitted). */
  payloadLength?: number;
}

/** Header length {@link emitTCPSegment} will write for `fields` (20 + options). */
export function tcpHeaderLength(fields: TCPSegmentFields): number {
  return TCP_MIN_HEADER_LENGTH + (fields.options ? tcpOptionsLength(fields.options) : 0);
}

/**
 * Writes a TCP segment at `buffer[offset]`, checksum computed under the
 * pseudo-header for `src`/`dst`, and returns its length. Throws a
 * {@link WireError} (`buffer-too-small`, `bad-field`).
 *
 * @example
 * ```ts
 * const n = emitTCPSegment({
 *   srcPort: 80, dstPort: 50000, seq: iss, ack: irs + 1,
 *   flags: TCPFlags.SYN | TCPFlags.ACK, window: 65535,
 *   options: { mss: 1240, windowScale: 7, sackPermitted: true },
 * }, buf, ourIP, peerIP);
 * ```
 */
export function emitTCPSegment(
  fields: TCPSegmentFields,
  buffer: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  offset = 0,
): number {
  const headerLength = tcpHeaderLength(fields);
  const payloadLength = fields.payload?.length ?? fields.payloadLength ?? 0;
  const length = headerLength + payloadLength;
  if (buffer.length - offset < length) {
    throw new WireError("buffer-too-small", `TCP segment needs ${length} bytes`);
  }
  const s = buffer.subarray(offset, offset + length);
  s[0] = (fields.srcPort >> 8) & 0xff;
  s[1] = fields.srcPort & 0xff;
  s[2] = (fields.dstPort >> 8) & 0xff;
  s[3] = fields.dstPort & 0xff;
  writeU32(s, 4, fields.seq);
  writeU32(s, 8, fields.ack);
  s[12] = (headerLength / 4) << 4;
  s[13] = fields.flags & 0xff;
  s[14] = (fields.window >> 8) & 0xff;
  s[15] = fields.window & 0xff;
  s[16] = 0;
  s[17] = 0;
  const urgent = fields.urgentPointer ?? 0;
  s[18] = (urgent >> 8) & 0xff;
  s[19] = urgent & 0xff;
  if (fields.options) emitTCPOptions(fields.options, s, TCP_MIN_HEADER_LENGTH);
  if (fields.payload) s.set(fields.payload, headerLength);
  const checksum = checksumFinish(
    checksumAdd(pseudoHeaderSum(src, dst, IPProtocol.TCP, length), s),
  );
  s[16] = checksum >> 8;
  s[17] = checksum & 0xff;
  return length;
}

function readU32(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}

function writeU32(b: Uint8Array, i: number, value: number): void {
  const v = value >>> 0;
  b[i] = v >>> 24;
  b[i + 1] = (v >>> 16) & 0xff;
  b[i + 2] = (v >>> 8) & 0xff;
  b[i + 3] = v & 0xff;
}
