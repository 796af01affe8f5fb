/**
 * The driver over a caller-supplied transport in virtual time, and over
 * its own sockets on loopback against a STUN responder.
 */
import assert from "node:assert/strict";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import { NetcheckClient } from "../../../../network/netcheck/netcheck_client.ts";
import { NetcheckDriver } from "../../../../network/netcheck/netcheck_driver.ts";
import type { NetcheckReport } from "../../../../network/netcheck/netcheck_report.ts";
import { StandaloneNetcheck } from "../../../../network/netcheck/netcheck_sockets.ts";
import { bindingResponse, parseBindingRequest } from "../../../../network/stun/stun_message.ts";
import { seededRandom } from "../crypto/seeded_random.ts";
import { VirtualClock } from "../disco/virtual_clock.ts";
import { mapOf, region } from "./derp_maps.ts";
import { advanceUntil, FakeStunTransport } from "./fake_stun_transport.ts";

const V4 = () => ({ haveV4: true, haveV6: false });

function setup(
  options: { client?: NetcheckClient; resolveHost?: (h: string) => Promise<string[]> } = {},
) {
  const clock = new VirtualClock();
  const transport = new FakeStunTransport(clock);
  const driver = new NetcheckDriver({
    transport,
    clock,
    client: options.client ?? new NetcheckClient({ random: seededRandom(11).bytes }),
    interfaces: V4,
    osHasIPv6: () => true,
    resolveHost: options.resolveHost ?? (() => Promise.reject(new Error("no DNS in this test"))),
  });
  transport.driver = driver;
  return { clock, transport, driver };
}

async function runToEnd(clock: VirtualClock, promise: Promise<NetcheckReport>, limitMs = 6000) {
  let result: NetcheckReport | undefined;
  let failure: unknown;
  promise.then((r) => result = r, (e) => failure = e);
  await advanceUntil(clock, () => result !== undefined || failure !== undefined, limitMs);
  if (failure) throw failure;
  return result!;
}

const MAP = mapOf(
  region(900, { HostName: "127.0.0.1", IPv4: "127.0.0.1", IPv6: "none", STUNPort: 4001 }),
  region(901, { HostName: "127.0.0.1", IPv4: "127.0.0.1", IPv6: "none", STUNPort: 4002 }),
  region(902, { HostName: "127.0.0.1", IPv4: "127.0.0.1", IPv6: "none", STUNPort: 4003 }),
);

Deno.test("driver: a shared transport, answers through receiveStun, latencies in virtual ms", async () => {
  const { clock, transport, driver } = setup();
  transport.rtt.set("127.0.0.1:4001", 9);
  transport.rtt.set("127.0.0.1:4002", 4);
  const started = clock.monotonic();
  const report = await runToEnd(clock, driver.run(MAP));
  assert.equal(clock.monotonic() - started, 3000, "region 902 is down: the STUN timeout ends it");
  assert.deepEqual(Object.fromEntries(report.regionLatency), { 900: 9, 901: 4 });
  assert.equal(report.preferredDERP, 901);
  assert.equal(report.globalV4?.key, "198.51.100.7:41641");
  assert.equal(report.osHasIPv6, true);
  assert.equal(report.ipv4CanSend, true);
  assert.equal(report.now, clock.now());
  assert.deepEqual(
    transport.sent.filter((s) => s.to === "127.0.0.1:4003").map((s) => s.at - started),
    [0, 100, 200],
  );
  assert.equal(driver.running, false);
  assert.equal(driver.receiveCounts.accepted, 2);
  // Between reports, datagrams are "idle" and change nothing.
  assert.equal(driver.receiveStun(new Uint8Array(40), AddrPort.parse("127.0.0.1:4001")), "idle");
});

Deno.test("driver: other traffic handed over by mistake is counted, not taken", async () => {
  const { clock, transport, driver } = setup();
  transport.rtt.set("127.0.0.1:4001", 30);
  transport.rtt.set("127.0.0.1:4002", 30);
  transport.rtt.set("127.0.0.1:4003", 30);
  const promise = driver.run(MAP);
  clock.setTimeout(() => {
    driver.receiveStun(new Uint8Array([1, 0, 0, 0, 9, 9, 9, 9]), AddrPort.parse("127.0.0.1:4001"));
    const txid = new Uint8Array(12).fill(7);
    const stray = bindingResponse(txid, { ip: "203.0.113.1", port: 1 });
    driver.receiveStun(stray, AddrPort.parse("127.0.0.1:4001"));
  }, 5);
  const report = await runToEnd(clock, promise);
  assert.equal(report.regionLatency.size, 3);
  assert.equal(driver.receiveCounts["not-stun"], 1);
  assert.equal(driver.receiveCounts["unknown-transaction"], 1);
  assert.equal(report.globalV4?.key, "198.51.100.7:41641");
});

