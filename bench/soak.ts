/**
 * `./dev soak [--minutes N] [--rate PER_SECOND] [--headscale VERSION]`: a
 * long run (default 10 minutes, not part of `./dev test`) of ICMP pings at
 * a steady rate (default 10/s) from a Citadel node in this process to a
 * real tailscaled over the direct path on 127.0.0.1, through a real
 * Headscale. It reports what a short test cannot see:
 * - WireGuard handshakes, from the engine's peer stats: with traffic, the
 *   initiator rekeys every REKEY_AFTER_TIME (120 s), so a 10-minute run
 *   must show about five of them, each on time;
 * - loss (pings with no reply within 2 s), and where it fell relative to
 *   the handshakes;
 * - RTT percentiles, per interval and overall;
 * - the path (direct or DERP) each reply took, and the DERP counters;
 * - the RSS and heap of this process over time (growth; the heap after a
 *   full collection, which includes the soak's own record of each ping), and
 *   tailscaled's RSS.
 *
 * It prints a line per interval and a summary; it asserts nothing, and
 * exits 0 unless the setup itself fails.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { NodePublicKey } from "../network/crypto/keys.ts";
import { CitadelNode } from "../network/node.ts";
import { MemoryStateStore } from "../state/memory_store.ts";
import { startHeadscale } from "../tests/interop/headscale.ts";
import { readPeerPins } from "../tests/interop/peers.ts";
import { startTailscaled } from "../tests/interop/tailscaled.ts";
import { userMetrics } from "../tests/interop/tailscaled_localapi.ts";
import { quantile } from "./direct_bench.ts";
import { settledHeap } from "./netmap_bench.ts";
import { megabytes, processMemory } from "./process_memory.ts";

/** A ping that got no reply within this long counts as lost. */
const PING_TIMEOUT_MS = 2_000;
/** One progress line per this much time. */
const INTERVAL_MS = 30_000;

interface PingRecord {
  /** ms since the soak started. */
  sentAt: number;
  /** Round trip, or NaN when lost. */
  rttMs: number;
  /** How the reply came. */
  path?: "direct" | "relay";
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "10" },
    rate: { type: "string", default: "10" },
    headscale: { type: "string" },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
if (!(minutes > 0) || !(rate > 0 && rate <= 1000)) {
  console.error("soak: --minutes must be > 0 and --rate in (0, 1000]");
  Deno.exit(2);
}
const version = values.headscale ?? readPeerPins().headscaleVersions[0];
const durationMs = minutes * 60_000;

const fmt = (v: number, digits = 2) => (Number.isNaN(v) ? "-" : v.toFixed(digits));
const pct = (values: number[], q: number) => fmt(quantile(values, q), 3);

