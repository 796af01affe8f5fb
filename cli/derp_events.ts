/**
 * One line for each DERP event a running node reports (network/magicsock/derp_links.ts): home
 * chosen or moved, regions connected, lost, failing or closed; and one for each netcheck
 * finding (UDP reachability, nearest region).
 *
 * @module
 */
import type { DerpLinkEvent, NetcheckSummaryEvent } from "../network/mod.ts";
import { formatDuration } from "./duration.ts";

/**
 * The log line for a DERP event.
 *
 * @example
 * ```ts
 * describeDerpEvent({ kind: "derp-home", region: 902, previous: 901, reason: "failover" });
 * // "DERP home is now region 902 (was 901): failover"
 * ```
 */
export function describeDerpEvent(event: DerpLinkEvent): string {
  switch (event.kind) {
    case "derp-home":
      return event.previous === undefined
        ? `DERP home is region ${event.region}`
        : `DERP home is now region ${event.region} (was ${event.previous}): ${event.reason}`;
    case "derp-connected":
      return `DERP region ${event.region} connected${event.home ? " (home)" : ""}: ${event.url}`;
    case "derp-lost":
      return `DERP region ${event.region} lost (${event.error}); reconnecting in ${
        formatDuration(event.retryInMs)
      }`;
    case "derp-connect-failed":
      return `DERP region ${event.region} connect failed ${event.failures}× (${event.error}); ` +
        `retrying in ${formatDuration(event.retryInMs)}`;
    case "derp-closed":
      return `DERP region ${event.region} closed (${event.reason})`;
  }
}

/**
 * The log line for a netcheck finding.
 *
 * @example
 * ```ts
 * describeNetcheckEvent({ kind: "netcheck", udp: true, preferredDERP: 901, latencyMs: 0.4 });
 * // "netcheck: UDP yes, nearest DERP region 901 (0.4 ms)"
 * ```
 */
export function describeNetcheckEvent(event: NetcheckSummaryEvent): string {
  const nearest = event.preferredDERP === 0
    ? "no DERP region measured"
    : `nearest DERP region ${event.preferredDERP}` +
      (event.latencyMs === undefined ? "" : ` (${event.latencyMs.toFixed(1)} ms)`);
  return `netcheck: UDP ${event.udp ? "yes" : "no"}, ${nearest}`;
}
