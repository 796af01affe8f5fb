/**
 * Choosing the home DERP region and the URL of a region's server
 * (data-plane reference §3.8–3.9, §3.10).
 *
 * Without netcheck latencies yet, the home is the caller's preference when
 * the map has it, else the lowest-numbered region that may be a home; the
 * first node of the region that is not STUN-only is dialled, as tailscaled
 * does for its first attempt.
 *
 * @module
 */
import type { DERPMap, DERPNode, DERPRegion } from "../control/map_response.ts";

/** The DERP map offers no region we could use as home. */
export class NoDerpRegionError extends Error {
  /** Creates the error. */
  constructor(message = "the DERP map has no region that can be a home") {
    super(message);
    this.name = "NoDerpRegionError";
  }
}

function usableRegion(region: DERPRegion | null | undefined): region is DERPRegion {
  return !!region && !region.NoMeasureNoHome && !region.Avoid &&
    (region.Nodes ?? []).some((node) => !node.STUNOnly);
}

/**
 * The home region: `preferred` when the map offers it as a possible home,
 * else the lowest region ID that is one. Throws {@link NoDerpRegionError}.
 */
export function chooseHomeRegion(derpMap: DERPMap | null, preferred?: number): DERPRegion {
  const regions = Object.values(derpMap?.Regions ?? {}).filter(usableRegion);
  const chosen = regions.find((region) => region.RegionID === preferred) ??
    regions.sort((a, b) => a.RegionID - b.RegionID)[0];
  if (!chosen) throw new NoDerpRegionError();
  return chosen;
}

/** The first node of `region` that relays (not STUN-only). */
export function derpNodeOf(region: DERPRegion): DERPNode {
  const node = (region.Nodes ?? []).find((n) => !n.STUNOnly);
  if (!node) throw new NoDerpRegionError(`DERP region ${region.RegionID} has no relay node`);
  return node;
}

/**
 * The URL of a DERP node: `https://HostName[:DERPPort]/derp`, or `http:`
 * when `plainHTTP` is set (tailscaled's `TS_DEBUG_USE_DERP_HTTP`, used with
 * a control server on plain HTTP whose embedded DERP has no TLS).
 *
 * @example
 * ```ts
 * derpNodeURL({ Name: "999a", RegionID: 999, HostName: "127.0.0.1", DERPPort: 8080 }, true);
 * // http://127.0.0.1:8080/derp
 * ```
 */
export function derpNodeURL(node: DERPNode, plainHTTP = false): URL {
  const scheme = plainHTTP ? "http" : "https";
  const host = node.HostName.includes(":") ? `[${node.HostName}]` : node.HostName;
  const port = node.DERPPort ? `:${node.DERPPort}` : "";
  return new URL(`${scheme}://${host}${port}/derp`);
}
