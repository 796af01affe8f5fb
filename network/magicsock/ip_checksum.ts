/**
 * The Internet checksum (RFC 1071) for the few packets the data plane builds
 * itself (ICMP echo replies, TSMP pongs). The userspace stack's
 * `network/netstack/wire/checksum.ts` supersedes it once that lands.
 *
 * @module
 */

/** The one's-complement sum of `data` as 16-bit big-endian words, added to `initial`, folded. */
export function onesComplementSum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  const even = data.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (data.length & 1) sum += data[data.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Writes the checksum of a folded `sum` (its complement) big-endian at `offset`. */
export function writeChecksum(bytes: Uint8Array, offset: number, sum: number): void {
  const checksum = ~sum & 0xffff;
  bytes[offset] = checksum >> 8;
  bytes[offset + 1] = checksum & 0xff;
}
