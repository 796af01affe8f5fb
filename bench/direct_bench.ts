/**
 * Direct paths against the real peer, in one run on one Headscale, all on
 * 127.0.0.1: `citadel work` beside a tailscaled started the same way, both
 * watched by a third node (an observer tailscaled) that pings them as
 * `tailscale ping` does (tailscaled's LocalAPI ping: its `Endpoint` is the
 * "via 127.0.0.1:PORT" the CLI prints, without the CLI's one-second sleep
 * after each pong that came over DERP).
 *
 * - Start to first direct pong: the target is stopped, Headscale lists it
 *   offline, and it starts again from its saved state (the common case: a
 *   restart); the time from spawning the process until the observer's ping
 *   is answered over a direct path. Median of several runs, citadel and
 *   tailscaled alternating; goal citadel/tailscaled ≤ 1.0.
 * - Ping RTT over the direct path: the observer pings each target (disco,
 *   ICMP and TSMP), interleaved; goal citadel/tailscaled ≤ 1.2 (median).
 * - Idle RSS with 3 peers: every peer has talked to both targets, then
 *   nothing happens for a while; the RSS of `citadel work` (goal ≤ 80 MB)
 *   and of the tailscaled, with the Deno floor (process_memory.ts).
 *
 * Nothing here asserts a figure; `./dev bench` prints them.
 *
 * @module
 */
import { type CitadelCli, type CitadelWork, createCitadel } from "../tests/interop/citadel_cli.ts";
import { type HeadscaleServer, startHeadscale } from "../tests/interop/headscale.ts";
import { startTailscaled, type TailscaledNode } from "../tests/interop/tailscaled.ts";
import { localApiPing, type LocalApiPingResult } from "../tests/interop/tailscaled_localapi.ts";
import { median } from "./netmap_bench.ts";
import {
  type DenoFloor,
  denoFloor,
  processCpuMs,
  type ProcessMemory,
  processMemory,
} from "./process_memory.ts";

/** Options of {@link runDirectBench}. */
export interface DirectBenchOptions {
  /** Headscale version. */
  version: string;
  /** Measured restarts of each target (default 5). */
  startRuns?: number;
  /** Pings of each kind to each target (default 30). */
  pingsPerKind?: number;
  /** Quiet time before RSS is read (default 20 s). */
  idleMs?: number;
  /** Progress lines go here (default: none). */
  log?: (line: string) => void;
}

/** The figures of one target. */
export interface TargetFigures {
  /** Each run: ms from process spawn to the observer's first direct pong (NaN: none in 60 s). */
  startToDirectMs: number[];
  /** Each run: ms from process spawn to the observer's first pong of any path. */
  startToPongMs: number[];
  /** RTT samples in ms by ping kind; disco samples only over the direct path. */
  rttMs: Record<PingKind, number[]>;
  /** Pings of each kind that got no answer (or a DERP answer, for disco). */
  rttMisses: Record<PingKind, number>;
  /** Memory after the idle time, with 3 peers. */
  idle: ProcessMemory;
  /** CPU ms the process used during the idle time. */
  idleCpuMs: number;
  /** The direct endpoint the observer last reached it at. */
  endpoint: string;
}

/** Figures of {@link runDirectBench}. */
export interface DirectBenchResult {
  /** Headscale version used. */
  headscaleVersion: string;
  /** `citadel work`. */
  citadel: TargetFigures;
  /** tailscaled, started the same way. */
  tailscaled: TargetFigures;
  /** The Deno floor, measured in the same run. */
  floor: DenoFloor;
  /** A real `tailscale ping` line to each target, for the record. */
  cliPingLines: string[];
}

/** The kinds of ping compared. */
export type PingKind = "disco" | "ICMP" | "TSMP";
const PING_KINDS: PingKind[] = ["disco", "ICMP", "TSMP"];

/** How long one start may take before the run counts as failed. */
const START_BUDGET_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Something the bench can stop, start from saved state, and ping. */
interface Target {
  name: string;
  ip: string;
  stop(): Promise<void>;
  /** Spawns the process; resolves as soon as it is spawned. */
  start(): void;
  pid(): number;
}

