/**
 * The home-region choice over a history of reports: the cases of
 * tailscaled v1.102's history table (same steps, same expected region),
 * in milliseconds.
 */
import assert from "node:assert/strict";
import type { DERPHomeParams } from "../../../../network/control/map_response.ts";
import {
  DERP_KEEP_ALIVE_MS,
  PREFERRED_DERP_FRAME_TIME_MS,
} from "../../../../network/netcheck/netcheck_constants.ts";
import { emptyReport, type NetcheckReport } from "../../../../network/netcheck/netcheck_report.ts";
import { ReportHistory } from "../../../../network/netcheck/preferred_derp.ts";

const S = 1000;

function report(latencies: Record<number, number>): NetcheckReport {
  const r = emptyReport();
  for (const [region, ms] of Object.entries(latencies)) r.regionLatency.set(Number(region), ms);
  return r;
}

interface Case {
  steps: [after: number, latencies: Record<number, number>][];
  homeParams?: DERPHomeParams;
  activity?: Record<number, number>;
  forced?: number;
  wantDERP: number;
  wantKept: number;
}

const START = 123 * S;

function play(c: Case): { derp: number; kept: number } {
  const history = new ReportHistory();
  let now = START;
  let last: NetcheckReport | undefined;
  for (const [after, latencies] of c.steps) {
    now += after;
    last = report(latencies);
    history.add(last, now, {
      startedAt: now - 100,
      homeParams: c.homeParams,
      forcePreferredDERP: c.forced,
      lastDerpActivity: c.activity ? (region) => c.activity![region] : undefined,
    });
  }
  return { derp: last!.preferredDERP, kept: history.size };
}

