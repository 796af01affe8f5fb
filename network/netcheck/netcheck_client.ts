/**
 * Netcheck across reports (tailscaled's `netcheck.Client`), sans-I/O: it
 * decides full or incremental, plans the probes, starts a
 * {@link NetcheckRun}, and when the run is finished adds the report to the
 * history and picks the home region.
 *
 * Full or incremental, as tailscaled does: the first report is full, and so
 * is the next one after {@link NetcheckClient.makeNextReportFull} or once
 * 5 min have passed since the last full one; the others re-measure only the
 * fastest regions and the home region. (tailscaled also goes full after a
 * report that saw a captive portal and no UDP; Citadel does not detect
 * captive portals.)
 *
 * @module
 */
import type { DERPMap } from "../control/map_response.ts";
import { type RandomSource, systemRandom } from "../crypto/random.ts";
import { ENOUGH_REGIONS, FULL_REPORT_INTERVAL_MS } from "./netcheck_constants.ts";
import { cloneReport, type NetcheckReport, type RegionID } from "./netcheck_report.ts";
import { NetcheckRun } from "./netcheck_run.ts";
import { type LastDerpActivity, ReportHistory } from "./preferred_derp.ts";
import { type InterfaceFamilies, makeProbePlan } from "./probe_plan.ts";

/** Thrown when a report is started while another one runs. */
export class NetcheckBusyError extends Error {
  /** Makes the error. */
  constructor() {
    super("a netcheck report is already running");
    this.name = "NetcheckBusyError";
  }
}

/** Thrown when a report is started without a DERP map. */
export class NetcheckNoDerpMapError extends Error {
  /** Makes the error. */
  constructor() {
    super("netcheck needs a DERP map");
    this.name = "NetcheckNoDerpMapError";
  }
}

/** Options of {@link NetcheckClient}. */
export interface NetcheckClientOptions {
  /** Transaction IDs; the system CSPRNG by default. */
  readonly random?: RandomSource;
  /**
   * Regions to hear from before the others get a grace period (3; tailscale
   * uses 100 in `netcheck --verbose` to see every region).
   */
  readonly enoughRegions?: number;
  /** STUN phase length in ms (3000). */
  readonly stunProbeTimeoutMs?: number;
  /** A region to make home whenever it is reachable (0: none). */
  readonly forcePreferredDERP?: RegionID;
}

/** Inputs of {@link NetcheckClient.startReport}. */
export interface StartReportOptions {
  /** Monotonic ms now. */
  readonly now: number;
  /** Families the host has usable addresses for (see `local_addresses.ts`). */
  readonly interfaces: InterfaceFamilies;
  /** Whether `::1` could be bound (copied into the report); unknown when absent. */
  readonly osHasIPv6?: boolean;
  /** DERP traffic per region, for the home hysteresis. */
  readonly lastDerpActivity?: LastDerpActivity;
}

interface Current {
  readonly run: NetcheckRun;
  readonly derpMap: DERPMap;
  readonly lastDerpActivity: LastDerpActivity | undefined;
}

/**
 * Netcheck's state between reports.
 *
 * @example
 * ```ts
 * const client = new NetcheckClient();
 * const run = client.startReport(derpMap, { now: clock.monotonic(), interfaces });
 * // … drive run.poll / run.receive until run.finished …
 * const report = client.finishReport(run, clock.monotonic(), clock.now());
 * ```
 */
export class NetcheckClient {
  readonly #random: RandomSource;
  readonly #enoughRegions: number;
  readonly #stunProbeTimeoutMs: number | undefined;
  readonly #history = new ReportHistory();
  #forcePreferredDERP: RegionID;
  #nextFull = false;
  #lastFull: number | undefined;
  #current: Current | undefined;

  /** Makes a client with no history. */
  constructor(options: NetcheckClientOptions = {}) {
    this.#random = options.random ?? systemRandom;
    this.#enoughRegions = options.enoughRegions ?? ENOUGH_REGIONS;
    this.#stunProbeTimeoutMs = options.stunProbeTimeoutMs;
    this.#forcePreferredDERP = options.forcePreferredDERP ?? 0;
  }

  /** The last finished report, or undefined. */
  get lastReport(): NetcheckReport | undefined {
    const last = this.#history.last;
    return last ? cloneReport(last) : undefined;
  }

  /** The run in progress, or undefined. */
  get currentRun(): NetcheckRun | undefined {
    return this.#current?.run;
  }

  /** Lowest latency per region over the last 5 min (every region of the last full report). */
  recentRegionLatency(): Map<RegionID, number> {
    return this.#history.bestRecentLatency();
  }

  /** Makes the next report a full one. */
  makeNextReportFull(): void {
    this.#nextFull = true;
  }

  /** Sets (or, with 0, clears) the region to make home whenever it is reachable. */
  setForcePreferredDERP(region: RegionID): void {
    this.#forcePreferredDERP = region;
  }

  /**
   * Plans and starts a report. Throws {@link NetcheckBusyError} while one
   * runs and {@link NetcheckNoDerpMapError} without a map.
   */
  startReport(derpMap: DERPMap | null | undefined, options: StartReportOptions): NetcheckRun {
    if (!derpMap) throw new NetcheckNoDerpMapError();
    if (this.#current) throw new NetcheckBusyError();
    const { now } = options;
    let last = this.#history.last;
    const preferredDERP = last?.preferredDERP ?? 0;
    if (
      this.#nextFull || this.#lastFull === undefined ||
      now - this.#lastFull > FULL_REPORT_INTERVAL_MS
    ) {
      last = undefined;
      this.#nextFull = false;
      this.#lastFull = now;
    }
    const plan = makeProbePlan(derpMap, options.interfaces, last, preferredDERP);
    const run = new NetcheckRun({
      plan,
      startedAt: now,
      incremental: last !== undefined,
      random: this.#random,
      enoughRegions: this.#enoughRegions,
      stunProbeTimeoutMs: this.#stunProbeTimeoutMs,
      osHasIPv6: options.osHasIPv6,
    });
    this.#current = { run, derpMap, lastDerpActivity: options.lastDerpActivity };
    return run;
  }

  /**
   * Ends `run` (cutting it short if it is still going), adds its report to
   * the history, picks the home region and returns a copy of the report.
   * `now` is monotonic ms, `wallNow` wall-clock ms for the report's time.
   */
  finishReport(run: NetcheckRun, now: number, wallNow: number): NetcheckReport {
    const current = this.#current;
    if (!current || current.run !== run) {
      throw new Error("finishReport: this run is not the client's current run");
    }
    this.#current = undefined;
    if (!run.finished) run.abort();
    const report = cloneReport(run.report);
    report.now = wallNow;
    this.#history.add(report, now, {
      startedAt: run.startedAt,
      lastDerpActivity: current.lastDerpActivity,
      forcePreferredDERP: this.#forcePreferredDERP,
      homeParams: current.derpMap.HomeParams,
    });
    return cloneReport(report);
  }

  /** Drops the current run without a report (the caller is shutting down). */
  abandon(run: NetcheckRun): void {
    if (this.#current?.run !== run) return;
    this.#current = undefined;
    run.abort();
  }
}