async function waitForOnline(
  nexus: HeadscaleServer,
  name: string,
  online: boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const node = (await nexus.listNodes()).find((n) => n.name === name);
    if (node && node.online === online) return;
    await sleep(50);
  }
  throw new Error(`${name} did not become ${online ? "online" : "offline"} in ${timeoutMs} ms`);
}

/** A new ping starts this often while none has come back direct: the time resolution. */
const PING_EVERY_MS = 100;
/** Each ping waits this long for its pong. */
const PING_TIMEOUT_MS = 1_000;

/**
 * Pings until a direct pong (or the budget ends), and notes the first pong
 * of any path too. A disco ping is sent once and never retried, so one that
 * went out before the target was up would be waited out in full: a new one
 * starts every {@link PING_EVERY_MS} while earlier ones are still waiting,
 * and each pong counts when it arrives.
 */
async function pingUntilDirect(
  observer: TailscaledNode,
  ip: string,
  budgetMs: number,
  since = performance.now(),
): Promise<{ directMs: number; pongMs: number; last: LocalApiPingResult | null }> {
  let pongMs = NaN;
  let directMs = NaN;
  let last: LocalApiPingResult | null = null;
  const inFlight = new Set<Promise<void>>();
  while (Number.isNaN(directMs) && performance.now() - since < budgetMs) {
    const ping: Promise<void> = localApiPing(observer.socketPath, ip, "disco", PING_TIMEOUT_MS)
      .catch(() => null)
      .then((result) => {
        inFlight.delete(ping);
        if (!result || result.Err || !Number.isNaN(directMs)) return;
        const at = performance.now() - since;
        last = result;
        if (Number.isNaN(pongMs)) pongMs = at;
        if (result.Endpoint) directMs = at;
      });
    inFlight.add(ping);
    await sleep(PING_EVERY_MS);
  }
  await Promise.all(inFlight);
  return { directMs, pongMs, last };
}

function citadelTarget(citadel: CitadelCli, name: string, ip: string): Target & {
  work(): CitadelWork;
} {
  let work: CitadelWork | undefined;
  return {
    name,
    ip,
    work: () => work!,
    start: () => {
      work = citadel.startWork();
    },
    stop: async () => {
      const code = await work?.stop();
      if (code !== 0) throw new Error(`citadel work exited ${code}\n${work?.logTail()}`);
    },
    pid: () => work!.process.pid,
  };
}

function tailscaledTarget(node: TailscaledNode, ip: string): Target {
  return {
    name: node.hostname,
    ip,
    start: () => void node.startDaemon({ waitForLocalAPI: false }),
    stop: () => node.stopDaemon(),
    pid: () => node.pid!,
  };
}

function emptyFigures(): TargetFigures {
  return {
    startToDirectMs: [],
    startToPongMs: [],
    rttMs: { disco: [], ICMP: [], TSMP: [] },
    rttMisses: { disco: 0, ICMP: 0, TSMP: 0 },
    idle: { rssBytes: 0, peakBytes: 0 },
    idleCpuMs: 0,
    endpoint: "",
  };
}

