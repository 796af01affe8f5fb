/**
 * Start-up from saved state, against the real peer in the same run: the time
 * from process start to the netmap received, for `bin/citadel status --json`
 * (a process that connects from its state, receives the netmap, prints and
 * exits, so the figure is an upper bound), and for tailscaled from its own
 * saved state, from spawning the daemon until `tailscale status` reports
 * `Running`. Median of 10 each; the ratio citadel / tailscaled has the goal
 * ≤ 1.0.
 *
 * The two are not the same event: tailscaled switches to `Running` from the
 * netmap it cached on disk ("Start: loaded netmap from disk cache"), before
 * it has talked to control, while citadel's figure ends only after the live
 * netmap has arrived from Headscale, whose NodeStore batches each write of a
 * new map session for up to 500 ms (`defaultNodeStoreBatchTimeout`).
 *
 * So a second, like-for-like figure is taken too: process start until
 * Headscale itself lists the node online (it does so when the live map
 * session is set up), for `citadel work` and for tailscaled alike. Headscale
 * keeps a node online for up to 10 s after it goes, so every such run first
 * waits for the node to be offline; five runs each keep that bounded.
 */
import { startHeadscale } from "../tests/interop/headscale.ts";
import { startTailscaled } from "../tests/interop/tailscaled.ts";
import type { HeadscaleServer } from "../tests/interop/headscale.ts";
import { REPO_ROOT } from "../tests/interop/peers.ts";
import { spawnLogged } from "../tests/interop/process.ts";
import { median } from "./netmap_bench.ts";

/** Figures of {@link runStartupBench}. */
export interface StartupBenchResult {
  /** Headscale version used. */
  headscaleVersion: string;
  /** Median ms, citadel process start → netmap (→ exit). */
  citadelMs: number;
  /** Median ms, tailscaled process start → Running. */
  tailscaledMs: number;
  /** citadelMs / tailscaledMs. */
  ratio: number;
  /** Median ms, `citadel work` process start → Headscale lists the node online. */
  citadelOnlineMs: number;
  /** Median ms, tailscaled process start → Headscale lists the node online. */
  tailscaledOnlineMs: number;
  /** citadelOnlineMs / tailscaledOnlineMs. */
  onlineRatio: number;
  /** 'Online' runs (of either) in which Headscale never listed the node online; left out. */
  onlineMisses: number;
}

/**
 * Polls Headscale until the named node is (or is no longer) online; returns
 * whether it was within `timeoutMs`.
 */
async function waitForOnline(
  nexus: HeadscaleServer,
  name: string,
  online: boolean,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const node = (await nexus.listNodes()).find((n) => n.name === name);
    if (node && node.online === online) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

/** As {@link waitForOnline}, but a timeout throws. */
async function mustReach(
  nexus: HeadscaleServer,
  name: string,
  online: boolean,
  timeoutMs: number,
): Promise<void> {
  if (!await waitForOnline(nexus, name, online, timeoutMs)) {
    throw new Error(`${name} did not become ${online ? "online" : "offline"} in ${timeoutMs} ms`);
  }
}

async function timeCitadelStatus(nexus: string, stateDir: string): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(`${REPO_ROOT}/bin/citadel`, {
    args: ["status", "--json", "--nexus", nexus, "--state-dir", stateDir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const elapsed = performance.now() - t0;
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0 || !JSON.parse(text).connected) {
    throw new Error(`citadel status failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`);
  }
  return elapsed;
}

/** Runs the start-up comparison against one Headscale version. */
export async function runStartupBench(
  version: string,
  runs = 10,
  onlineRuns = 5,
): Promise<StartupBenchResult> {
  const nexus = await startHeadscale({ version });
  const stateDir = await Deno.makeTempDir({ prefix: "citadel-bench-" });
  try {
    const user = await nexus.createUser("bench");
    const key = await nexus.createPreAuthKey(user, { reusable: true });
    const init = await new Deno.Command(`${REPO_ROOT}/bin/citadel`, {
      args: ["init", "--nexus", nexus.url, "--state-dir", stateDir, "--node-name", "bench-c"],
      env: { CITADEL_AUTHKEY: key },
      stdout: "null",
      stderr: "piped",
    }).output();
    if (init.code !== 0) throw new Error(new TextDecoder().decode(init.stderr));
    const citadel: number[] = [];
    for (let i = 0; i < runs; i++) citadel.push(await timeCitadelStatus(nexus.url, stateDir));
    const citadelOnline: number[] = [];
    // Headscale (seen with 0.28) now and then never lists a restarted node online again within
    // the wait although the node is connected: such a run is counted and left out, not fatal.
    let onlineMisses = 0;
    for (let i = 0; i < onlineRuns; i++) {
      await mustReach(nexus, "bench-c", false, 20_000);
      const t0 = performance.now();
      const worker = spawnLogged({
        name: "citadel work",
        cmd: `${REPO_ROOT}/bin/citadel`,
        args: ["work", "--nexus", nexus.url, "--state-dir", stateDir],
        logPath: `${stateDir}.work.log`,
      });
      try {
        if (await waitForOnline(nexus, "bench-c", true, 20_000)) {
          citadelOnline.push(performance.now() - t0);
        } else onlineMisses++;
      } finally {
        await worker.stop();
      }
    }

    const node = await startTailscaled({ headscale: nexus, authKey: key, hostname: "bench-t" });
    const tailscaled: number[] = [];
    const tailscaledOnline: number[] = [];
    try {
      for (let i = 0; i < runs; i++) {
        await node.stopDaemon();
        const t0 = performance.now();
        await node.startDaemon();
        for (;;) {
          const status = await node.status();
          if (status.BackendState === "Running" && (status.TailscaleIPs?.length ?? 0) > 0) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        tailscaled.push(performance.now() - t0);
      }
      for (let i = 0; i < onlineRuns; i++) {
        await node.stopDaemon();
        await mustReach(nexus, "bench-t", false, 20_000);
        const t0 = performance.now();
        await node.startDaemon();
        if (await waitForOnline(nexus, "bench-t", true, 20_000)) {
          tailscaledOnline.push(performance.now() - t0);
        } else onlineMisses++;
      }
    } finally {
      await node.stop();
    }
    const citadelMs = median(citadel);
    const tailscaledMs = median(tailscaled);
    const citadelOnlineMs = median(citadelOnline);
    const tailscaledOnlineMs = median(tailscaledOnline);
    return {
      headscaleVersion: version,
      citadelMs,
      tailscaledMs,
      ratio: citadelMs / tailscaledMs,
      citadelOnlineMs,
      tailscaledOnlineMs,
      onlineRatio: citadelOnlineMs / tailscaledOnlineMs,
      onlineMisses,
    };
  } finally {
    await nexus.stop();
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    await Deno.remove(`${stateDir}.work.log`).catch(() => {});
  }
}

if (import.meta.main) {
  const { readPeerPins } = await import("../tests/interop/peers.ts");
  const r = await runStartupBench(readPeerPins().headscaleVersions[0]);
  console.log(JSON.stringify(r));
}
