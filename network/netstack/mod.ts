/**
 * Citadel's userspace TCP/IP stack. So far: the wire formats (`wire/`:
 * IPv4, IPv6, UDP, TCP, ICMPv4, ICMPv6, TSMP, the Internet checksum) and the
 * echo responder. Pure: no sockets, no timers.
 *
 * @module
 */
export * from "./wire/wire_error.ts";
export * from "./wire/checksum.ts";
export * from "./wire/ipv4.ts";
export * from "./wire/ipv6.ts";
export * from "./wire/ip_packet.ts";
export * from "./wire/udp.ts";
export * from "./wire/tcp.ts";
export * from "./wire/icmpv4.ts";
export * from "./wire/icmpv6.ts";
export * from "./wire/tsmp.ts";
export * from "./echo_responder.ts";
