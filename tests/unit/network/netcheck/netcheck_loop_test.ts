/**
 * The loop in virtual time: a report at start, periodic ones 20–26 s
 * apart, one soon after the host's addresses change, none without a DERP
 * map, full every 5 min.
 */
import assert from "node:assert/strict";
import type { DERPMap } from "../../../../network/control/map_response.ts";
import type { InterfaceAddress } from "../../../../network/netcheck/local_addresses.ts";
import { NetcheckClient } from "../../../../network/netcheck/netcheck_client.ts";
import { NetcheckDriver } from "../../../../network/netcheck/netcheck_driver.ts";
import { NetcheckLoop } from "../../../../network/netcheck/netcheck_loop.ts";
import type { NetcheckReport } from "../../../../network/netcheck/netcheck_report.ts";
import { seededRandom } from "../crypto/seeded_random.ts";
import { VirtualClock } from "../disco/virtual_clock.ts";
import { mapOf, region } from "./derp_maps.ts";
import { FakeStunTransport, settle } from "./fake_stun_transport.ts";

const MAP = mapOf(
  region(900, { HostName: "127.0.0.1", IPv4: "127.0.0.1", IPv6: "none", STUNPort: 4001 }),
);

function setup(derpMap: DERPMap | null = MAP) {
  const rng = seededRandom();
  const clock = new VirtualClock(0);
  const transport = new FakeStunTransport(clock);
  transport.rtt.set("127.0.0.1:4001", 5);
  const driver = new NetcheckDriver({
    transport,
    clock,
    client: new NetcheckClient({ random: rng.bytes }),
    interfaces: () => ({ haveV4: true, haveV6: false }),
    osHasIPv6: () => false,
  });
  transport.driver = driver;
  let addresses: InterfaceAddress[] = [{ name: "eth0", family: "IPv4", address: "192.168.1.2" }];
  const reports: { at: number; reason: string; report: NetcheckReport }[] = [];
  let map = derpMap;
  const loop = new NetcheckLoop({
    driver,
    clock,
    random: rng.bytes,
    derpMap: () => map,
    localAddresses: () => addresses,
    onReport: (report, reason) => reports.push({ at: clock.monotonic(), reason, report }),
  });
  return {
    rng,
    clock,
    loop,
    reports,
    setAddresses: (next: InterfaceAddress[]) => addresses = next,
    setMap: (next: DERPMap | null) => map = next,
    async advance(ms: number) {
      for (let i = 0; i < ms; i += 10) {
        await settle();
        clock.advance(10);
      }
      await settle();
    },
  };
}

Deno.test("loop: a report at start, then periodic ones every 20–26 s", async () => {
  const t = setup();
  t.loop.start();
  await t.advance(100);
  assert.deepEqual(t.reports.map((r) => r.reason), ["startup"]);
  assert.equal(t.reports[0].report.full, true);
  await t.advance(120_000);
  const reasons = t.reports.map((r) => r.reason);
  assert.equal(reasons[0], "startup");
  assert.ok(reasons.slice(1).every((r) => r === "periodic"), `seed ${t.rng.seed}`);
  for (let i = 1; i < t.reports.length; i++) {
    const gap = t.reports[i].at - t.reports[i - 1].at;
    assert.ok(gap >= 20_000 && gap <= 26_100, `seed ${t.rng.seed}: gap ${gap}`);
  }
  assert.ok(t.reports.length >= 5 && t.reports.length <= 7, `${t.reports.length} reports`);
  assert.equal(t.reports[1].report.full, false, "incremental between full ones");
  await t.loop.stop();
});

Deno.test("loop: a new local address brings a report within the 5 s poll", async () => {
  const t = setup();
  t.loop.start();
  await t.advance(1000);
  t.setAddresses([{ name: "wlan0", family: "IPv4", address: "10.9.8.7" }]);
  await t.advance(5000);
  const change = t.reports.find((r) => r.reason === "link-change");
  assert.ok(change, "a link-change report");
  assert.ok(change.at <= 1000 + 5000 + 50, `at ${change.at}`);
  await t.loop.stop();
});

Deno.test("loop: no DERP map, no report; a request once it exists runs one", async () => {
  const t = setup(null);
  t.loop.start();
  await t.advance(1000);
  assert.equal(t.reports.length, 0);
  t.setMap(MAP);
  t.loop.request("derp-map-update");
  await t.advance(100);
  assert.deepEqual(t.reports.map((r) => r.reason), ["derp-map-update"]);
  await t.loop.stop();
});

Deno.test("loop: a full report can be requested; stop ends everything", async () => {
  const t = setup();
  t.loop.start();
  await t.advance(100);
  t.loop.request("rebind", { full: true });
  await t.advance(100);
  assert.equal(t.reports.at(-1)?.reason, "rebind");
  assert.equal(t.reports.at(-1)?.report.full, true);
  await t.loop.stop();
  const count = t.reports.length;
  await t.advance(60_000);
  assert.equal(t.reports.length, count, "nothing after stop");
});
