/**
 * Netcheck (data-plane reference §4.4, §3.9; behaviour of tailscaled
 * v1.102 `net/netcheck`): STUN to the DERP regions' STUN servers over
 * IPv4 and IPv6, latency per region, our reflexive `ip:port`, whether the
 * NAT mapping varies by destination, and the home (preferred) region with
 * tailscaled's hysteresis.
 *
 * Layers, sans-I/O first:
 * - `probe_plan.ts` — which probes a full or incremental report sends, when;
 * - `stun_target.ts` — where a node's STUN server is (IP given, or DNS);
 * - `netcheck_run.ts` — one report's STUN phase: sends, answers, timeouts;
 * - `preferred_derp.ts` — report history and the home-region choice;
 * - `netcheck_client.ts` — full vs incremental, history across reports;
 * - `netcheck_scheduler.ts` — when to run: requests, 20–26 s periodic,
 *   address changes (`local_addresses.ts`);
 * I/O:
 * - `netcheck_driver.ts` — runs reports over a {@link NetcheckTransport}
 *   ("send this datagram to ip:port") and {@link NetcheckDriver.receiveStun}
 *   ("this STUN datagram came from ip:port at t"), so magicsock can share
 *   its socket;
 * - `netcheck_sockets.ts` — sockets of its own (`StandaloneNetcheck`);
 * - `netcheck_loop.ts` — scheduler + driver on a clock in a running node.
 *
 * Not measured (reported as unknown, never false): HTTPS and ICMP latency
 * when UDP is blocked, UPnP / NAT-PMP / PCP, captive portals.
 *
 * @example
 * ```ts
 * import { StandaloneNetcheck } from "./mod.ts";
 * using netcheck = StandaloneNetcheck.open();
 * const report = await netcheck.run(derpMap);
 * console.log(report.preferredDERP, report.regionLatency);
 * ```
 *
 * @module
 */
export * from "./netcheck_constants.ts";
export * from "./netcheck_report.ts";
export * from "./stun_target.ts";
export * from "./probe_plan.ts";
export * from "./netcheck_run.ts";
export * from "./preferred_derp.ts";
export * from "./netcheck_client.ts";
export * from "./local_addresses.ts";
export * from "./netcheck_scheduler.ts";
export * from "./netcheck_driver.ts";
export * from "./netcheck_sockets.ts";
export * from "./netcheck_loop.ts";

// Types the API above takes and returns, for readers of this module alone.
export type { Clock, TimerHandle } from "../clock.ts";
export type { RandomSource } from "../crypto/random.ts";
export type {
  DERPHomeParams,
  DERPMap,
  DERPNode,
  DERPRegion,
  DERPRegionID,
  OptBool,
} from "../control/map_response.ts";
export type { NetInfo } from "../control/tailcfg.ts";
export { AddrPort } from "../netaddr/addr_port.ts";
