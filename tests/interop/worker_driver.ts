/**
 * Runs the job loop as its own process, for interop tests that kill it:
 * `deno run --allow-all worker_driver.ts '<options as JSON>'`. Each worker
 * event is printed as one JSON line; SIGTERM stops the loop (drain, exit 0);
 * a loop failure exits 3 after a `{"kind":"fatal"}` line.
 *
 * Options: `redisURL`, `queues`, `workspaceDir`, and optionally `org`,
 * `nodeId`, `group`, `consumer`, `concurrency`, `maxRetries`,
 * `claimMinIdleMs`, `reclaimIntervalMs`, `pollBlockMs`, `drainTimeoutMs`,
 * `heartbeatIntervalMs`, `stallLimitMs`, `watchdogIntervalMs`, and
 * `disconnectedFile` (the node counts as disconnected while that file exists).
 * `ping` jobs answer for the target `peer-ok` only (a fake mesh).
 *
 * @module
 */
import { systemClock } from "../../network/clock.ts";
import { systemRandom } from "../../network/crypto/random.ts";
import { dialTcp, JobLoop, type WorkerEvent } from "../../worker/mod.ts";

const o = JSON.parse(Deno.args[0]);
const line = (value: unknown) => console.log(JSON.stringify(value));
const serialize = (e: WorkerEvent) =>
  "error" in e && e.error instanceof Error
    ? { ...e, error: `${e.error.name}: ${e.error.message}` }
    : e;

const stop = new AbortController();
Deno.addSignalListener("SIGTERM", () => stop.abort());
const exists = (path: string) => {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
};

const loop = new JobLoop({
  redisURL: o.redisURL,
  dial: dialTcp,
  clock: systemClock,
  random: systemRandom,
  connected: () => !(o.disconnectedFile && exists(o.disconnectedFile)),
  node: () => ({
    nodeName: "driver-node",
    nodeId: o.nodeId ?? null,
    meshIPs: ["100.64.0.9", "fd7a:115c:a1e0::9"],
  }),
  version: "0.0.0-test",
  queues: o.queues,
  org: o.org,
  group: o.group,
  consumer: o.consumer,
  concurrency: o.concurrency,
  maxRetries: o.maxRetries,
  claimMinIdleMs: o.claimMinIdleMs,
  reclaimIntervalMs: o.reclaimIntervalMs,
  pollBlockMs: o.pollBlockMs,
  drainTimeoutMs: o.drainTimeoutMs,
  heartbeatIntervalMs: o.heartbeatIntervalMs,
  stallLimitMs: o.stallLimitMs,
  watchdogIntervalMs: o.watchdogIntervalMs,
  shell: { workspaceDir: o.workspaceDir, env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" } },
  fetch: (request) => fetch(request),
  ping: (target) =>
    target === "peer-ok"
      ? Promise.resolve({ ip: "100.64.0.2", nodeName: "peer-ok", latencyMs: 3, path: "relay" })
      : Promise.reject(
        Object.assign(new Error(`no peer ${target}`), { name: "PeerNotFoundError" }),
      ),
  onEvent: (e) => line(serialize(e)),
});
line({ kind: "driver-started", consumer: loop.status().consumer, queues: loop.queues });
try {
  const result = await loop.run(stop.signal);
  line({ kind: "result", ...result, status: loop.status() });
  Deno.exit(0);
} catch (e) {
  line({ kind: "fatal", name: (e as Error).name, message: (e as Error).message });
  Deno.exit(3);
}
