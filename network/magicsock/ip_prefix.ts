/**
 * An IP prefix (`100.64.0.1/32`, `fd7a:115c:a1e0::/48`) as the netmap's
 * `Addresses` and `AllowedIPs` list them: enough to route an outbound packet
 * to its peer and to check a decrypted packet's source (cryptokey routing,
 * WireGuard whitepaper §2).
 *
 * @module
 */
import { parseIPAddress } from "../filter/ip_address.ts";

/** A netmap prefix that does not parse. */
export class IPPrefixError extends Error {
  /** Creates the error with the offending text. */
  constructor(text: string) {
    super(`not an IP prefix: ${JSON.stringify(text)}`);
    this.name = "IPPrefixError";
  }
}

/** An address and a prefix length; a bare address is a host prefix. */
export class IPPrefix {
  /** The network address: 4 or 16 bytes. */
  readonly ip: Uint8Array;
  /** Significant leading bits. */
  readonly bits: number;

  /** A prefix of `bits` over `ip` (4 or 16 bytes). */
  constructor(ip: Uint8Array, bits: number) {
    this.ip = ip.slice();
    this.bits = bits;
  }

  /**
   * Parses `ip/bits` or a bare `ip`; throws {@link IPPrefixError}.
   *
   * @example
   * ```ts
   * IPPrefix.parse("100.64.0.0/10").contains(parseIPAddress("100.64.0.7")!); // true
   * ```
   */
  static parse(text: string): IPPrefix {
    const slash = text.indexOf("/");
    const ip = parseIPAddress(slash < 0 ? text : text.slice(0, slash));
    if (!ip) throw new IPPrefixError(text);
    const max = ip.length * 8;
    const bitsText = slash < 0 ? String(max) : text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(bitsText) || Number(bitsText) > max) throw new IPPrefixError(text);
    return new IPPrefix(ip, Number(bitsText));
  }

  /** Whether `ip` (same family) lies inside the prefix. */
  contains(ip: Uint8Array): boolean {
    if (ip.length !== this.ip.length) return false;
    const whole = this.bits >> 3;
    for (let i = 0; i < whole; i++) if (ip[i] !== this.ip[i]) return false;
    const rest = this.bits & 7;
    if (rest === 0) return true;
    const mask = (0xff << (8 - rest)) & 0xff;
    return (ip[whole] & mask) === (this.ip[whole] & mask);
  }

  /** Whether the prefix names one address (`/32` or `/128`). */
  get isSingleIP(): boolean {
    return this.bits === this.ip.length * 8;
  }
}

/**
 * The source (`which` = "source") or destination address of an IPv4 or IPv6
 * packet, as a view into it; `undefined` when the packet is too short.
 */
export function packetAddress(
  packet: Uint8Array,
  which: "source" | "destination",
): Uint8Array | undefined {
  const version = packet.length > 0 ? packet[0] >> 4 : 0;
  if (version === 4 && packet.length >= 20) {
    return which === "source" ? packet.subarray(12, 16) : packet.subarray(16, 20);
  }
  if (version === 6 && packet.length >= 40) {
    return which === "source" ? packet.subarray(8, 24) : packet.subarray(24, 40);
  }
  return undefined;
}
