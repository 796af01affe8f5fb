/**
 * WireGuard (whitepaper "WireGuard: Next Generation Kernel Network Tunnel")
 * as Tailscale uses it, without I/O: message formats, the Noise IKpsk2
 * handshake, cookies, keypairs, replay protection, transport sealing, the
 * timer state machine, and the sans-I/O {@link WireGuardPeer} and
 * {@link WireGuardDevice} that tie them together.
 *
 * @module
 */
export * from "./constants.ts";
export * from "./messages.ts";
export * from "./tai64n.ts";
export * from "./cookie.ts";
export * from "./noise_handshake.ts";
export * from "./replay_window.ts";
export * from "./keypair.ts";
export * from "./index_table.ts";
export * from "./transport.ts";
export * from "./timers.ts";
export * from "./peer.ts";
export * from "./handshake_load.ts";
export * from "./handshake_rate_limiter.ts";
export * from "./device.ts";
// Types that the API above names, for callers of this module alone.
export type { Clock, TimerHandle } from "../clock.ts";
export type { NodePrivateKey, NodePublicKey, PrivateKey, PublicKey } from "../crypto/keys.ts";
export type { RandomSource } from "../crypto/random.ts";
