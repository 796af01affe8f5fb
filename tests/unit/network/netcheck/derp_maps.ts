/**
 * DERP maps for netcheck tests.
 */
import type { DERPMap, DERPNode, DERPRegion } from "../../../../network/control/map_response.ts";

/**
 * Regions 1–6, region N with N nodes (`Na`, `Nb`, …) at `N.0.0.i` and
 * `N::i`; region 6 is NoMeasureNoHome. The shape tailscaled's own plan
 * tests use.
 */
export function ladderMap(): DERPMap {
  const regions: Record<string, DERPRegion> = {};
  for (let id = 1; id <= 6; id++) {
    const nodes: DERPNode[] = [];
    for (let i = 0; i < id; i++) {
      nodes.push({
        Name: `${id}${String.fromCharCode(97 + i)}`,
        RegionID: id,
        HostName: `derp${id}-${i}.example`,
        IPv4: `${id}.0.0.${i}`,
        IPv6: `${id}::${i}`,
      });
    }
    regions[String(id)] = {
      RegionID: id,
      RegionCode: `r${id}`,
      RegionName: `Region ${id}`,
      NoMeasureNoHome: id === 6,
      Nodes: nodes,
    };
  }
  return { Regions: regions };
}

/** A region of one node. */
export function region(id: number, node: Partial<DERPNode>, extra: Partial<DERPRegion> = {}) {
  return {
    RegionID: id,
    RegionCode: `r${id}`,
    RegionName: `Region ${id}`,
    Nodes: [{ Name: `${id}a`, RegionID: id, HostName: `derp${id}.example`, ...node }],
    ...extra,
  } satisfies DERPRegion;
}

/** A map of the given regions. */
export function mapOf(...regions: DERPRegion[]): DERPMap {
  return { Regions: Object.fromEntries(regions.map((r) => [String(r.RegionID), r])) };
}
