/**
 * One report's STUN phase in virtual time: retransmits, timeouts, partial
 * answers, the enough-regions grace, DNS, and hostile datagrams.
 */
import assert from "node:assert/strict";
import type { DERPMap } from "../../../../network/control/map_response.ts";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import { NetcheckRun } from "../../../../network/netcheck/netcheck_run.ts";
import {
  type InterfaceFamilies,
  makeInitialProbePlan,
  makeProbePlan,
  type PlanningReport,
} from "../../../../network/netcheck/probe_plan.ts";
import {
  bindingRequest,
  bindingResponse,
  parseBindingResponse,
  STUN_MAGIC_COOKIE,
} from "../../../../network/stun/stun_message.ts";
import { seededRandom } from "../crypto/seeded_random.ts";
import { mapOf, region } from "./derp_maps.ts";
import { StunWorld } from "./stun_world.ts";

const START = 10_000;
const V4 = { haveV4: true, haveV6: false };
const BOTH = { haveV4: true, haveV6: true };

function fullRun(
  map: DERPMap,
  interfaces: InterfaceFamilies = V4,
  options: { enoughRegions?: number; seed?: number } = {},
): NetcheckRun {
  return new NetcheckRun({
    plan: makeInitialProbePlan(map, interfaces),
    startedAt: START,
    incremental: false,
    random: seededRandom(options.seed ?? 1).bytes,
    enoughRegions: options.enoughRegions,
  });
}

/** Regions 1..n at 192.0.2.<id>, IPv4 only. */
function v4Map(...ids: number[]): DERPMap {
  return mapOf(...ids.map((id) => region(id, { IPv4: `192.0.2.${id}`, IPv6: "none" })));
}

Deno.test("run: every region answers: one probe each, latencies, our address, no hard NAT", () => {
  const world = new StunWorld()
    .server("192.0.2.1:3478", { rttMs: 10 })
    .server("192.0.2.2:3478", { rttMs: 20 })
    .server("192.0.2.3:3478", { rttMs: 30 });
  const run = fullRun(v4Map(1, 2, 3));
  const end = world.drive(run);
  assert.equal(run.end, "all-sets-done");
  assert.equal(end, START + 30);
  assert.equal(world.sent.length, 3, "no retransmit once a set is answered");
  const r = run.report;
  assert.deepEqual([...r.regionLatency], [[1, 10], [2, 20], [3, 30]]);
  assert.deepEqual([...r.regionV4Latency], [[1, 10], [2, 20], [3, 30]]);
  assert.equal(r.regionV6Latency.size, 0);
  assert.equal(r.globalV4?.key, "198.51.100.7:41641");
  assert.deepEqual([...r.globalV4Counters], [["198.51.100.7:41641", 3]]);
  assert.equal(r.mappingVariesByDestIP, false);
  assert.equal(r.udp && r.ipv4 && r.ipv4CanSend, true);
  assert.equal(r.ipv6 || r.ipv6CanSend, false);
  assert.equal(r.mappingVariesByDestIPv6, undefined);
  assert.equal(r.full, true);
  assert.deepEqual(world.outcomes, ["accepted", "accepted", "accepted"]);
});

Deno.test("run: a lost request is retransmitted at 100 ms; latency counts from that send", () => {
  const world = new StunWorld()
    .server("192.0.2.1:3478", { rttMs: 7, drop: (n) => n === 0 })
    .server("192.0.2.2:3478", { rttMs: 20 });
  const run = fullRun(v4Map(1, 2));
  world.drive(run);
  assert.deepEqual(world.sendTimes("192.0.2.1:3478"), [0, 100]);
  assert.equal(run.report.regionLatency.get(1), 7);
  assert.equal(run.end, "all-sets-done");
});

