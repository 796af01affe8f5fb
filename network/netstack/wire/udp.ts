/**
 * UDP datagrams (RFC 768): parse into a typed view, verify and compute the
 * checksum under the IPv4 or IPv6 pseudo-header, and emit into a caller's
 * buffer.
 *
 * @module
 */
import { checksumAdd, checksumFinish, pseudoHeaderSum } from "./checksum.ts";
import { IPProtocol } from "../../netaddr/ip_protocol.ts";
import { WireError } from "./wire_error.ts";

/** Length of the UDP header. */
export const UDP_HEADER_LENGTH = 8;

/** A UDP datagram as parsed; `payload` is a subarray of the parsed bytes. */
export interface UDPDatagram {
  /** Source port. */
  readonly srcPort: number;
  /** Destination port. */
  readonly dstPort: number;
  /** Length field: header plus payload. Bytes past it are ignored. */
  readonly length: number;
  /** Checksum as found (0 = none was computed, allowed only over IPv4). */
  readonly checksum: number;
  /** The data. */
  readonly payload: Uint8Array;
}

/**
 * Parses the UDP datagram in `bytes` (an IP packet's payload). Throws a
 * {@link WireError}: `truncated` or `bad-length`. Checksums are checked
 * separately by {@link verifyUDPChecksum}, which needs the addresses.
 *
 * @example
 * ```ts
 * const udp = parseUDPDatagram(ip.payload);
 * if (!verifyUDPChecksum(ip.src, ip.dst, ip.payload)) drop();
 * ```
 */
export function parseUDPDatagram(bytes: Uint8Array): UDPDatagram {
  if (bytes.length < UDP_HEADER_LENGTH) {
    throw new WireError("truncated", `UDP header needs 8 bytes, have ${bytes.length}`);
  }
  const length = (bytes[4] << 8) | bytes[5];
  if (length < UDP_HEADER_LENGTH) throw new WireError("bad-length", `UDP length ${length} < 8`);
  if (length > bytes.length) {
    throw new WireError("truncated", `UDP length ${length}, have ${bytes.length}`);
  }
  return {
    srcPort: (bytes[0] << 8) | bytes[1],
    dstPort: (bytes[2] << 8) | bytes[3],
    length,
    checksum: (bytes[6] << 8) | bytes[7],
    payload: bytes.subarray(UDP_HEADER_LENGTH, length),
  };
}

/**
 * Whether the checksum of `datagram` (header and data, as far as its length
 * field says) verifies for these addresses (4 or 16 bytes). A zero checksum
 * means "none" over IPv4 (RFC 768) and is accepted; over IPv6 it is invalid
 * (RFC 8200 §8.1).
 */
export function verifyUDPChecksum(src: Uint8Array, dst: Uint8Array, datagram: Uint8Array): boolean {
  if (datagram.length < UDP_HEADER_LENGTH) return false;
  const length = (datagram[4] << 8) | datagram[5];
  if (length < UDP_HEADER_LENGTH || length > datagram.length) return false;
  if (datagram[6] === 0 && datagram[7] === 0) return src.length === 4;
  const sum = pseudoHeaderSum(src, dst, IPProtocol.UDP, length);
  return checksumFinish(checksumAdd(sum, datagram.subarray(0, length))) === 0;
}

/** What {@link emitUDPDatagram} writes. */
export interface UDPDatagramFields {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /**
   * The data, copied after the header. Omit it when the data already sits
   * at `buffer[offset + 8]` and give `payloadLength` instead.
   */
  payload?: Uint8Array;
  /** Length of data already in place (used when `payload` is omitted). */
  payloadLength?: number;
}

/**
 * Writes a UDP datagram at `buffer[offset]` with its checksum computed under
 * the pseudo-header for `src`/`dst` (4 or 16 bytes each), and returns its
 * length. A computed checksum of 0 is sent as 0xFFFF (RFC 768). Throws a
 * {@link WireError} (`buffer-too-small`, `bad-field`).
 *
 * @example
 * ```ts
 * const n = emitUDPDatagram({ srcPort: 41641, dstPort: 53, payload: query }, buf, src, dst);
 * ```
 */
export function emitUDPDatagram(
  fields: UDPDatagramFields,
  buffer: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  offset = 0,
): number {
  const payloadLength = fields.payload?.length ?? fields.payloadLength ?? 0;
  const length = UDP_HEADER_LENGTH + payloadLength;
  if (length > 0xffff) throw new WireError("bad-field", `UDP length ${length}`);
  if (buffer.length - offset < length) {
    throw new WireError("buffer-too-small", `UDP datagram needs ${length} bytes`);
  }
  const d = buffer.subarray(offset, offset + length);
  d[0] = (fields.srcPort >> 8) & 0xff;
  d[1] = fields.srcPort & 0xff;
  d[2] = (fields.dstPort >> 8) & 0xff;
  d[3] = fields.dstPort & 0xff;
  d[4] = length >> 8;
  d[5] = length & 0xff;
  d[6] = 0;
  d[7] = 0;
  if (fields.payload) d.set(fields.payload, UDP_HEADER_LENGTH);
  let checksum = checksumFinish(checksumAdd(pseudoHeaderSum(src, dst, IPProtocol.UDP, length), d));
  if (checksum === 0) checksum = 0xffff;
  d[6] = checksum >> 8;
  d[7] = checksum & 0xff;
  return length;
}
