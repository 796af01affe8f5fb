/**
 * Probe plans: the cases of tailscaled v1.102's plan table (same map
 * shape, same expected probes, delays and families), plus the rules for
 * test nodes, `none`, NoMeasureNoHome and Avoid.
 */
import assert from "node:assert/strict";
import {
  makeInitialProbePlan,
  makeProbePlan,
  type PlanningReport,
  type ProbePlan,
  sortRegionsByLatency,
} from "../../../../network/netcheck/probe_plan.ts";
import { ladderMap, mapOf, region } from "./derp_maps.ts";

/** `{ "region-1-v4": ["1a", "1a@100", …] }`, delays in ms, for readable comparisons. */
function render(plan: ProbePlan): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const set of plan) {
    assert.equal(set.key, `region-${set.regionId}-v${set.family}`);
    out[set.key] = set.probes.map((p) => {
      assert.equal(p.family, set.family);
      const delay = Math.round(p.delayMs * 1000) / 1000;
      return delay === 0 ? p.node.Name : `${p.node.Name}@${delay}`;
    });
  }
  return out;
}

function last(
  all: Record<number, number>,
  v4: Record<number, number> = {},
  v6: Record<number, number> = {},
): PlanningReport {
  const toMap = (o: Record<number, number>) =>
    new Map(Object.entries(o).map(([k, v]) => [Number(k), v]));
  return { regionLatency: toMap(all), regionV4Latency: toMap(v4), regionV6Latency: toMap(v6) };
}

const BOTH = { haveV4: true, haveV6: true };
const V4_ONLY = { haveV4: true, haveV6: false };
const LAST_ALL_V4 = last(
  { 1: 10, 2: 20, 3: 30, 4: 40 },
  { 1: 10, 2: 20, 3: 30, 4: 40 },
);
const LAST_MIXED = last({ 1: 10, 2: 20, 3: 30, 4: 40 }, { 1: 10, 2: 20 }, { 3: 30, 4: 40 });

Deno.test("plan: initial, dual stack: 3 probes per family, 100 ms apart, cycling nodes", () => {
  assert.deepEqual(render(makeProbePlan(ladderMap(), BOTH, undefined, 0)), {
    "region-1-v4": ["1a", "1a@100", "1a@200"],
    "region-1-v6": ["1a", "1a@100", "1a@200"],
    "region-2-v4": ["2a", "2b@100", "2a@200"],
    "region-2-v6": ["2a", "2b@100", "2a@200"],
    "region-3-v4": ["3a", "3b@100", "3c@200"],
    "region-3-v6": ["3a", "3b@100", "3c@200"],
    "region-4-v4": ["4a", "4b@100", "4c@200"],
    "region-4-v6": ["4a", "4b@100", "4c@200"],
    "region-5-v4": ["5a", "5b@100", "5c@200"],
    "region-5-v6": ["5a", "5b@100", "5c@200"],
  });
});

Deno.test("plan: initial without IPv6 interfaces probes IPv4 only; without IPv4 only IPv6", () => {
  const v4 = render(makeProbePlan(ladderMap(), V4_ONLY, undefined, 0));
  assert.deepEqual(Object.keys(v4), [1, 2, 3, 4, 5].map((r) => `region-${r}-v4`));
  assert.deepEqual(v4["region-3-v4"], ["3a", "3b@100", "3c@200"]);
  const v6 = render(makeProbePlan(ladderMap(), { haveV4: false, haveV6: true }, undefined, 0));
  assert.deepEqual(Object.keys(v6), [1, 2, 3, 4, 5].map((r) => `region-${r}-v6`));
  assert.deepEqual(v6["region-2-v6"], ["2a", "2b@100", "2a@200"]);
});

Deno.test("plan: a last report without latencies gives the initial plan", () => {
  assert.deepEqual(
    makeProbePlan(ladderMap(), BOTH, last({}), 3),
    makeInitialProbePlan(ladderMap(), BOTH),
  );
});

Deno.test("plan: incremental, IPv4 only: fastest two get 2 tries at 120 % spacing, third 1", () => {
  assert.deepEqual(render(makeProbePlan(ladderMap(), V4_ONLY, LAST_ALL_V4, 0)), {
    "region-1-v4": ["1a", "1a@12"],
    "region-2-v4": ["2a", "2b@24"],
    "region-3-v4": ["3a"],
  });
});

Deno.test("plan: incremental with an IPv6 interface but no IPv6 last time: one v6 try", () => {
  assert.deepEqual(render(makeProbePlan(ladderMap(), BOTH, LAST_ALL_V4, 0)), {
    "region-1-v4": ["1a", "1a@12"],
    "region-1-v6": ["1a"],
    "region-2-v4": ["2a", "2b@24"],
    "region-2-v6": ["2a"],
    "region-3-v4": ["3a"],
  });
});

Deno.test("plan: incremental, mixed last report: slower regions alternate families", () => {
  assert.deepEqual(render(makeProbePlan(ladderMap(), BOTH, LAST_MIXED, 0)), {
    "region-1-v4": ["1a", "1a@12"],
    "region-1-v6": ["1a", "1a@12"],
    "region-2-v4": ["2a", "2b@24"],
    "region-2-v6": ["2a", "2b@24"],
    "region-3-v4": ["3a"],
  });
});