Deno.test("run: a slow answer overtaken by a retransmit keeps the lower latency", () => {
  const world = new StunWorld().server("192.0.2.1:3478", { rttMs: 150 });
  const run = fullRun(v4Map(1));
  world.drive(run);
  // 0 and 100 sent; the answer to the first (150 ms) ends the set before 200.
  assert.deepEqual(world.sendTimes("192.0.2.1:3478"), [0, 100]);
  assert.equal(run.report.regionLatency.get(1), 150);
  world.flush(); // the answer to the second probe arrives after the run ended
  assert.deepEqual(world.outcomes, ["accepted", "finished"]);
});

Deno.test("run: a dead region gets 3 probes and is missing after the 3 s STUN timeout", () => {
  const world = new StunWorld().server("192.0.2.1:3478", { rttMs: 12 });
  const run = fullRun(v4Map(1, 2));
  const end = world.drive(run);
  assert.deepEqual(world.sendTimes("192.0.2.2:3478"), [0, 100, 200]);
  assert.equal(run.end, "stun-timeout");
  assert.equal(end, START + 3000);
  assert.deepEqual([...run.report.regionLatency.keys()], [1]);
});

Deno.test("run: nothing answers: UDP false, nothing measured, ends at 3 s", () => {
  const world = new StunWorld();
  const run = fullRun(v4Map(1, 2, 3));
  assert.equal(world.drive(run), START + 3000);
  assert.equal(world.sent.length, 9);
  const r = run.report;
  assert.equal(r.udp || r.ipv4 || r.ipv6, false);
  assert.equal(r.ipv4CanSend, true, "the requests went out");
  assert.equal(r.globalV4, undefined);
  assert.equal(r.mappingVariesByDestIP, undefined, "unknown, not false");
});

Deno.test("run: after three regions, a full report waits twice the slowest latency, then ends", () => {
  const world = new StunWorld()
    .server("192.0.2.1:3478", { rttMs: 10 })
    .server("192.0.2.2:3478", { rttMs: 20 })
    .server("192.0.2.3:3478", { rttMs: 30 })
    .server("192.0.2.4:3478", { rttMs: 500 });
  const run = fullRun(v4Map(1, 2, 3, 4, 5));
  const end = world.drive(run);
  assert.equal(run.end, "enough-regions");
  assert.equal(end, START + 30 + 2 * 30);
  assert.deepEqual([...run.report.regionLatency.keys()], [1, 2, 3]);
  // The dead region 5 and the slow region 4 got their 0 ms probe only.
  assert.deepEqual(world.sendTimes("192.0.2.5:3478"), [0]);
});

Deno.test("run: an incremental report waits the slowest latency once, not twice", () => {
  const map = v4Map(1, 2, 3, 4);
  const world = new StunWorld()
    .server("192.0.2.1:3478", { rttMs: 10 })
    .server("192.0.2.2:3478", { rttMs: 20 })
    .server("192.0.2.3:3478", { rttMs: 30 });
  const last: PlanningReport = {
    regionLatency: new Map([[1, 10], [2, 20], [3, 30], [4, 40]]),
    regionV4Latency: new Map([[1, 10], [2, 20], [3, 30], [4, 40]]),
    regionV6Latency: new Map(),
  };
  const run = new NetcheckRun({
    plan: makeProbePlan(map, V4, last, 4),
    startedAt: START,
    incremental: true,
    random: seededRandom(2).bytes,
  });
  const end = world.drive(run);
  assert.equal(run.end, "enough-regions");
  assert.equal(end, START + 60);
  // Home region 4 is dead: probes at 0, 48 (120 % of 40); the rest would come after the end.
  assert.deepEqual(world.sendTimes("192.0.2.4:3478"), [0, 48]);
  assert.equal(run.report.full, false);
});

