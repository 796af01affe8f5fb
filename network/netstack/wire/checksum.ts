/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's
 * complement sum of the data taken as big-endian 16-bit words, an odd last
 * byte padded with zero. Plus the pseudo-header sums that TCP, UDP and ICMPv6
 * fold in (RFC 768, RFC 9293 §3.1, RFC 8200 §8.1), and the RFC 1624 update of
 * a checksum after one 16-bit word of the header changed.
 *
 * Sums are carried as plain numbers, unfolded: adding up to 2^37 bytes of
 * 16-bit words stays below 2^53, far beyond any packet.
 *
 * @module
 */

/**
 * Adds `data` (big-endian 16-bit words, an odd last byte padded with zero)
 * to the running unfolded sum `sum`. Chunks fed one after another must each
 * have even length except the last; {@link ChecksumAccumulator} lifts that rule.
 *
 * @example
 * ```ts
 * const sum = checksumAdd(checksumAdd(0, header), payload);
 * const checksum = checksumFinish(sum);
 * ```
 */
export function checksumAdd(sum: number, data: Uint8Array): number {
  const n = data.length;
  let i = 0;
  let s = 0;
  if (n >= WORD_PATH_MIN && (data.byteOffset & 3) === 0) {
    // Four bytes per load: the sum of native-order 16-bit words equals the
    // big-endian one byte-swapped (RFC 1071 §2(B)), and stays zero only
    // when the data is all zeros, so the swap of its fold can stand in.
    const words = new Uint32Array(data.buffer, data.byteOffset, n >>> 2);
    let native = 0;
    for (let w = 0; w < words.length; w++) {
      const word = words[w];
      native += (word & 0xffff) + (word >>> 16);
    }
    const folded = checksumFold(native);
    s = LITTLE_ENDIAN ? ((folded & 0xff) << 8) | (folded >>> 8) : folded;
    i = words.length << 2;
  }
  const even = n & ~1;
  for (; i < even; i += 2) s += (data[i] << 8) | data[i + 1];
  if (n & 1) s += data[n - 1] << 8;
  return sum + s;
}

/** Below this many bytes the word-at-a-time path is not worth its typed-array view. */
const WORD_PATH_MIN = 64;

/** Whether this machine stores a Uint32 least significant byte first (x64 and arm64 do). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Folds an unfolded sum to 16 bits with end-around carry (RFC 1071 §4.1). */
export function checksumFold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for an unfolded sum: the complement of its 16-bit fold. */
export function checksumFinish(sum: number): number {
  return ~checksumFold(sum) & 0xffff;
}

/**
 * The Internet checksum of `data` in one shot, starting from the unfolded sum
 * `initial` (a pseudo-header sum, say). Computed over data that includes a
 * correct checksum field it gives 0.
 *
 * @example
 * ```ts
 * internetChecksum(ipv4Header) === 0; // header checksum verifies
 * ```
 */
export function internetChecksum(data: Uint8Array, initial = 0): number {
  return checksumFinish(checksumAdd(initial, data));
}

/**
 * An incremental checksum over data arriving in chunks of any length (odd
 * ones included: a chunk that ends mid-word carries its last byte into the next).
 *
 * @example
 * ```ts
 * const acc = new ChecksumAccumulator();
 * acc.update(a).update(b);
 * acc.finish() === internetChecksum(concat(a, b)); // true
 * ```
 */
export class ChecksumAccumulator {
  #sum = 0;
  #odd = false;

  /** Starts from an unfolded sum, such as {@link pseudoHeaderSum}'s. */
  constructor(initial = 0) {
    this.#sum = initial;
  }

  /** Adds bytes as if they directly followed everything added before. */
  update(data: Uint8Array): this {
    let start = 0;
    if (this.#odd && data.length > 0) {
      this.#sum += data[0];
      start = 1;
      this.#odd = false;
    }
    const rest = data.subarray(start);
    this.#sum = checksumAdd(this.#sum, rest);
    if (rest.length & 1) this.#odd = true;
    return this;
  }

  /** The unfolded sum so far. */
  sum(): number {
    return this.#sum;
  }

  /** The checksum field value for everything added. */
  finish(): number {
    return checksumFinish(this.#sum);
  }
}

/**
 * The unfolded sum of the TCP/UDP/ICMPv6 pseudo-header: for IPv4 (4-byte
 * addresses) source, destination, zero, protocol, 16-bit length (RFC 768,
 * RFC 9293 §3.1); for IPv6 (16-byte addresses) source, destination, 32-bit
 * upper-layer length, three zeros, next header (RFC 8200 §8.1). Both sum to
 * the same words when the length fits 16 bits, so one formula serves.
 *
 * @param src source address, 4 or 16 bytes
 * @param dst destination address, same length as `src`
 * @param protocol IP protocol / next-header number of the upper layer
 * @param length upper-layer length in bytes (header plus data)
 */
export function pseudoHeaderSum(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  length: number,
): number {
  if ((src.length !== 4 && src.length !== 16) || dst.length !== src.length) {
    throw new RangeError(`pseudo-header addresses must both be 4 or 16 bytes`);
  }
  let sum = checksumAdd(checksumAdd(0, src), dst);
  sum += protocol & 0xff;
  sum += Math.floor(length / 0x10000) + (length & 0xffff);
  return sum;
}

/**
 * The checksum of a transport segment (`segment` with its checksum field as
 * found) under the pseudo-header. Gives 0 when an existing checksum verifies;
 * with the field zeroed it gives the value to store.
 */
export function transportChecksum(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  segment: Uint8Array,
): number {
  return internetChecksum(segment, pseudoHeaderSum(src, dst, protocol, segment.length));
}

/**
 * Updates checksum `oldChecksum` after one 16-bit word it covers changed from
 * `oldWord` to `newWord`, without summing the data again (RFC 1624 eqn. 3:
 * HC' = ~(~HC + ~m + m')).
 *
 * @example
 * ```ts
 * // IPv4 TTL decrement: the word holding TTL and protocol changes.
 * header.checksum = updateChecksum(header.checksum, (ttl << 8) | proto, ((ttl - 1) << 8) | proto);
 * ```
 */
export function updateChecksum(oldChecksum: number, oldWord: number, newWord: number): number {
  const sum = (~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~checksumFold(sum) & 0xffff;
}
