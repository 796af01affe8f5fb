/**
 * The one home of address types: IP addresses as raw bytes with Go
 * `netip`-strict text forms, `ip:port` endpoints, prefixes, and IP protocol
 * numbers. Filter, STUN, DERP, disco, magicsock, WireGuard routing and the
 * netstack all read addresses through these. Pure: no I/O.
 *
 * @example
 * ```ts
 * import { AddrPort, IPPrefix, parseIPAddress } from "./mod.ts";
 * IPPrefix.parse("100.64.0.0/10").contains(parseIPAddress("100.64.0.7")!); // true
 * AddrPort.parse("[::1]:41641").port; // 41641
 * ```
 *
 * @module
 */
export * from "./ip_address.ts";
export * from "./addr_port.ts";
export * from "./ip_prefix.ts";
export * from "./ip_protocol.ts";