Deno.test("run: different reflexive addresses per server mean a hard NAT", () => {
  const world = new StunWorld()
    .server("192.0.2.1:3478", { rttMs: 10, mapped: AddrPort.parse("198.51.100.7:1000") })
    .server("192.0.2.2:3478", { rttMs: 20, mapped: AddrPort.parse("198.51.100.7:2000") })
    .server("192.0.2.3:3478", { rttMs: 30, mapped: AddrPort.parse("198.51.100.7:2000") });
  const run = fullRun(v4Map(1, 2, 3));
  world.drive(run);
  assert.equal(run.report.mappingVariesByDestIP, true);
  assert.equal(run.report.globalV4?.key, "198.51.100.7:1000", "the first answer's address");
  assert.deepEqual(Object.fromEntries(run.report.globalV4Counters), {
    "198.51.100.7:1000": 1,
    "198.51.100.7:2000": 2,
  });
});

Deno.test("run: IPv6 answers fill the v6 latencies, the last one is GlobalV6", () => {
  const map = mapOf(
    region(1, { IPv4: "192.0.2.1", IPv6: "2001:db8::1" }),
    region(2, { IPv4: "192.0.2.2", IPv6: "2001:db8::2" }),
  );
  const world = new StunWorld()
    .server("192.0.2.1:3478", { rttMs: 10 })
    .server("[2001:db8::1]:3478", { rttMs: 14, mapped: AddrPort.parse("[2001:db8:77::7]:1") })
    .server("192.0.2.2:3478", { rttMs: 20 })
    .server("[2001:db8::2]:3478", { rttMs: 4, mapped: AddrPort.parse("[2001:db8:77::7]:2") });
  const run = fullRun(map, BOTH, { enoughRegions: 100 });
  world.drive(run);
  const r = run.report;
  assert.deepEqual([...r.regionLatency], [[2, 4], [1, 10]]);
  assert.deepEqual([...r.regionV6Latency], [[2, 4], [1, 14]]);
  assert.deepEqual([...r.regionV4Latency], [[1, 10], [2, 20]]);
  assert.equal(r.ipv6 && r.ipv4 && r.ipv6CanSend, true);
  assert.equal(r.globalV6?.key, "[2001:db8:77::7]:1", "the later answer");
  assert.equal(r.mappingVariesByDestIPv6, true);
  assert.equal(r.mappingVariesByDestIP, false);
});

Deno.test("run: partial answers: IPv4 works, IPv6 does not; IPv6 sends failing are noted", () => {
  const map = mapOf(region(1, { IPv4: "192.0.2.1", IPv6: "2001:db8::1" }));
  const world = new StunWorld().server("192.0.2.1:3478", { rttMs: 10 });
  world.failSendsFor.add(6);
  const run = fullRun(map, BOTH);
  world.drive(run);
  const r = run.report;
  assert.equal(r.ipv4 && r.ipv4CanSend && r.udp, true);
  assert.equal(r.ipv6 || r.ipv6CanSend, false);
  assert.equal(r.globalV6, undefined);
  assert.deepEqual(world.sendTimes("[2001:db8::1]:3478"), [0, 100, 200]);
});

Deno.test("run: a probe that could not teach anything new ends its set without sending", () => {
  // Region 1's IPv4 server is dead but its IPv6 one answers; regions 2 and 3
  // settle the IPv4 mapping question. At 100 ms the IPv4 retransmit to
  // region 1 would add nothing, so its set ends and with it the report.
  const map = mapOf(
    region(1, { IPv4: "192.0.2.1", IPv6: "2001:db8::1" }),
    region(2, { IPv4: "192.0.2.2", IPv6: "none" }),
    region(3, { IPv4: "192.0.2.3", IPv6: "none" }),
  );
  const world = new StunWorld()
    .server("[2001:db8::1]:3478", { rttMs: 5 })
    .server("192.0.2.2:3478", { rttMs: 10 })
    .server("192.0.2.3:3478", { rttMs: 20 });
  const run = fullRun(map, BOTH, { enoughRegions: 100 });
  const end = world.drive(run);
  assert.equal(run.end, "all-sets-done");
  assert.equal(end, START + 100);
  assert.deepEqual(world.sendTimes("192.0.2.1:3478"), [0]);
});