Deno.test("plan: the home region gets 4 tries, +50 ms per try from the third", () => {
  assert.deepEqual(render(makeProbePlan(ladderMap(), BOTH, LAST_MIXED, 1)), {
    "region-1-v4": ["1a", "1a@12", "1a@124", "1a@186"],
    "region-1-v6": ["1a", "1a@12", "1a@124", "1a@186"],
    "region-2-v4": ["2a", "2b@24"],
    "region-2-v6": ["2a", "2b@24"],
    "region-3-v4": ["3a"],
  });
});

Deno.test("plan: a slow home region is still probed beyond the three fastest (tailscale #13969)", () => {
  const slowHome = last({ 1: 50, 2: 20, 3: 30, 4: 40 }, { 1: 50, 2: 20 }, { 3: 30, 4: 40 });
  assert.deepEqual(render(makeProbePlan(ladderMap(), BOTH, slowHome, 1)), {
    "region-1-v4": ["1a", "1a@60", "1a@220", "1a@330"],
    "region-1-v6": ["1a", "1a@60", "1a@220", "1a@330"],
    "region-2-v4": ["2a", "2b@24"],
    "region-2-v6": ["2a", "2b@24"],
    "region-3-v4": ["3a", "3b@36"],
    "region-3-v6": ["3a", "3b@36"],
    "region-4-v4": ["4a"],
  });
});

Deno.test("plan: a region without a last latency is spaced 200 ms when probed incrementally", () => {
  // Only regions 1 and 2 measured; region 3 (no latency) is third and gets one try.
  const partial = last({ 1: 10, 2: 20 }, { 1: 10, 2: 20 });
  const plan = render(makeProbePlan(ladderMap(), V4_ONLY, partial, 3));
  assert.deepEqual(plan["region-3-v4"], ["3a", "3b@200", "3c@500", "3a@750"]);
});

Deno.test("plan: sortRegions: fastest first, regions without latency last, ties by ID", () => {
  const sorted = sortRegionsByLatency(ladderMap(), last({ 1: 5, 2: 3, 3: 6, 4: 0, 5: 2 }), 0);
  assert.deepEqual(sorted.map((r) => r.RegionID), [5, 2, 1, 3, 4]);
  const tie = sortRegionsByLatency(ladderMap(), last({ 3: 7, 1: 7 }), 0);
  assert.deepEqual(tie.map((r) => r.RegionID), [1, 3, 2, 4, 5]);
});

Deno.test("plan: NoMeasureNoHome regions are never probed; Avoid only incrementally skipped", () => {
  const map = mapOf(
    region(1, { IPv4: "192.0.2.1" }, { NoMeasureNoHome: true }),
    region(2, { IPv4: "192.0.2.2" }, { Avoid: true }),
    region(3, { IPv4: "192.0.2.3" }),
    region(4, { IPv4: "192.0.2.4", IPv6: "none" }, { Nodes: [] }),
  );
  assert.deepEqual(Object.keys(render(makeProbePlan(map, V4_ONLY, undefined, 0))), [
    "region-2-v4",
    "region-3-v4",
  ]);
  const lastReport = last({ 2: 5, 3: 9 }, { 2: 5, 3: 9 });
  assert.deepEqual(Object.keys(render(makeProbePlan(map, V4_ONLY, lastReport, 0))), [
    "region-3-v4",
  ]);
  // …unless the Avoid region is the current home.
  assert.deepEqual(Object.keys(render(makeProbePlan(map, V4_ONLY, lastReport, 2))), [
    "region-2-v4",
    "region-3-v4",
  ]);
});

Deno.test("plan: 'none' disables a family; a family the node cannot have is not planned", () => {
  const map = mapOf(
    region(1, { IPv4: "192.0.2.1", IPv6: "none" }),
    region(2, { IPv4: "none", IPv6: "2001:db8::2" }),
    region(3, { IPv4: "2001:db8::3", IPv6: "192.0.2.3" }), // wrong families: nodeMight4/6 false
    region(4, {}), // no addresses: might be either (DNS decides)
  );
  assert.deepEqual(Object.keys(render(makeProbePlan(map, BOTH, undefined, 0))), [
    "region-1-v4",
    "region-2-v6",
    "region-4-v4",
    "region-4-v6",
  ]);
});

Deno.test("plan: test nodes (IPv4 127.0.0.1 or STUNTestIP) are probed without usable interfaces", () => {
  const map = mapOf(
    region(900, { HostName: "127.0.0.1", IPv4: "127.0.0.1", IPv6: "none", STUNPort: 3478 }),
    region(901, { HostName: "::1", IPv4: "none", IPv6: "::1", STUNTestIP: "::1" }),
    region(902, { HostName: "127.0.0.2", IPv4: "127.0.0.2" }), // loopback but not a test node
  );
  const plan = render(makeProbePlan(map, { haveV4: false, haveV6: false }, undefined, 0));
  assert.deepEqual(plan, {
    "region-900-v4": ["900a", "900a@100", "900a@200"],
    "region-901-v6": ["901a", "901a@100", "901a@200"],
  });
});

Deno.test("plan: STUNPort -1 is planned (tailscaled plans it) and skipped when sent", () => {
  // The plan holds the probes; stun_target_test shows that the node has no target.
  const map = mapOf(region(1, { IPv4: "192.0.2.1", IPv6: "none", STUNPort: -1 }));
  assert.deepEqual(render(makeProbePlan(map, V4_ONLY, undefined, 0)), {
    "region-1-v4": ["1a", "1a@100", "1a@200"],
  });
});
