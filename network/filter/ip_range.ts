/**
 * Inclusive IP address ranges, the form every address set of a filter rule
 * compiles to: a CIDR prefix, an `a-b` range, a single address and `*` are
 * all ranges (or two, for `*`). Matching a packet compares its address bytes
 * in place, so the hot path allocates nothing.
 *
 * The text forms and their checks are those of Tailscale's `parseIPSet`
 * (`ts: wgengine/filter/tailcfg.go`; data-plane reference §6.3).
 *
 * @module
 */

import {
  formatIPAddress,
  IPV4_LENGTH,
  IPV6_LENGTH,
  parseIPAddress,
} from "../netaddr/ip_address.ts";
import { IPPrefix } from "../netaddr/ip_prefix.ts";

/** Raised for address-set text that does not parse. */
export class IPSetParseError extends Error {
  /** Builds the error; the message names the bad text. */
  constructor(message: string) {
    super(message);
    this.name = "IPSetParseError";
  }
}

function compareAt(buffer: Uint8Array, offset: number, bound: Uint8Array): number {
  for (let i = 0; i < bound.length; i++) {
    const d = buffer[offset + i] - bound[i];
    if (d !== 0) return d;
  }
  return 0;
}

function u32(bytes: Uint8Array): number {
  return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
}

/** An inclusive range of addresses of one family. */
export class IPRange {
  /** First address (4 or 16 bytes). */
  readonly first: Uint8Array;
  /** Last address, same family, not below `first`. */
  readonly last: Uint8Array;
  readonly #first4: number;
  readonly #last4: number;

  /** Throws {@link IPSetParseError} when the ends differ in family or are out of order. */
  constructor(first: Uint8Array, last: Uint8Array) {
    if (
      first.length !== last.length || (first.length !== IPV4_LENGTH && first.length !== IPV6_LENGTH)
    ) {
      throw new IPSetParseError("range ends must be addresses of the same family");
    }
    if (compareAt(last, 0, first) < 0) throw new IPSetParseError("range ends are out of order");
    this.first = first.slice();
    this.last = last.slice();
    this.#first4 = first.length === IPV4_LENGTH ? u32(first) : 0;
    this.#last4 = first.length === IPV4_LENGTH ? u32(last) : 0;
  }

  /** Every IPv4 address. */
  static allIPv4(): IPRange {
    return new IPRange(new Uint8Array(4), new Uint8Array(4).fill(255));
  }

  /** Every IPv6 address. */
  static allIPv6(): IPRange {
    return new IPRange(new Uint8Array(16), new Uint8Array(16).fill(255));
  }

  /** The range a prefix covers. Throws {@link IPSetParseError} when host bits are set. */
  static fromPrefix(prefix: IPPrefix): IPRange {
    if (!prefix.isMasked) {
      throw new IPSetParseError(`${prefix} contains non-network bits set`);
    }
    const last = prefix.ip.slice();
    for (let bit = prefix.bits; bit < last.length * 8; bit++) last[bit >> 3] |= 0x80 >> (bit & 7);
    return new IPRange(prefix.ip, last);
  }

  /** Whether this is an IPv4 range. */
  get is4(): boolean {
    return this.first.length === IPV4_LENGTH;
  }

  /** Whether `ip` (4 or 16 bytes) lies in the range; another family never does. */
  contains(ip: Uint8Array): boolean {
    return ip.length === this.first.length && this.containsAt(ip, 0);
  }

  /**
   * Whether the address of this range's family at `buffer[offset…]` lies in
   * the range; the caller guarantees the family and that the bytes exist.
   */
  containsAt(buffer: Uint8Array, offset: number): boolean {
    if (this.first.length === IPV4_LENGTH) {
      const value =
        ((buffer[offset] << 24) | (buffer[offset + 1] << 16) | (buffer[offset + 2] << 8) |
          buffer[offset + 3]) >>> 0;
      return value >= this.#first4 && value <= this.#last4;
    }
    return compareAt(buffer, offset, this.first) >= 0 && compareAt(buffer, offset, this.last) <= 0;
  }

  /** Whether the range holds every address of its family. */
  get isAll(): boolean {
    return this.first.every((b) => b === 0) && this.last.every((b) => b === 255);
  }

  /** `first-last`, or a single address. */
  toString(): string {
    const a = formatIPAddress(this.first), b = formatIPAddress(this.last);
    return a === b ? a : `${a}-${b}`;
  }
}

/**
 * Parses `addr/bits` (CIDR with no host bits set, as `netip.ParsePrefix`
 * plus Tailscale's masking check). Throws {@link IPSetParseError}.
 */
export function parsePrefix(text: string): IPRange {
  const prefix = IPPrefix.tryParse(text);
  if (!prefix || !text.includes("/")) {
    throw new IPSetParseError(`invalid prefix ${JSON.stringify(text)}`);
  }
  return IPRange.fromPrefix(prefix);
}

/** One parsed address-set entry: address ranges, or a node capability (`cap:<name>`). */
export type IPSetEntry =
  | {
    /** Address ranges (two for `*`). */
    readonly ranges: readonly IPRange[];
    /** Absent for address entries. */
    readonly cap?: undefined;
  }
  | {
    /** No addresses. */
    readonly ranges: readonly IPRange[];
    /** The node capability a source must hold. */
    readonly cap: string;
  };

/**
 * Parses one `SrcIPs` / `DstPorts[].IP` entry (reference §6.3): `*` (every
 * IPv4 and IPv6 address), `cap:<name>`, a CIDR prefix, an inclusive range
 * `a-b` of one family, or a single address. Throws {@link IPSetParseError}.
 *
 * @example
 * ```ts
 * parseIPSetEntry("100.64.0.0/10").ranges[0].toString(); // "100.64.0.0-100.127.255.255"
 * parseIPSetEntry("cap:funnel").cap; // "funnel"
 * ```
 */
export function parseIPSetEntry(text: string): IPSetEntry {
  if (typeof text !== "string") throw new IPSetParseError("address set entry is not a string");
  if (text === "*") return { ranges: [IPRange.allIPv4(), IPRange.allIPv6()] };
  if (text.startsWith("cap:")) return { ranges: [], cap: text.slice(4) };
  if (text.includes("/")) return { ranges: [parsePrefix(text)] };
  const dashes = text.split("-").length - 1;
  if (dashes === 1) {
    const [a, b] = text.split("-");
    const first = parseIPAddress(a), last = parseIPAddress(b);
    if (!first || !last) throw new IPSetParseError(`invalid IP range ${JSON.stringify(text)}`);
    try {
      return { ranges: [new IPRange(first, last)] };
    } catch {
      throw new IPSetParseError(`invalid IP range ${JSON.stringify(text)}`);
    }
  }
  const ip = parseIPAddress(text);
  if (!ip) throw new IPSetParseError(`invalid IP address ${JSON.stringify(text)}`);
  return { ranges: [new IPRange(ip, ip)] };
}
