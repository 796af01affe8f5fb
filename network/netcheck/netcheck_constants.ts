/**
 * Netcheck's timings and limits, under the names tailscaled v1.102 gives
 * them (`net/netcheck`, `wgengine/magicsock`, `derp`), in milliseconds.
 *
 * @module
 */

/** Longest a whole report may take (`ReportTimeout`). */
export const REPORT_TIMEOUT_MS = 5000;

/**
 * How long the STUN phase waits for answers before the report is finished
 * (`stunProbeTimeout`). tailscaled then tries HTTPS and ICMP when no STUN
 * answer came at all; Citadel does not (see `mod.ts`).
 */
export const STUN_PROBE_TIMEOUT_MS = 3000;

/**
 * Retransmit spacing of an incremental report for a region without a
 * previous latency (`defaultActiveRetransmitTime`).
 */
export const DEFAULT_ACTIVE_RETRANSMIT_MS = 200;

/** Retransmit spacing of a full (initial) report (`defaultInitialRetransmitTime`). */
export const DEFAULT_INITIAL_RETRANSMIT_MS = 100;

/** Probes per region and family in a full report (`makeProbePlanInitial`). */
export const INITIAL_PROBES_PER_REGION = 3;

/** Fastest regions re-probed by an incremental report (`numIncrementalRegions`). */
export const NUM_INCREMENTAL_REGIONS = 3;

/**
 * Regions that must answer before the report stops waiting for the rest
 * (`enoughRegions`; tailscale's `--verbose` raises it to 100).
 */
export const ENOUGH_REGIONS = 3;

/**
 * Longest time between full reports; also sets how long reports are kept
 * for the preferred-DERP history (`fullReportInterval`).
 */
export const FULL_REPORT_INTERVAL_MS = 5 * 60_000;

/** Reports older than this leave the history (`fullReportInterval + ReportTimeout`). */
export const REPORT_HISTORY_MAX_AGE_MS: number = FULL_REPORT_INTERVAL_MS + REPORT_TIMEOUT_MS;

/**
 * A faster region must beat the home region by at least this much before
 * the home moves (`preferredDERPAbsoluteDiff`).
 */
export const PREFERRED_DERP_ABSOLUTE_DIFF_MS = 10;

/**
 * A DERP frame from a region this recent counts as the region being up,
 * even without a STUN answer (`PreferredDERPFrameTime`).
 */
export const PREFERRED_DERP_FRAME_TIME_MS = 8000;

/** The DERP client's keep-alive interval (`derp.KeepAlive`). */
export const DERP_KEEP_ALIVE_MS = 60_000;

/**
 * With no latency at all, the home region is kept while it was heard from
 * this recently (`PreferredDERPKeepAliveTimeout`, twice the DERP keep-alive).
 */
export const PREFERRED_DERP_KEEP_ALIVE_TIMEOUT_MS = 2 * DERP_KEEP_ALIVE_MS;

/** Default STUN port of a DERP node whose `STUNPort` is 0. */
export const DEFAULT_STUN_PORT = 3478;

/**
 * Periodic re-STUN interval bounds (`updateEndpoints`: a random time
 * between 20 and 26 s, just under the common 30 s UDP NAT timeout).
 */
export const PERIODIC_RESTUN_MIN_MS = 20_000;
/** Upper bound of the periodic re-STUN interval. */
export const PERIODIC_RESTUN_MAX_MS = 26_000;

/**
 * Idle time after which periodic re-STUN stops (`sessionActiveTimeout`);
 * events such as an address change still trigger a report.
 */
export const SESSION_ACTIVE_TIMEOUT_MS = 45_000;
