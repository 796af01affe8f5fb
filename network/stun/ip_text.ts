/**
 * IP addresses between raw bytes (4 or 16, network order) and text, as STUN
 * and DERP read them off the wire: the one implementation in
 * network/filter/ip_address.ts, with IPv4-mapped IPv6 results unmapped as
 * Go's `netip.Addr.Unmap` does for STUN and DERP.
 *
 * @module
 */
import {
  formatIPAddress,
  isIPv4Mapped,
  parseIPAddress,
  unmapIPAddress,
} from "../filter/ip_address.ts";

export { isIPv4Mapped };

/**
 * Text form of a 4- or 16-byte address. An IPv4-mapped IPv6 address
 * (`::ffff:a.b.c.d`) prints as the IPv4 address. Throws RangeError for other
 * lengths.
 *
 * @example
 * ```ts
 * formatIP(Uint8Array.of(127, 0, 0, 1)); // "127.0.0.1"
 * ```
 */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length !== 4 && bytes.length !== 16) {
    throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  }
  return formatIPAddress(unmapIPAddress(bytes));
}

/**
 * Bytes of an IPv4 (4 bytes) or IPv6 (16 bytes) address in text form, or
 * null when the text is neither. Zones (`%eth0`) and brackets are refused.
 *
 * @example
 * ```ts
 * parseIP("::1"); // Uint8Array(16) [0, …, 0, 1]
 * ```
 */
export function parseIP(text: string): Uint8Array | null {
  return parseIPAddress(text);
}
