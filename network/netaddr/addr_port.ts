/**
 * An IP address with a port: a UDP endpoint of a peer, a disco Pong's
 * observed source, an entry of a CallMeMaybe. The text form (`1.2.3.4:41641`,
 * `[2001:db8::1]:41641`) is Go's `netip.AddrPort` form and doubles as a map
 * key, so two AddrPorts are the same endpoint exactly when their keys match.
 *
 * @module
 */

import { formatIPAddress, IPV4_LENGTH, IPV6_LENGTH, parseIPAddress } from "./ip_address.ts";

/** Raised when text or bytes do not form an address and port. */
export class AddrPortError extends Error {
  /** Builds the error with a message naming the bad input. */
  constructor(message: string) {
    super(message);
    this.name = "AddrPortError";
  }
}

/**
 * An immutable IP address (4 or 16 bytes) and UDP/TCP port.
 *
 * @example
 * ```ts
 * const ep = AddrPort.parse("[2001:db8::1]:41641");
 * ep.port; // 41641
 * ep.key; // "[2001:db8::1]:41641"
 * ```
 */
export class AddrPort {
  /** The address: 4 bytes (IPv4) or 16 bytes (IPv6). Treat as read-only. */
  readonly ip: Uint8Array;
  /** The port, 0–65535. */
  readonly port: number;
  /** The canonical text form, also usable as a map key. */
  readonly key: string;

  /** Copies `ip`; throws {@link AddrPortError} for a bad length or port. */
  constructor(ip: Uint8Array, port: number) {
    if (!(ip instanceof Uint8Array) || (ip.length !== IPV4_LENGTH && ip.length !== IPV6_LENGTH)) {
      throw new AddrPortError("an IP address has 4 or 16 bytes");
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new AddrPortError(`port out of range: ${port}`);
    }
    this.ip = ip.slice();
    this.port = port;
    const text = formatIPAddress(this.ip);
    this.key = ip.length === IPV4_LENGTH ? `${text}:${port}` : `[${text}]:${port}`;
  }

  /** Parses `a.b.c.d:port` or `[v6]:port`; null when malformed. */
  static tryParse(text: string): AddrPort | null {
    if (typeof text !== "string") return null;
    let host: string, portText: string;
    if (text.startsWith("[")) {
      const close = text.indexOf("]");
      if (close < 0 || text[close + 1] !== ":") return null;
      host = text.slice(1, close);
      portText = text.slice(close + 2);
      if (!host.includes(":")) return null;
    } else {
      const colon = text.lastIndexOf(":");
      if (colon < 0) return null;
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
      if (host.includes(":")) return null;
    }
    if (!/^(0|[1-9][0-9]{0,4})$/.test(portText)) return null;
    const port = Number(portText);
    if (port > 65535) return null;
    const ip = parseIPAddress(host);
    return ip ? new AddrPort(ip, port) : null;
  }

  /** Parses like {@link AddrPort.tryParse}; throws {@link AddrPortError} when malformed. */
  static parse(text: string): AddrPort {
    const parsed = AddrPort.tryParse(text);
    if (!parsed) throw new AddrPortError(`not an ip:port: ${JSON.stringify(String(text))}`);
    return parsed;
  }

  #bytes: Uint8Array | undefined;

  /**
   * The address bytes then the big-endian port (6 or 18 bytes), made once:
   * what a WireGuard cookie binds to for a UDP sender. Treat as read-only.
   */
  get bytes(): Uint8Array {
    if (this.#bytes) return this.#bytes;
    const bytes = new Uint8Array(this.ip.length + 2);
    bytes.set(this.ip);
    bytes[this.ip.length] = this.port >> 8;
    bytes[this.ip.length + 1] = this.port & 0xff;
    return this.#bytes = bytes;
  }

  /** Whether the address is IPv4 (4 bytes). */
  get is4(): boolean {
    return this.ip.length === IPV4_LENGTH;
  }

  /** Whether the address is IPv6 (16 bytes, IPv4-mapped included, as in Go). */
  get is6(): boolean {
    return this.ip.length === IPV6_LENGTH;
  }

  /** The address alone, as text. */
  get address(): string {
    return formatIPAddress(this.ip);
  }

  /** Same address family, bytes and port. */
  equals(other: AddrPort | null | undefined): boolean {
    return !!other && other.key === this.key;
  }

  /** The canonical text form. */
  toString(): string {
    return this.key;
  }

  /** The canonical text form, as Go's JSON writes a `netip.AddrPort`. */
  toJSON(): string {
    return this.key;
  }
}