Deno.test("driver: DNS only for names that are not IP literals, once per name", async () => {
  const lookups: string[] = [];
  const { clock, transport, driver } = setup({
    resolveHost: (hostname) => {
      lookups.push(hostname);
      return Promise.resolve(hostname === "stun.example" ? ["127.0.0.1"] : []);
    },
  });
  transport.rtt.set("127.0.0.1:4001", 3);
  transport.rtt.set("127.0.0.1:3478", 3);
  const map = mapOf(
    region(900, { HostName: "127.0.0.1", STUNPort: 4001, IPv6: "none" }),
    region(901, { HostName: "stun.example", IPv6: "none" }),
    region(902, { HostName: "nowhere.example", IPv6: "none" }),
  );
  const report = await runToEnd(clock, driver.run(map));
  assert.deepEqual(lookups, ["stun.example", "nowhere.example"]);
  assert.deepEqual([...report.regionLatency.keys()].sort(), [900, 901]);
});

Deno.test("driver: sends that fail leave UDP false and CanSend false", async () => {
  const { clock, transport, driver } = setup();
  transport.failing = true;
  const report = await runToEnd(clock, driver.run(MAP));
  assert.equal(report.udp, false);
  assert.equal(report.ipv4CanSend, false);
  assert.equal(report.regionLatency.size, 0);
});

Deno.test("driver: the 5 s report limit holds even with a longer STUN phase", async () => {
  const client = new NetcheckClient({ random: seededRandom(12).bytes, stunProbeTimeoutMs: 60_000 });
  const { clock, driver } = setup({ client });
  const started = clock.monotonic();
  const report = await runToEnd(clock, driver.run(MAP), 7000);
  assert.equal(clock.monotonic() - started, 5000);
  assert.equal(report.udp, false);
});

Deno.test("driver: an abort rejects with the reason and frees the client", async () => {
  const { clock, driver } = setup();
  const controller = new AbortController();
  const promise = driver.run(MAP, { signal: controller.signal });
  clock.setTimeout(() => controller.abort(new Error("shutting down")), 50);
  await assert.rejects(runToEnd(clock, promise), /shutting down/);
  assert.equal(driver.running, false);
  assert.equal(driver.client.currentRun, undefined);
  await assert.rejects(driver.run(MAP, { signal: controller.signal }), /shutting down/);
});

/** A derper-like STUN responder on a loopback address. */
function responder(hostname: string) {
  const socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  const done = (async () => {
    for await (const [data, from] of socket) {
      const { hostname: ip, port } = from as Deno.NetAddr;
      await socket.send(bindingResponse(parseBindingRequest(data), { ip, port }), from);
    }
  })().catch(() => {});
  return {
    port: (socket.addr as Deno.NetAddr).port,
    async close() {
      socket.close();
      await done;
    },
  };
}

function hasIPv6Loopback(): boolean {
  return Deno.networkInterfaces().some((i) => i.address === "::1");
}

Deno.test("driver: own sockets on loopback: our reflexive address is the socket's", async () => {
  const v6 = hasIPv6Loopback();
  const r4 = responder("127.0.0.1");
  const r6 = v6 ? responder("::1") : undefined;
  using netcheck = StandaloneNetcheck.open({
    hostname4: "127.0.0.1",
    hostname6: v6 ? "::1" : null,
    interfaces: () => ({ haveV4: false, haveV6: false }),
  });
  try {
    const regions = [
      region(900, { HostName: "127.0.0.1", IPv4: "127.0.0.1", IPv6: "none", STUNPort: r4.port }),
    ];
    if (r6) {
      regions.push(
        region(901, {
          HostName: "::1",
          IPv4: "none",
          IPv6: "::1",
          STUNTestIP: "::1",
          STUNPort: r6.port,
        }),
      );
    }
    const report = await netcheck.run(mapOf(...regions));
    assert.equal(report.udp, true);
    assert.equal(report.globalV4?.key, netcheck.sockets.local4?.key);
    assert.ok(report.regionLatency.get(900)! > 0 && report.regionLatency.get(900)! < 1000);
    if (r6) {
      assert.equal(report.globalV6?.key, netcheck.sockets.local6?.key);
      assert.ok(report.regionV6Latency.has(901));
    } else {
      assert.equal(report.ipv6, false);
    }
  } finally {
    await r4.close();
    await r6?.close();
  }
});