Deno.test("run: DNS: one look-up per name, probes wait for it, latency counts from the send", () => {
  const map = mapOf(
    region(1, { HostName: "stun.example", STUNPort: 3479 }),
    region(2, { HostName: "gone.example" }),
  );
  const world = new StunWorld().server("192.0.2.9:3479", { rttMs: 10, drop: (n) => n < 2 });
  world.dns.set("stun.example", ["2001:db8::9", "192.0.2.9"]);
  world.dnsDelayMs = 150;
  const run = fullRun(map, V4);
  world.drive(run);
  assert.deepEqual(world.lookups, ["stun.example", "gone.example"]);
  // Probes at 0 and 100 waited for the answer at 150 (both lost); the one at 200 was answered.
  assert.deepEqual(world.sendTimes("192.0.2.9:3479"), [150, 150, 200]);
  assert.equal(run.report.regionLatency.get(1), 10);
  assert.equal(run.report.regionLatency.has(2), false, "a failed look-up sends nothing");
  assert.equal(run.end, "stun-timeout");
});

Deno.test("run: STUNPort -1 sends nothing; the set waits out the timeout", () => {
  const map = mapOf(region(1, { IPv4: "192.0.2.1", STUNPort: -1 }));
  const world = new StunWorld().server("192.0.2.1:3478", { rttMs: 1 });
  const run = fullRun(map, V4);
  assert.equal(world.drive(run), START + 3000);
  assert.equal(world.sent.length, 0);
});

Deno.test("run: an empty plan ends at once", () => {
  const run = fullRun({ Regions: {} });
  assert.deepEqual(run.poll(START), []);
  assert.equal(run.end, "all-sets-done");
});

Deno.test("run: hostile datagrams are ignored and the real answer still counts", () => {
  const server = AddrPort.parse("192.0.2.1:3478");
  const world = new StunWorld().server(server.key, { rttMs: 50 });
  const run = fullRun(v4Map(1));
  let txid: Uint8Array | undefined;
  world.drive(run, {
    onSend: (probe) => {
      if (txid) return;
      txid = probe.txid;
      const at = START + 10;
      const spoofer = AddrPort.parse("203.0.113.66:3478");
      const bogus = { ip: "203.0.113.66", port: 6666 };
      const other = txid.slice();
      other[0] ^= 1;
      const noAddress = bindingResponse(txid, bogus).slice(0, 20);
      noAddress[3] = 0; // length 0: no attributes
      const overlong = bindingResponse(txid, bogus);
      overlong[3] = 200; // attribute length beyond the packet
      const cut = bindingResponse(txid, bogus);
      cut[23] = 40; // XOR-MAPPED-ADDRESS value longer than what follows
      const badFamily = bindingResponse(txid, bogus);
      badFamily[25] = 9;
      const notSuccess = bindingResponse(txid, bogus);
      notSuccess[1] = 0x11; // Binding Error Response
      world.inject(run, at, new TextEncoder().encode("hello, not stun"), server);
      world.inject(run, at, bindingResponse(txid, bogus).slice(0, 19), server);
      world.inject(run, at, bindingResponse(other, bogus), server);
      world.inject(run, at, bindingResponse(txid, bogus), spoofer);
      world.inject(run, at, noAddress, server);
      world.inject(run, at, overlong, server);
      world.inject(run, at, cut, server);
      world.inject(run, at, badFamily, server);
      world.inject(run, at, notSuccess, server);
      world.inject(run, at, bindingRequest(txid), server);
    },
  });
  assert.deepEqual(world.outcomes, [
    "not-stun",
    "not-stun",
    "unknown-transaction",
    "wrong-source",
    "malformed",
    "malformed",
    "malformed",
    "malformed",
    "malformed",
    "request",
    "accepted",
  ]);
  assert.equal(run.report.regionLatency.get(1), 50);
  assert.equal(run.report.globalV4?.key, "198.51.100.7:41641", "the spoofed address was not taken");
});