console.log(
  `soak: ${minutes} min of ICMP pings at ${rate}/s, citadel node → tailscaled over the direct ` +
    `path, Headscale ${version}, all on 127.0.0.1`,
);
await using nexus = await startHeadscale({ version });
const user = await nexus.createUser("soak");
const key = await nexus.createPreAuthKey(user, { reusable: true });
await using ts = await startTailscaled({ headscale: nexus, authKey: key, hostname: "soak-ts" });
const tsStatus = await ts.status();
const tsIP = tsStatus.TailscaleIPs![0];
const tsKey = NodePublicKey.parse(tsStatus.Self!.PublicKey);
const node = new CitadelNode({
  controlURL: nexus.url,
  store: new MemoryStateStore(),
  authKey: key,
  hostname: "soak-citadel",
  dataPlane: {
    plainHTTPDerp: nexus.url.startsWith("http:"),
    udp: { hostname: "127.0.0.1", advertise: "loopback-only" },
  },
});
try {
  await node.start();
  const engine = node.dataPlane!;
  for (let i = 0;; i++) {
    const r = await node.ping(tsIP, { type: "disco", timeoutMs: 2_000 }).catch(() => null);
    if (r?.path === "direct") {
      console.log(`direct path to tailscaled: ${r.endpoint}`);
      break;
    }
    if (i >= 30) throw new Error("no direct path to the tailscaled after 30 tries");
  }

  const records: PingRecord[] = [];
  const handshakeTimes: number[] = [];
  let handshakes = engine.peerStats(tsKey)?.handshakes ?? 0;
  const memory: { at: number; rss: number; heap: number; tsRss: number }[] = [];
  const derpBefore = engine.stats.datagramsSent + engine.stats.datagramsReceived;
  const t0 = performance.now();
  const since = () => performance.now() - t0;
  const noteHandshakes = () => {
    const now = engine.peerStats(tsKey)?.handshakes ?? 0;
    for (; handshakes < now; handshakes++) handshakeTimes.push(since());
  };
  // The heap is read after two full collections (a pause of a few ms every interval), so that
  // growth shows what is kept, not garbage waiting for a collection.
  const sample = () => {
    const heap = settledHeap();
    memory.push({
      at: since(),
      rss: Deno.memoryUsage().rss,
      heap,
      tsRss: processMemory(ts.pid!).rssBytes,
    });
  };
  sample();
  const pending: Promise<void>[] = [];
  let reportedUpTo = 0;
  /** One line for the pings sent in [reportedUpTo, upTo): every one of them has settled. */
  const report = (upTo: number) => {
    const window = records.filter((r) => r.sentAt >= reportedUpTo && r.sentAt < upTo);
    const rtts = window.filter((r) => !Number.isNaN(r.rttMs)).map((r) => r.rttMs);
    const last = memory.at(-1)!;
    console.log(
      `${fmt(upTo / 1000, 0).padStart(5)} s  sent ${String(window.length).padStart(4)}  ` +
        `lost ${String(window.length - rtts.length).padStart(3)}  ` +
        `rtt p50 ${pct(rtts, 0.5)} p90 ${pct(rtts, 0.9)} p99 ${pct(rtts, 0.99)} ms  ` +
        `handshakes ${handshakes}  rss ${megabytes(last.rss)} heap after GC ${
          megabytes(last.heap)
        }  ` +
        `tailscaled rss ${megabytes(last.tsRss)}`,
    );
    reportedUpTo = upTo;
  };

  // Pings go out on a fixed schedule (not after the previous reply), as a steady stream.
  const period = 1000 / rate;
  for (let n = 0; n * period < durationMs; n++) {
    const due = n * period;
    const wait = due - since();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const record: PingRecord = { sentAt: since(), rttMs: NaN };
    records.push(record);
    const done = node.ping(tsIP, { type: "icmp", timeoutMs: PING_TIMEOUT_MS })
      .then((result) => {
        record.rttMs = result.latencyMs;
        record.path = result.path;
      }, () => {});
    pending.push(done);
    if (pending.length > 1000) pending.splice(0, 500);
    noteHandshakes();
    // An interval is reported once its last ping has had its whole timeout.
    if (since() >= reportedUpTo + INTERVAL_MS + PING_TIMEOUT_MS + 100) {
      sample();
      report(reportedUpTo + INTERVAL_MS);
    }
  }
  await Promise.all(pending);
  noteHandshakes();
  sample();
  const end = since();
  while (reportedUpTo < end) report(Math.min(reportedUpTo + INTERVAL_MS, end));

  const answered = records.filter((r) => !Number.isNaN(r.rttMs));
  const rtts = answered.map((r) => r.rttMs);
  const lost = records.filter((r) => Number.isNaN(r.rttMs));
  const direct = answered.filter((r) => r.path === "direct").length;
  const gaps = handshakeTimes.slice(1).map((t, i) => (t - handshakeTimes[i]) / 1000);
  const derpAfter = engine.stats.datagramsSent + engine.stats.datagramsReceived;
  const tsMetrics = await userMetrics(ts.socketPath);
  const firstFull = memory.find((m) => m.at >= 60_000) ?? memory[0];
  const last = memory.at(-1)!;
  const rows: [string, string][] = [
    ["duration", `${fmt(since() / 60_000, 1)} min`],
    ["pings sent", String(records.length)],
    ["replies", String(answered.length)],
    ["lost", `${lost.length} (${fmt((100 * lost.length) / records.length, 3)}%)`],
    ["lost at (s)", lost.map((r) => fmt(r.sentAt / 1000, 1)).join(", ") || "-"],
    ["replies over the direct path", `${direct} of ${answered.length}`],
    [
      "RTT p50 / p90 / p99 / max",
      `${pct(rtts, 0.5)} / ${pct(rtts, 0.9)} / ${pct(rtts, 0.99)} / ${pct(rtts, 1)} ms`,
    ],
    ["WireGuard handshakes (engine peer stats)", String(handshakes)],
    ["handshakes at (s)", handshakeTimes.map((t) => fmt(t / 1000, 1)).join(", ") || "-"],
    ["gaps between handshakes (s)", gaps.map((g) => fmt(g, 1)).join(", ") || "-"],
    ["DERP datagrams during the soak", String(derpAfter - derpBefore)],
    [
      "RSS at 1 min / end / max",
      `${megabytes(firstFull.rss)} / ${megabytes(last.rss)} / ${
        megabytes(Math.max(...memory.map((m) => m.rss)))
      }`,
    ],
    ["heap after GC at 1 min / end", `${megabytes(firstFull.heap)} / ${megabytes(last.heap)}`],
    ["tailscaled RSS at 1 min / end", `${megabytes(firstFull.tsRss)} / ${megabytes(last.tsRss)}`],
    [
      "tailscaled inbound direct / DERP packets",
      `${tsMetrics.get('tailscaled_inbound_packets_total{path="direct_ipv4"}')} / ` +
      `${tsMetrics.get('tailscaled_inbound_packets_total{path="derp"}')}`,
    ],
  ];
  console.log("\nsummary");
  for (const [name, value] of rows) console.log(`  ${name.padEnd(42)} ${value}`);
} finally {
  await node.close();
}
