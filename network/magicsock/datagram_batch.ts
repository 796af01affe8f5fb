/**
 * The batch format that carries UDP datagrams between the main thread and
 * the UDP worker (udp_worker.ts): many datagrams in one ArrayBuffer, moved
 * (transferred, not copied) in one message. Each entry is
 *
 *     u16 payload length | u8 address length (4 or 16) | address | u16 port | payload
 *
 * in big-endian order. Both ends are this process, so the format is private;
 * a decoder still checks every length, since a batch it cannot read must
 * drop, not throw in the receive path.
 *
 * @module
 */
import { AddrPort } from "../netaddr/addr_port.ts";
import { ipAddressEquals } from "../netaddr/ip_address.ts";

/** The largest UDP payload (IPv6 without jumbograms: 65535 − 8; IPv4's is smaller). */
export const MAX_DATAGRAM = 65_535;

/** Bytes an entry takes besides its payload, at most (an IPv6 address). */
export const MAX_ENTRY_OVERHEAD = 2 + 1 + 16 + 2;

/** Bytes an entry for `payloadLength` bytes to `addressLength` address bytes takes. */
export function entrySize(addressLength: number, payloadLength: number): number {
  return 2 + 1 + addressLength + 2 + payloadLength;
}

/**
 * Appends one entry at `offset` of `batch` and returns the offset after it.
 * Throws a RangeError when the payload is too large or the batch has no room
 * (callers size batches with {@link entrySize}).
 */
export function writeEntry(
  batch: Uint8Array,
  offset: number,
  ip: Uint8Array,
  port: number,
  payload: Uint8Array,
): number {
  if (payload.length > MAX_DATAGRAM) {
    throw new RangeError(`datagram of ${payload.length} bytes exceeds ${MAX_DATAGRAM}`);
  }
  if (ip.length !== 4 && ip.length !== 16) throw new RangeError("address must be 4 or 16 bytes");
  const end = offset + entrySize(ip.length, payload.length);
  if (end > batch.length) throw new RangeError("batch has no room for the datagram");
  batch[offset] = payload.length >>> 8;
  batch[offset + 1] = payload.length & 0xff;
  batch[offset + 2] = ip.length;
  batch.set(ip, offset + 3);
  const p = offset + 3 + ip.length;
  batch[p] = port >>> 8;
  batch[p + 1] = port & 0xff;
  batch.set(payload, p + 2);
  return end;
}

/**
 * Calls `each` for every entry of `batch[0, length)` in order and returns
 * the offset where it stopped: `length` when every entry was whole. A
 * malformed entry (a length that runs past the end, an address length other
 * than 4 or 16) stops it there, so that a caller can count the loss.
 */
export function readEntries(
  batch: Uint8Array,
  length: number,
  each: (ip: Uint8Array, port: number, payload: Uint8Array) => void,
): number {
  const end = Math.min(length, batch.length);
  let offset = 0;
  while (offset + 3 <= end) {
    const payloadLength = (batch[offset] << 8) | batch[offset + 1];
    const addressLength = batch[offset + 2];
    if (addressLength !== 4 && addressLength !== 16) return offset;
    const p = offset + 3 + addressLength;
    if (p + 2 + payloadLength > end) return offset;
    const port = (batch[p] << 8) | batch[p + 1];
    each(batch.subarray(offset + 3, p), port, batch.subarray(p + 2, p + 2 + payloadLength));
    offset = p + 2 + payloadLength;
  }
  return offset;
}

/**
 * Remembers the last address decoded, since a stream of datagrams mostly
 * comes from (or goes to) one peer: the same bytes give the same
 * {@link AddrPort} object without parsing.
 */
export class AddrPortCache {
  #last: AddrPort | undefined;

  /** The AddrPort for these address bytes and port. */
  get(ip: Uint8Array, port: number): AddrPort {
    const last = this.#last;
    if (last && last.port === port && ipAddressEquals(last.ip, ip)) return last;
    return this.#last = new AddrPort(ip, port); // copies `ip`
  }
}