Deno.test("run: an answer from the IPv4-mapped form of the server's address is accepted", () => {
  const run = fullRun(v4Map(1, 2));
  const [send] = run.poll(START);
  assert.equal(send.kind, "send");
  if (send.kind !== "send") return;
  const txid = send.datagram.slice(8, 20);
  const from = AddrPort.parse("[::ffff:192.0.2.1]:3478");
  const reply = bindingResponse(txid, { ip: "198.51.100.7", port: 9 });
  assert.equal(run.receive(reply, from, START + 3), "accepted");
  assert.equal(run.receive(reply, from, START + 4), "unknown-transaction", "answered already");
});

Deno.test("run: 20,000 random and mutated datagrams never throw; only a valid answer counts", () => {
  const rng = seededRandom();
  // Region 2 never answers, so the run stays open and every datagram is parsed.
  const run = fullRun(v4Map(1, 2), V4, { seed: rng.seed });
  const send = run.poll(START)[0];
  if (send.kind !== "send") throw new Error("expected a send");
  const txid = send.datagram.slice(8, 20);
  const good = bindingResponse(txid, { ip: "198.51.100.7", port: 9 });
  let accepted = 0;
  for (let i = 0; i < 20_000; i++) {
    let packet: Uint8Array;
    if (i % 2 === 0) {
      packet = rng.bytes(rng.below(64));
      if (packet.length >= 8 && i % 4 === 0) {
        new DataView(packet.buffer).setUint32(4, STUN_MAGIC_COOKIE);
        packet[0] &= 0x3f;
        packet[1] = 0x01;
      }
    } else {
      packet = good.slice(0, rng.below(good.length + 1));
      if (packet.length > 0) packet[rng.below(packet.length)] ^= 1 << rng.below(8);
      // Keep the transaction ID intact half the time so mutations reach the attribute parser.
      if (packet.length >= 20 && i % 4 === 1) packet.set(txid, 8);
    }
    const outcome = run.receive(packet, send.to, START + 1);
    assert.notEqual(outcome, "finished");
    if (outcome === "accepted") {
      accepted++;
      // A mutation may leave a valid answer (say, one bit of the address): then it must parse.
      const parsed = parseBindingResponse(packet);
      assert.deepEqual(parsed.transactionId, txid, `seed ${rng.seed}`);
      assert.equal(run.report.globalV4?.address, parsed.address.ip, `seed ${rng.seed}`);
    }
  }
  assert.ok(accepted <= 1, `seed ${rng.seed}: one request, at most one answer`);
});

Deno.test("run: requests due together go out in a random order (no region always first)", () => {
  const firsts = new Set<string>();
  for (let seed = 1; seed <= 40; seed++) {
    const run = fullRun(v4Map(1, 2, 3, 4, 5), V4, { seed });
    const sends = run.poll(START).filter((a) => a.kind === "send");
    assert.equal(sends.length, 5);
    if (sends[0].kind === "send") firsts.add(sends[0].to.key);
  }
  assert.ok(firsts.size >= 4, `first destinations: ${[...firsts]}`);
});

Deno.test("run: latency counts from the moment the I/O side really sent the request", () => {
  const run = fullRun(v4Map(1, 2));
  const send = run.poll(START).find((a) => a.kind === "send" && a.to.key === "192.0.2.1:3478");
  if (send?.kind !== "send") throw new Error("no send to region 1");
  run.noteSending(send.probeId, START + 2);
  run.noteSending(send.probeId, START + 1); // never backwards
  const reply = bindingResponse(send.datagram.slice(8, 20), { ip: "198.51.100.7", port: 1 });
  assert.equal(run.receive(reply, send.to, START + 5), "accepted");
  assert.equal(run.report.regionLatency.get(1), 3);
});