const CASES: Record<string, Case> = {
  first_reading: { steps: [[0, { 1: 2 * S, 2: 3 * S }]], wantKept: 1, wantDERP: 1 },
  with_two: {
    steps: [[0, { 1: 2 * S, 2: 3 * S }], [S, { 1: 4 * S, 2: 3 * S }]],
    wantKept: 2,
    wantDERP: 1, // the first report's 2 s for region 1 is still the best
  },
  but_now_d1_gone: {
    steps: [[0, { 1: 2 * S, 2: 3 * S }], [S, { 1: 4 * S, 2: 3 * S }], [S, { 2: 3 * S }]],
    wantKept: 3,
    wantDERP: 2,
  },
  d1_is_back: {
    steps: [
      [0, { 1: 2 * S, 2: 3 * S }],
      [S, { 1: 4 * S, 2: 3 * S }],
      [S, { 2: 3 * S }],
      [S, { 1: 4 * S, 2: 3 * S }],
    ],
    wantKept: 4,
    wantDERP: 1,
  },
  things_clean_up: {
    steps: [
      [0, { 1: S, 2: 2 * S }],
      [S, { 1: S, 2: 2 * S }],
      [S, { 1: S, 2: 2 * S }],
      [S, { 1: S, 2: 2 * S }],
      [10 * 60 * S, { 3: 3 * S }],
    ],
    wantKept: 1,
    wantDERP: 3,
  },
  hysteresis_no_switch: {
    steps: [[0, { 1: 4 * S, 2: 5 * S }], [S, { 1: 4 * S, 2: 3 * S }]],
    wantKept: 2,
    wantDERP: 1, // 3 s is not under ⅔ of 4 s
  },
  hysteresis_no_switch_absolute: {
    steps: [[0, { 1: 4, 2: 5 }], [S, { 1: 4, 2: 1 }]],
    wantKept: 2,
    wantDERP: 1, // 75 % faster, but only 3 ms
  },
  hysteresis_do_switch: {
    steps: [[0, { 1: 4 * S, 2: 5 * S }], [S, { 1: 4 * S, 2: S }]],
    wantKept: 2,
    wantDERP: 2,
  },
  hysteresis_no_switch_pct: {
    steps: [[0, { 1: 34, 2: 35 }], [S, { 1: 34, 2: 23 }]],
    wantKept: 2,
    wantDERP: 1, // 11 ms better, but 23 > ⅔ × 34
  },
  home_params: {
    homeParams: { RegionScore: { "1": 2 / 3 } },
    steps: [[S, { 1: 10 * S, 2: 8 * S }]],
    wantKept: 1,
    wantDERP: 1, // 10 × ⅔ < 8
  },
  home_params_high_latency: {
    homeParams: { RegionScore: { "1": 2 / 3 } },
    steps: [[S, { 1: 100 * S, 2: 10 * S }]],
    wantKept: 1,
    wantDERP: 2,
  },
  home_params_invalid: {
    homeParams: { RegionScore: { "1": 0, "2": -1 } },
    steps: [[S, { 1: 4 * S, 2: 5 * S }]],
    wantKept: 1,
    wantDERP: 1,
  },
  saw_derp_traffic: {
    steps: [[0, { 1: 2 * S, 2: 3 * S }], [2 * S, { 1: 4 * S, 2: 3 * S }], [2 * S, { 2: 3 * S }]],
    activity: { 1: START + 2 * S + PREFERRED_DERP_FRAME_TIME_MS / 2 },
    wantKept: 3,
    wantDERP: 1, // region 1 did not answer STUN, but its DERP frames are recent
  },
  saw_derp_traffic_history: {
    steps: [[0, { 1: 2 * S, 2: 3 * S }], [2 * S, { 1: 4 * S, 2: 3 * S }], [2 * S, { 2: 3 * S }]],
    activity: { 1: START + 4 * S - PREFERRED_DERP_FRAME_TIME_MS - 1 },
    wantKept: 3,
    wantDERP: 2,
  },
  forced_two: {
    steps: [[S, { 1: 2 * S, 2: 3 * S }], [2 * S, { 1: 4 * S, 2: 3 * S }]],
    forced: 2,
    wantKept: 2,
    wantDERP: 2,
  },
  forced_two_unavailable: {
    steps: [[S, { 1: 2 * S, 2: S }], [2 * S, { 1: 4 * S }]],
    forced: 2,
    wantKept: 2,
    wantDERP: 1,
  },
  forced_two_no_probe_recent_activity: {
    steps: [[S, { 1: 2 * S }], [2 * S, { 1: 4 * S }]],
    activity: { 1: START, 2: START + S },
    forced: 2,
    wantKept: 2,
    wantDERP: 2,
  },
  forced_two_no_probe_no_recent_activity: {
    steps: [[S, { 1: 2 * S }], [PREFERRED_DERP_FRAME_TIME_MS + S, { 1: 4 * S }]],
    activity: { 1: START, 2: START },
    forced: 2,
    wantKept: 2,
    wantDERP: 1,
  },
  no_data_keep_home: {
    steps: [
      [0, { 1: 2 * S, 2: 3 * S }],
      [30 * S, {}],
      [2 * S, {}],
      [2 * S, {}],
      [2 * S, {}],
      [2 * S, {}],
    ],
    activity: { 1: START },
    wantKept: 6,
    wantDERP: 1,
  },
  no_data_home_expires: {
    steps: [[0, { 1: 2 * S, 2: 3 * S }], [30 * S, {}], [2 * DERP_KEEP_ALIVE_MS, {}]],
    activity: { 1: START },
    wantKept: 3,
    wantDERP: 0,
  },
};

for (const [name, c] of Object.entries(CASES)) {
  Deno.test(`preferred DERP: ${name}`, () => {
    const { derp, kept } = play(c);
    assert.equal(derp, c.wantDERP, "PreferredDERP");
    assert.equal(kept, c.wantKept, "reports kept");
  });
}

Deno.test("preferred DERP: equal latencies go to the lowest region ID, whatever the order", () => {
  const history = new ReportHistory();
  const r = emptyReport();
  r.regionLatency.set(905, 1.5);
  r.regionLatency.set(901, 1.5);
  r.regionLatency.set(903, 1.5);
  history.add(r, 1000, { startedAt: 900 });
  assert.equal(r.preferredDERP, 901);
});

Deno.test("preferred DERP: the history keeps 5 min 5 s, so the last full report stays", () => {
  const history = new ReportHistory();
  history.add(report({ 1: 10, 2: 20, 3: 30 }), 0, { startedAt: 0 });
  for (let t = 25 * S; t <= 5 * 60 * S; t += 25 * S) {
    history.add(report({ 1: 12, 2: 22 }), t, { startedAt: t });
  }
  assert.deepEqual([...history.bestRecentLatency()].sort(), [[1, 10], [2, 20], [3, 30]]);
  history.add(report({ 1: 12 }), 5 * 60 * S + 5 * S + 1, { startedAt: 0 });
  assert.equal(history.bestRecentLatency().has(3), false, "the full report aged out");
});
