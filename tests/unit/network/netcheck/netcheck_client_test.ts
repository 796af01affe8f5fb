/**
 * Reports across time: full first, incremental after, full again every
 * 5 min or on request; the home region measured by every incremental report.
 */
import assert from "node:assert/strict";
import {
  NetcheckBusyError,
  NetcheckClient,
  NetcheckNoDerpMapError,
} from "../../../../network/netcheck/netcheck_client.ts";
import { FULL_REPORT_INTERVAL_MS } from "../../../../network/netcheck/netcheck_constants.ts";
import { bindingResponse } from "../../../../network/stun/stun_message.ts";
import { seededRandom } from "../crypto/seeded_random.ts";
import { mapOf, region } from "./derp_maps.ts";
import { StunWorld } from "./stun_world.ts";

const V4 = { haveV4: true, haveV6: false };
const WALL = Date.UTC(2026, 0, 1);

/** Five IPv4 regions with round trips 10, 20, 30, 40, 50 ms. */
function fiveRegions() {
  const map = mapOf(
    ...[1, 2, 3, 4, 5].map((id) => region(id, { IPv4: `192.0.2.${id}`, IPv6: "none" })),
  );
  const world = new StunWorld();
  for (const id of [1, 2, 3, 4, 5]) world.server(`192.0.2.${id}:3478`, { rttMs: id * 10 });
  return { map, world };
}

function report(
  client: NetcheckClient,
  world: StunWorld,
  map: ReturnType<typeof mapOf>,
  now: number,
) {
  const run = client.startReport(map, { now, interfaces: V4 });
  const end = world.drive(run);
  return { run, report: client.finishReport(run, end, WALL + end) };
}

Deno.test("client: the first report is full, the next incremental, every 5 min full again", () => {
  const { map, world } = fiveRegions();
  const client = new NetcheckClient({ random: seededRandom(3).bytes, enoughRegions: 100 });
  const first = report(client, world, map, 0);
  assert.equal(first.run.incremental, false);
  assert.equal(first.report.full, true);
  assert.deepEqual([...first.report.regionLatency.keys()].sort(), [1, 2, 3, 4, 5]);
  assert.equal(first.report.preferredDERP, 1);
  assert.equal(first.report.now, WALL + 50);

  world.sent.length = 0;
  const second = report(client, world, map, 25_000);
  assert.equal(second.run.incremental, true);
  // The three fastest only; region 1 is home and fastest.
  assert.deepEqual([...new Set(world.sent.map((p) => p.to))].sort(), [
    "192.0.2.1:3478",
    "192.0.2.2:3478",
    "192.0.2.3:3478",
  ]);
  assert.equal(second.report.preferredDERP, 1);
  // Regions 4 and 5 are not in this report but still in the recent history.
  assert.deepEqual([...client.recentRegionLatency().keys()].sort(), [1, 2, 3, 4, 5]);

  const third = report(client, world, map, FULL_REPORT_INTERVAL_MS + 1);
  assert.equal(third.run.incremental, false, "more than 5 min after the last full one");
  const fourth = report(client, world, map, FULL_REPORT_INTERVAL_MS + 20_000);
  assert.equal(fourth.run.incremental, true);
  client.makeNextReportFull();
  const fifth = report(client, world, map, FULL_REPORT_INTERVAL_MS + 40_000);
  assert.equal(fifth.run.incremental, false, "asked for");
});

Deno.test("client: the home region moves only when another is clearly faster", () => {
  const { map, world } = fiveRegions();
  const client = new NetcheckClient({ random: seededRandom(4).bytes });
  assert.equal(report(client, world, map, 0).report.preferredDERP, 1);
  // Region 2 becomes a bit faster than region 1: not enough to move (hysteresis).
  world.server("192.0.2.2:3478", { rttMs: 5 });
  world.server("192.0.2.1:3478", { rttMs: 12 });
  assert.equal(report(client, world, map, 30_000).report.preferredDERP, 1);
  // Region 1 dies; the home moves at the next report.
  world.servers.delete("192.0.2.1:3478");
  const moved = report(client, world, map, 60_000).report;
  assert.equal(moved.regionLatency.has(1), false);
  assert.equal(moved.preferredDERP, 2);
});

Deno.test("client: a slow home region is still re-measured by incremental reports", () => {
  const { map, world } = fiveRegions();
  const client = new NetcheckClient({ random: seededRandom(5).bytes, enoughRegions: 100 });
  report(client, world, map, 0);
  client.setForcePreferredDERP(5);
  client.makeNextReportFull(); // an incremental report would not measure region 5
  assert.equal(report(client, world, map, 1000).report.preferredDERP, 5, "forced home");
  client.setForcePreferredDERP(0);
  world.sent.length = 0;
  const next = report(client, world, map, 2000).report;
  assert.ok(world.sent.some((p) => p.to === "192.0.2.5:3478"), "home region 5 probed");
  assert.ok(!world.sent.some((p) => p.to === "192.0.2.4:3478"), "region 4 is not");
  assert.equal(next.regionLatency.get(5), 50);
});

Deno.test("client: one report at a time; a DERP map is required", () => {
  const { map } = fiveRegions();
  const client = new NetcheckClient({ random: seededRandom(6).bytes });
  assert.throws(() => client.startReport(null, { now: 0, interfaces: V4 }), NetcheckNoDerpMapError);
  const run = client.startReport(map, { now: 0, interfaces: V4 });
  assert.throws(() => client.startReport(map, { now: 1, interfaces: V4 }), NetcheckBusyError);
  client.abandon(run);
  assert.equal(run.end, "aborted");
  const again = client.startReport(map, { now: 2, interfaces: V4 });
  assert.equal(client.currentRun, again);
});

Deno.test("client: finishing a run cut short keeps what it measured", () => {
  const { map } = fiveRegions();
  const client = new NetcheckClient({ random: seededRandom(7).bytes });
  const run = client.startReport(map, { now: 0, interfaces: V4 });
  const first = run.poll(0).find((a) => a.kind === "send" && a.to.key === "192.0.2.1:3478");
  if (first?.kind !== "send") throw new Error("no probe to region 1");
  const reply = bindingResponse(first.datagram.slice(8, 20), { ip: "198.51.100.7", port: 4 });
  assert.equal(run.receive(reply, first.to, 9), "accepted");
  const cut = client.finishReport(run, 15, WALL);
  assert.equal(run.end, "aborted");
  assert.deepEqual([...cut.regionLatency], [[1, 9]]);
  assert.equal(cut.preferredDERP, 1);
  assert.equal(client.lastReport?.now, WALL);
  assert.equal(client.currentRun, undefined);
});
