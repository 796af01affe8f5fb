/**
 * Which STUN probes a report sends, and when (tailscaled's `makeProbePlan`
 * and `makeProbePlanInitial`, data-plane reference §4.4).
 *
 * A plan is a list of probe sets, one per region and family. A set's
 * probes are retransmissions: the first goes at once, the others later,
 * and the set ends as soon as one of them is answered, or when a further
 * probe could not teach anything new.
 *
 * - Full (initial) plan: every region that may be measured, three probes
 *   per family 100 ms apart, cycling through the region's nodes.
 * - Incremental plan: the three fastest regions of the last report plus
 *   the current home region. The two fastest get two probes, the home
 *   four, the others one; retransmits are spaced by 120 % of the region's
 *   last latency (200 ms when it had none), with 50 ms more per try from
 *   the third try on. IPv6 is probed only where the last report had IPv6,
 *   and on dual-stack hosts the slower regions alternate between families.
 *
 * A family is planned only when the host has a usable address of it, or
 * the node is a test node ({@link isTestNode}). Plans are deterministic:
 * regions come in ascending ID order, ties in latency break by region ID
 * (tailscaled leaves both to Go's map and sort order).
 *
 * @module
 */
import type { DERPMap, DERPNode, DERPRegion } from "../control/map_response.ts";
import {
  DEFAULT_ACTIVE_RETRANSMIT_MS,
  DEFAULT_INITIAL_RETRANSMIT_MS,
  INITIAL_PROBES_PER_REGION,
  NUM_INCREMENTAL_REGIONS,
} from "./netcheck_constants.ts";
import type { NetcheckReport, RegionID } from "./netcheck_report.ts";
import { isTestNode, nodeMight4, nodeMight6, type ProbeFamily } from "./stun_target.ts";

/** Which IP families the host has usable (non-loopback, non-link-local) addresses for. */
export interface InterfaceFamilies {
  /** An IPv4 address other than loopback and link-local. */
  readonly haveV4: boolean;
  /** A global (`2000::/3`) or unique-local IPv6 address other than Tailscale's own ULA. */
  readonly haveV6: boolean;
}

/** One STUN request of a plan. */
export interface Probe {
  /** When to send it, in ms after the report starts. */
  readonly delayMs: number;
  /** The node to probe. */
  readonly node: DERPNode;
  /** The family to probe it over. */
  readonly family: ProbeFamily;
}

/** The probes of one region and family; done once one is answered. */
export interface ProbeSet {
  /** `region-<id>-v4` or `region-<id>-v6`, as tailscaled names them. */
  readonly key: string;
  /** The region measured. */
  readonly regionId: RegionID;
  /** The family measured. */
  readonly family: ProbeFamily;
  /** The probes, by ascending delay. */
  readonly probes: readonly Probe[];
}

/** A report's probe sets, ordered by region ID, IPv4 before IPv6. */
export type ProbePlan = readonly ProbeSet[];

/** What an incremental plan needs of the last report. */
export type PlanningReport = Pick<
  NetcheckReport,
  "regionLatency" | "regionV4Latency" | "regionV6Latency"
>;

/** The map's regions by ascending ID, skipping `null` entries. */
export function regionsOf(derpMap: DERPMap): DERPRegion[] {
  return Object.values(derpMap.Regions ?? {})
    .filter((region): region is DERPRegion => !!region)
    .sort((a, b) => a.RegionID - b.RegionID);
}

function nodesOf(region: DERPRegion): DERPNode[] {
  return region.Nodes ?? [];
}

function pushSets(
  plan: ProbeSet[],
  regionId: RegionID,
  v4: Probe[],
  v6: Probe[],
): void {
  if (v4.length > 0) plan.push({ key: `region-${regionId}-v4`, regionId, family: 4, probes: v4 });
  if (v6.length > 0) plan.push({ key: `region-${regionId}-v6`, regionId, family: 6, probes: v6 });
}

/**
 * The full plan (`makeProbePlanInitial`): three probes per region and
 * family, 100 ms apart, to nodes 0, 1, 2 (modulo the node count).
 */
export function makeInitialProbePlan(derpMap: DERPMap, interfaces: InterfaceFamilies): ProbePlan {
  const plan: ProbeSet[] = [];
  for (const region of regionsOf(derpMap)) {
    const nodes = nodesOf(region);
    if (region.NoMeasureNoHome || nodes.length === 0) continue;
    const v4: Probe[] = [], v6: Probe[] = [];
    for (let attempt = 0; attempt < INITIAL_PROBES_PER_REGION; attempt++) {
      const node = nodes[attempt % nodes.length];
      const delayMs = attempt * DEFAULT_INITIAL_RETRANSMIT_MS;
      const test = isTestNode(node);
      if (node.IPv4 !== "none" && ((interfaces.haveV4 && nodeMight4(node)) || test)) {
        v4.push({ delayMs, node, family: 4 });
      }
      if (node.IPv6 !== "none" && ((interfaces.haveV6 && nodeMight6(node)) || test)) {
        v6.push({ delayMs, node, family: 6 });
      }
    }
    pushSets(plan, region.RegionID, v4, v6);
  }
  return plan;
}

