/**
 * The 8-byte header ICMPv4 (RFC 792) and ICMPv6 (RFC 4443 §2.1) share —
 * type, code, checksum, four bytes of "rest of header" — and its emitter.
 * The two differ only in what the checksum covers besides the message:
 * nothing for ICMPv4, the IPv6 pseudo-header for ICMPv6.
 *
 * @module
 */
import { checksumAdd, checksumFinish } from "./checksum.ts";
import { WireError } from "./wire_error.ts";

/** Length of the common ICMP header. */
export const ICMP_HEADER_LENGTH = 8;

/** What {@link emitICMPMessage} writes. */
export interface ICMPMessageFields {
  /** Message type. */
  type: number;
  /** Message code. */
  code: number;
  /** Bytes 4–7 as a big-endian number (identifier and sequence, unused, MTU…). */
  restOfHeader?: number;
  /** Body, copied after the header. */
  body?: Uint8Array;
  /** Body length when the body is already in place in the buffer. */
  bodyLength?: number;
}

/**
 * Writes an ICMP message at `buffer[offset]`, its checksum started from
 * `initialSum` (0, or the pseudo-header sum), and returns its length.
 * Throws a {@link WireError} `buffer-too-small` naming `what`.
 */
export function emitICMPMessage(
  fields: ICMPMessageFields,
  buffer: Uint8Array,
  offset: number,
  initialSum: number,
  what: string,
): number {
  const length = ICMP_HEADER_LENGTH + (fields.body?.length ?? fields.bodyLength ?? 0);
  if (buffer.length - offset < length) {
    throw new WireError("buffer-too-small", `${what} message needs ${length} bytes`);
  }
  const m = buffer.subarray(offset, offset + length);
  const rest = (fields.restOfHeader ?? 0) >>> 0;
  m[0] = fields.type & 0xff;
  m[1] = fields.code & 0xff;
  m[2] = 0;
  m[3] = 0;
  m[4] = rest >>> 24;
  m[5] = (rest >>> 16) & 0xff;
  m[6] = (rest >>> 8) & 0xff;
  m[7] = rest & 0xff;
  if (fields.body) m.set(fields.body, ICMP_HEADER_LENGTH);
  const checksum = checksumFinish(checksumAdd(initialSum, m));
  m[2] = checksum >> 8;
  m[3] = checksum & 0xff;
  return length;
}
