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
import { parseIPAddress } from "../netaddr/ip_address.ts";

/** The DERP map offers no region we could use as home. */
export class NoDerpRegionError extends Error {
  /** Creates the error. */
  constructor(message = "the DERP map has no region that can be a home") {
    super(message);
    this.name = "NoDerpRegionError";
  }
}

/** Whether `region` may be a home: it relays, and the map does not keep it from being one. */
export function usableRegion(region: DERPRegion | null | undefined): region is DERPRegion {
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

/**
 * The regions to try as home, best first: `preferred` when usable, then the
 * caller's `order` (e.g. netcheck latencies, best first), then the other
 * usable regions by ascending ID. Each appears once. Empty when the map
 * offers no home.
 */
export function homeCandidates(
  derpMap: DERPMap | null,
  preferred?: number,
  order: readonly number[] = [],
): DERPRegion[] {
  const regions = Object.values(derpMap?.Regions ?? {}).filter(usableRegion);
  const byID = new Map(regions.map((r) => [r.RegionID, r]));
  const out: DERPRegion[] = [];
  const take = (id: number | undefined) => {
    const region = id === undefined ? undefined : byID.get(id);
    if (region && !out.includes(region)) out.push(region);
  };
  take(preferred);
  for (const id of order) take(id);
  for (const region of regions.sort((a, b) => a.RegionID - b.RegionID)) take(region.RegionID);
  return out;
}

/** The nodes of `region` that relay (not STUN-only), in the map's order of priority. */
export function derpNodesOf(region: DERPRegion): DERPNode[] {
  return (region.Nodes ?? []).filter((n) => !n.STUNOnly);
}

/**
 * Where to connect for a node, as tailscaled's `dialNode` reads its
 * addresses (§3.10): the `IPv4` literal, else the `IPv6` literal, else the
 * host name (DNS) unless both families are switched off (a non-IP value
 * such as `"none"`), then null. tailscaled races both families; one is
 * dialled here.
 */
export function derpDialAddress(node: DERPNode): string | null {
  const v4 = node.IPv4 ?? "";
  const v6 = node.IPv6 ?? "";
  if (parseIPAddress(v4)?.length === 4) return v4;
  if (parseIPAddress(v6)?.length === 16) return v6;
  if (v4 !== "" && v6 !== "") return null;
  return node.HostName;
}

/**
 * The name TLS sends and checks for a node: `CertName` when it is a name,
 * else `HostName` (tailscaled's `tlsServerName`). A `sha256-raw:` pin is
 * not a name: the certificate is then checked against `HostName` and the
 * trusted CAs, because Deno's TLS cannot show us the raw certificate.
 */
export function derpTLSName(node: DERPNode): string {
  const cert = node.CertName ?? "";
  return cert && !cert.startsWith("sha256-raw:") ? cert : node.HostName;
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
