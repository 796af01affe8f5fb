/**
 * The recent reports and the home-region choice (tailscaled's
 * `addReportHistoryAndSetPreferredDERP`; data-plane reference §3.9).
 *
 * Reports are kept for 5 min 5 s, so the history always holds the last
 * full report. Each region's best latency over that history, scaled by the
 * DERP map's `HomeParams.RegionScore`, picks the candidate among the
 * regions that answered this time. Then the hysteresis: the old home stays
 * when it is still reachable (it answered now, or a DERP frame came from it
 * since the report started or within 8 s) and the candidate is not better
 * by 10 ms or more, or not faster than ⅔ of the old home's current latency.
 * A forced region wins when it answered or was heard from. With no latency
 * at all, the old home stays while it was heard from within 2 min.
 *
 * Ties go to the lowest region ID (tailscaled leaves them to map order).
 *
 * @module
 */
import type { DERPHomeParams } from "../control/map_response.ts";
import {
  PREFERRED_DERP_ABSOLUTE_DIFF_MS,
  PREFERRED_DERP_FRAME_TIME_MS,
  PREFERRED_DERP_KEEP_ALIVE_TIMEOUT_MS,
  REPORT_HISTORY_MAX_AGE_MS,
} from "./netcheck_constants.ts";
import type { NetcheckReport, RegionID } from "./netcheck_report.ts";

/**
 * When a DERP frame last came from a region, in the caller's monotonic
 * milliseconds, or undefined when never (or too long ago to matter).
 */
export type LastDerpActivity = (region: RegionID) => number | undefined;

/** What the home choice needs besides the report. */
export interface PreferredDerpInputs {
  /** Monotonic ms at which the report started. */
  readonly startedAt: number;
  /** DERP traffic per region (magicsock's receive times); none by default. */
  readonly lastDerpActivity?: LastDerpActivity;
  /** Region to prefer whenever it answered or was heard from (0: none). */
  readonly forcePreferredDERP?: RegionID;
  /** The DERP map's home parameters (region scores). */
  readonly homeParams?: DERPHomeParams | null;
}

function scoreOf(homeParams: DERPHomeParams | null | undefined, region: RegionID): number {
  const score = homeParams?.RegionScore?.[String(region)];
  return typeof score === "number" && score > 0 ? score : 0;
}

/** The reports of the last 5 min 5 s, keyed by the monotonic time they were added. */
export class ReportHistory {
  readonly #reports = new Map<number, NetcheckReport>();
  #last: NetcheckReport | undefined;

  /** The most recent report, if any. */
  get last(): NetcheckReport | undefined {
    return this.#last;
  }

  /** How many reports are kept. */
  get size(): number {
    return this.#reports.size;
  }

  /** The lowest latency per region over the kept reports (`bestRecentLatency`). */
  bestRecentLatency(): Map<RegionID, number> {
    const best = new Map<RegionID, number>();
    for (const report of this.#reports.values()) {
      for (const [region, ms] of report.regionLatency) {
        const previous = best.get(region);
        if (previous === undefined || ms < previous) best.set(region, ms);
      }
    }
    return best;
  }

  /**
   * Adds `report` (finished at monotonic `now`) to the history, drops the
   * reports that are too old, and sets `report.preferredDERP`.
   *
   * @example
   * ```ts
   * history.add(report, clock.monotonic(), { startedAt, homeParams: derpMap.HomeParams });
   * report.preferredDERP; // e.g. 900
   * ```
   */
  add(report: NetcheckReport, now: number, inputs: PreferredDerpInputs): void {
    const previousHome = this.#last?.preferredDERP ?? 0;
    this.#reports.set(now, report);
    this.#last = report;
    for (const at of [...this.#reports.keys()]) {
      if (now - at > REPORT_HISTORY_MAX_AGE_MS) this.#reports.delete(at);
    }
    report.preferredDERP = choosePreferredDERP(
      report,
      this.bestRecentLatency(),
      previousHome,
      now,
      inputs,
    );
  }
}

/**
 * The home region for `report` given the best recent latencies, the
 * previous home (0: none) and the inputs (see the module notes).
 */
export function choosePreferredDERP(
  report: Pick<NetcheckReport, "regionLatency">,
  bestRecent: Map<RegionID, number>,
  previousHome: RegionID,
  now: number,
  inputs: PreferredDerpInputs,
): RegionID {
  const { homeParams, startedAt } = inputs;
  const activity = (region: RegionID) => inputs.lastDerpActivity?.(region);
  const scaled = (region: RegionID, ms: number) => {
    const score = scoreOf(homeParams, region);
    return score > 0 ? ms * score : ms;
  };

  let preferred = 0;
  let bestAny = 0;
  let oldHomeLatency = 0;
  for (const region of [...report.regionLatency.keys()].sort((a, b) => a - b)) {
    if (region === previousHome) oldHomeLatency = scaled(region, report.regionLatency.get(region)!);
    const best = scaled(region, bestRecent.get(region) ?? 0);
    if (preferred === 0 || best < bestAny) {
      bestAny = best;
      preferred = region;
    }
  }

  const changing = previousHome !== 0 && preferred !== previousHome;
  const previousHeard = activity(previousHome);
  let heardFromOldHome = false;
  if (changing && previousHeard !== undefined) {
    heardFromOldHome = previousHeard > startedAt ||
      previousHeard > now - PREFERRED_DERP_FRAME_TIME_MS;
  }
  const oldHomeReachable = oldHomeLatency !== 0 || heardFromOldHome;
  if (changing && oldHomeReachable) {
    const keepOld = oldHomeLatency - bestAny < PREFERRED_DERP_ABSOLUTE_DIFF_MS ||
      bestAny > (oldHomeLatency / 3) * 2;
    if (keepOld) preferred = previousHome;
  }

  const forced = inputs.forcePreferredDERP ?? 0;
  if (forced !== 0) {
    const heard = activity(forced);
    const recent = heard !== undefined &&
      (heard > startedAt || heard > now - PREFERRED_DERP_FRAME_TIME_MS);
    if (report.regionLatency.has(forced) || recent) preferred = forced;
  }

  if (
    preferred === 0 && previousHeard !== undefined &&
    previousHeard > now - PREFERRED_DERP_KEEP_ALIVE_TIMEOUT_MS
  ) {
    preferred = previousHome;
  }
  return preferred;
}
