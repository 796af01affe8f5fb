/**
 * Disco, Tailscale's path-discovery protocol (data-plane reference §2.5–2.12):
 * the message bodies, the sealed packet format, path ranking, the timing
 * constants, and the per-peer path-discovery state machine. Pure: no sockets,
 * no timers of its own; magicsock drives it.
 *
 * @module
 */
export * from "./disco_message.ts";
export * from "./disco_packet.ts";
export * from "./disco_constants.ts";
export * from "./better_addr.ts";
export * from "./peer_path.ts";
