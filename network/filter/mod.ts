/**
 * The inbound packet filter (data-plane reference §6): address ranges, the
 * filter's minimal packet header decode, the netmap rule compiler, the flow
 * cache and the filter itself. Addresses come from `../netaddr/`. Pure: no
 * I/O.
 *
 * @module
 */
export * from "./ip_range.ts";
export * from "./filter_packet.ts";
export * from "./filter_rules.ts";
export * from "./flow_cache.ts";
export * from "./packet_filter.ts";
