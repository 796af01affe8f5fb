/**
 * The inbound packet filter and the address types of the data plane
 * (data-plane reference §6): IP addresses and `ip:port` endpoints, address
 * ranges, the filter's minimal packet header decode, the netmap rule
 * compiler, the flow cache and the filter itself. Pure: no I/O.
 *
 * @module
 */
export * from "./ip_address.ts";
export * from "./addr_port.ts";
export * from "./ip_range.ts";
export * from "./filter_packet.ts";
export * from "./filter_rules.ts";
export * from "./flow_cache.ts";
export * from "./packet_filter.ts";
