/**
 * An IP prefix (`100.64.0.1/32`, `fd7a:115c:a1e0::/48`): the one prefix type
 * of the code base. The netmap's `Addresses` and `AllowedIPs`, the filter's
 * CIDR entries and cryptokey routing (WireGuard whitepaper §2) all read
 * prefixes through it. Text parsing follows Go's `netip.ParsePrefix`: a
 * bare address is a host prefix, the length has no leading zeros, host bits
 * may be set ({@link IPPrefix.isMasked} tells).
 *
 * @module
 */
import { formatIPAddress, parseIPAddress } from "./ip_address.ts";

/** Text that is not an IP prefix. */
export class IPPrefixError extends Error {
  /** Creates the error with the offending text. */
  constructor(text: string, why = "not an IP prefix") {
    super(`${why}: ${JSON.stringify(text)}`);
    this.name = "IPPrefixError";
  }
}

const PREFIX_BITS = /^(0|[1-9][0-9]{0,2})$/;

/** An address and a prefix length; a bare address is a host prefix. */
export class IPPrefix {
  /** The address as written: 4 or 16 bytes. Treat as read-only. */
  readonly ip: Uint8Array;
  /** Significant leading bits. */
  readonly bits: number;

  /** A prefix of `bits` over `ip` (4 or 16 bytes); throws {@link IPPrefixError} when out of range. */
  constructor(ip: Uint8Array, bits: number) {
    if (ip.length !== 4 && ip.length !== 16) {
      throw new IPPrefixError(String(ip.length), "an IP address has 4 or 16 bytes, not");
    }
    if (!Number.isInteger(bits) || bits < 0 || bits > ip.length * 8) {
      throw new IPPrefixError(String(bits), "prefix length out of range");
    }
    this.ip = ip.slice();
    this.bits = bits;
  }

  /**
   * Parses `ip/bits` or a bare `ip`, or returns null.
   *
   * @example
   * ```ts
   * IPPrefix.tryParse("100.64.0.0/10")?.bits; // 10
   * IPPrefix.tryParse("100.64.0.0/010"); // null
   * ```
   */
  static tryParse(text: string): IPPrefix | null {
    if (typeof text !== "string") return null;
    const slash = text.indexOf("/");
    const ip = parseIPAddress(slash < 0 ? text : text.slice(0, slash));
    if (!ip) return null;
    const max = ip.length * 8;
    const bitsText = slash < 0 ? String(max) : text.slice(slash + 1);
    if (!PREFIX_BITS.test(bitsText) || Number(bitsText) > max) return null;
    return new IPPrefix(ip, Number(bitsText));
  }

  /**
   * Parses like {@link IPPrefix.tryParse}; throws {@link IPPrefixError}.
   *
   * @example
   * ```ts
   * IPPrefix.parse("100.64.0.0/10").contains(parseIPAddress("100.64.0.7")!); // true
   * ```
   */
  static parse(text: string): IPPrefix {
    const prefix = IPPrefix.tryParse(text);
    if (!prefix) throw new IPPrefixError(text);
    return prefix;
  }

  /** Whether the address is IPv4. */
  get is4(): boolean {
    return this.ip.length === 4;
  }

  /** Whether `ip` (same family) lies inside the prefix. */
  contains(ip: Uint8Array): boolean {
    return ip.length === this.ip.length && this.containsAt(ip, 0);
  }

  /**
   * Whether the address of this prefix's family at `buffer[offset…]` lies
   * inside it; the caller guarantees the bytes exist. Reads in place, so a
   * packet header is checked without a copy.
   */
  containsAt(buffer: Uint8Array, offset: number): boolean {
    const whole = this.bits >> 3;
    for (let i = 0; i < whole; i++) if (buffer[offset + i] !== this.ip[i]) return false;
    const rest = this.bits & 7;
    if (rest === 0) return true;
    const mask = (0xff << (8 - rest)) & 0xff;
    return (buffer[offset + whole] & mask) === (this.ip[whole] & mask);
  }

  /** Whether no bit past the prefix length is set (`10.0.0.0/8`, not `10.0.0.1/8`). */
  get isMasked(): boolean {
    for (let bit = this.bits; bit < this.ip.length * 8; bit++) {
      if (this.ip[bit >> 3] & (0x80 >> (bit & 7))) return false;
    }
    return true;
  }

  /** Whether the prefix names one address (`/32` or `/128`). */
  get isSingleIP(): boolean {
    return this.bits === this.ip.length * 8;
  }

  /** `ip/bits`, as Go's `netip.Prefix.String`. */
  toString(): string {
    return `${formatIPAddress(this.ip)}/${this.bits}`;
  }
}