/** Go's `Duration` zero means "no value": a latency of 0 counts as missing. */
function latencyOf(latencies: Map<RegionID, number>, region: RegionID): number {
  return latencies.get(region) || 0;
}

/**
 * Regions to re-measure, fastest first by the last report, regions without
 * a latency last (`sortRegions`). Regions that may not be measured are
 * left out, and so are `Avoid` regions unless one is the current home.
 */
export function sortRegionsByLatency(
  derpMap: DERPMap,
  last: PlanningReport,
  preferredDERP: RegionID,
): DERPRegion[] {
  return regionsOf(derpMap)
    .filter((region) =>
      !region.NoMeasureNoHome && (!region.Avoid || region.RegionID === preferredDERP)
    )
    .sort((a, b) => {
      const la = latencyOf(last.regionLatency, a.RegionID);
      const lb = latencyOf(last.regionLatency, b.RegionID);
      if (la !== 0 && lb === 0) return -1;
      if (la === 0 && lb !== 0) return 1;
      return la - lb || a.RegionID - b.RegionID;
    });
}

/**
 * The plan for a report (`makeProbePlan`): the full plan when there is no
 * last report or it measured no region, else the incremental plan around
 * the last report and the current home region `preferredDERP` (0: none).
 *
 * @example
 * ```ts
 * const plan = makeProbePlan(derpMap, { haveV4: true, haveV6: false }, undefined, 0);
 * plan.map((set) => set.key); // ["region-900-v4", "region-901-v4", …]
 * ```
 */
export function makeProbePlan(
  derpMap: DERPMap,
  interfaces: InterfaceFamilies,
  last: PlanningReport | undefined,
  preferredDERP: RegionID,
): ProbePlan {
  if (!last || last.regionLatency.size === 0) return makeInitialProbePlan(derpMap, interfaces);
  const had4 = last.regionV4Latency.size > 0;
  const had6 = last.regionV6Latency.size > 0;
  const hadBoth = interfaces.haveV6 && had4 && had6;
  // The home region is always re-measured (tailscale #13969): one bad
  // sample in a full report must not let it drop out of later ones.
  let planContainsHome = preferredDERP === 0;
  const plan: ProbeSet[] = [];
  const sorted = sortRegionsByLatency(derpMap, last, preferredDERP);
  for (let rank = 0; rank < sorted.length; rank++) {
    const region = sorted[rank];
    const isHome = region.RegionID === preferredDERP;
    if (rank >= NUM_INCREMENTAL_REGIONS) {
      if (planContainsHome) break;
      if (!isHome) continue;
    }
    let do4 = interfaces.haveV4;
    let do6 = interfaces.haveV6;
    const fastestTwo = rank < 2;
    let tries = 1;
    if (fastestTwo || isHome) {
      tries = 2;
    } else if (hadBoth) {
      // Dual-stack hosts alternate families over the slower regions.
      do4 = rank % 2 === 0;
      do6 = !do4;
    }
    if (!isHome && !fastestTwo && !had6) do6 = false;
    if (isHome) {
      // Try the home region harder, so that a lost packet does not move it.
      tries = 4;
      planContainsHome = true;
    }
    const nodes = nodesOf(region);
    const spacing = latencyOf(last.regionLatency, region.RegionID) * 1.2 ||
      DEFAULT_ACTIVE_RETRANSMIT_MS;
    const v4: Probe[] = [], v6: Probe[] = [];
    for (let attempt = 0; attempt < tries && nodes.length > 0; attempt++) {
      if (attempt !== 0 && !had6) do6 = false;
      const node = nodes[attempt % nodes.length];
      let delayMs = attempt * spacing;
      if (attempt > 1) delayMs += attempt * 50;
      const test = isTestNode(node);
      if (node.IPv4 !== "none" && (do4 || test)) v4.push({ delayMs, node, family: 4 });
      if (node.IPv6 !== "none" && (do6 || test)) v6.push({ delayMs, node, family: 6 });
    }
    pushSets(plan, region.RegionID, v4, v6);
  }
  return plan.sort((a, b) => a.regionId - b.regionId || a.family - b.family);
}