/** Runs every measurement of this file against one Headscale version. */
export async function runDirectBench(options: DirectBenchOptions): Promise<DirectBenchResult> {
  const log = options.log ?? (() => {});
  const startRuns = options.startRuns ?? 5;
  const pings = options.pingsPerKind ?? 30;
  await using nexus = await startHeadscale({ version: options.version });
  const user = await nexus.createUser("bench");
  const key = await nexus.createPreAuthKey(user, { reusable: true });
  await using citadel = await createCitadel({ nexus: nexus.url, label: "bench-direct" });
  const workIP = await citadel.join("bench-work", key);
  await using observer = await startTailscaled({ headscale: nexus, authKey: key, hostname: "obs" });
  await using tsd = await startTailscaled({
    headscale: nexus,
    authKey: key,
    hostname: "bench-tsd",
  });
  await using third = await startTailscaled({ headscale: nexus, authKey: key, hostname: "third" });
  const work = citadelTarget(citadel, "bench-work", workIP);
  const targets = { citadel: work, tailscaled: tailscaledTarget(tsd, await tsd.ip()) };
  const figures = { citadel: emptyFigures(), tailscaled: emptyFigures() };
  work.start(); // the warm-up start: from init's saved state
  try {
    await work.work().waitOnline();

    for (let run = 0; run < startRuns; run++) {
      for (const which of ["citadel", "tailscaled"] as const) {
        const target = targets[which];
        const ready = await pingUntilDirect(observer, target.ip, START_BUDGET_MS);
        if (Number.isNaN(ready.directMs)) throw new Error(`${target.name} never went direct`);
        await target.stop();
        await waitForOnline(nexus, target.name, false);
        const t0 = performance.now();
        target.start();
        const r = await pingUntilDirect(observer, target.ip, START_BUDGET_MS, t0);
        figures[which].startToDirectMs.push(r.directMs);
        figures[which].startToPongMs.push(r.pongMs);
        figures[which].endpoint = r.last?.Endpoint ?? "";
        log(
          `  run ${run + 1} ${which}: first pong ${r.pongMs.toFixed(0)} ms, ` +
            `direct ${r.directMs.toFixed(0)} ms via ${r.last?.Endpoint || "DERP"}`,
        );
      }
    }

    for (const target of Object.values(targets)) {
      if (Number.isNaN((await pingUntilDirect(observer, target.ip, START_BUDGET_MS)).directMs)) {
        throw new Error(`${target.name} is not direct for the RTT runs`);
      }
    }
    for (let i = 0; i < pings; i++) {
      for (const kind of PING_KINDS) {
        for (const which of ["citadel", "tailscaled"] as const) {
          const r = await localApiPing(observer.socketPath, targets[which].ip, kind, 2_000);
          const ok = r && !r.Err && r.LatencySeconds !== undefined &&
            (kind !== "disco" || !!r.Endpoint);
          if (ok) figures[which].rttMs[kind].push(r.LatencySeconds! * 1000);
          else figures[which].rttMisses[kind]++;
        }
      }
    }

    // Every peer talks to both targets, so each holds three live sessions; then quiet.
    for (const from of [tsd, third]) {
      await localApiPing(from.socketPath, workIP, "ICMP", 5_000);
    }
    await localApiPing(third.socketPath, targets.tailscaled.ip, "ICMP", 5_000);
    await citadel.ok(["ping", "bench-tsd", "-c", "1"]);
    const cpuBefore = [processCpuMs(work.pid()), processCpuMs(targets.tailscaled.pid())];
    await sleep(options.idleMs ?? 20_000);
    figures.citadel.idle = processMemory(work.pid());
    figures.tailscaled.idle = processMemory(targets.tailscaled.pid());
    figures.citadel.idleCpuMs = processCpuMs(work.pid()) - cpuBefore[0];
    figures.tailscaled.idleCpuMs = processCpuMs(targets.tailscaled.pid()) - cpuBefore[1];

    const cliPingLines: string[] = [];
    for (const target of Object.values(targets)) {
      const out = await observer.cli(["ping", "--c=1", target.ip], { check: false });
      cliPingLines.push(out.stdout.trim().split("\n").at(-1) ?? "");
    }
    const floor = await denoFloor();
    return {
      headscaleVersion: options.version,
      citadel: figures.citadel,
      tailscaled: figures.tailscaled,
      floor,
      cliPingLines,
    };
  } finally {
    await work.work()?.kill();
  }
}

/** The value at quantile `q` (0–1) of `values`, nearest rank. */
export function quantile(values: number[], q: number): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Median of the values that are numbers (a failed run is NaN and is left out). */
export function medianOf(values: number[]): number {
  const ok = values.filter((v) => !Number.isNaN(v));
  return ok.length ? median(ok) : NaN;
}

if (import.meta.main) {
  const { readPeerPins } = await import("../tests/interop/peers.ts");
  const r = await runDirectBench({
    version: readPeerPins().headscaleVersions[0],
    log: (line) => console.log(line),
  });
  console.log(JSON.stringify(r, null, 1));
}
