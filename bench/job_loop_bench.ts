/**
 * Jobs per second through `bin/citadel work`'s job loop with Redis reached
 * over the mesh, against the same loop with Redis direct on localhost, in the
 * same run: one real Headscale, one real redis-server on 127.0.0.1, one real
 * tailscaled (`redis-host`, userspace networking) that forwards its mesh IP
 * to that Redis. The same `work` state runs twice: `--redis
 * redis://127.0.0.1:<port>` (direct), then `--redis redis://redis-host:<port>`
 * (through the mesh: WireGuard over DERP or a direct UDP path on loopback,
 * tailscaled's netstack, its forward to 127.0.0.1).
 *
 * Each round enqueues N jobs at once (one pipelined batch from the bench's
 * own connection) and times until Redis shows every one acked (`XINFO
 * GROUPS`: all read, none pending); each job has a `claimed`, `start`,
 * `chunk`/`end` record and an ack, so a job is about six Redis round trips
 * on the worker's side. Kinds:
 * - `shell` (`true`): a process per job, as users run them;
 * - `http` to a service on 127.0.0.1 (direct in both runs): no process, so
 *   the Redis path weighs more;
 * - in the mesh run also `http` to the same service through the mesh
 *   (`http://redis-host:<port>`, node:http over a mesh TCP connection).
 * Median of `rounds`; the ratio mesh / direct (1.0 = no cost of the mesh).
 */
import { createCitadel } from "../tests/interop/citadel_cli.ts";
import { startHeadscale } from "../tests/interop/headscale.ts";
import { startRedisServer } from "../tests/interop/redis_server.ts";
import { startTailscaled } from "../tests/interop/tailscaled.ts";
import { checker } from "../tests/interop/worker_jobs_helpers.ts";
import type { RedisConnection, RespArgument, RespValue } from "../worker/mod.ts";
import { median } from "./netmap_bench.ts";

/** Jobs per second of one kind, both ways. */
export interface JobRateFigure {
  /** Jobs per round. */
  jobs: number;
  /** Median jobs/s with Redis direct on localhost. */
  direct: number;
  /** Median jobs/s with Redis through the mesh. */
  mesh: number;
  /** mesh / direct. */
  ratio: number;
}

/** Figures of {@link runJobLoopBench}. */
export interface JobLoopBenchResult {
  /** Headscale version used. */
  headscaleVersion: string;
  /** `--concurrency` of both runs. */
  concurrency: number;
  /** `shell` jobs (`true`). */
  shell: JobRateFigure;
  /** `http` jobs to a service on 127.0.0.1. */
  http: JobRateFigure;
  /** Median jobs/s of `http` jobs to the service through the mesh (mesh run only). */
  httpOverMesh: number;
  /** How the mesh run reached tailscaled at its end: "direct" (UDP), "relay" (DERP) or "none". */
  meshPath: string;
}

const text = (v: RespValue) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v));

/** Seconds until every entry of `queue` up to `total` was read and acked by the group. */
async function drained(conn: RedisConnection, queue: string, total: number, t0: number) {
  const deadline = performance.now() + 120_000;
  while (performance.now() < deadline) {
    const groups = (await conn.command(["XINFO", "GROUPS", queue])) as RespValue[][];
    const group = groups[0] ?? [];
    const field = (name: string) => group[group.findIndex((v) => text(v) === name) + 1];
    if (Number(field("entries-read")) >= total && Number(field("pending")) === 0) {
      return (performance.now() - t0) / 1000;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${queue}: not drained within 120 s`);
}

/** Runs the comparison against one Headscale version. */
export async function runJobLoopBench(
  version: string,
  options: { rounds?: number; shellJobs?: number; httpJobs?: number; concurrency?: number } = {},
): Promise<JobLoopBenchResult> {
  const rounds = options.rounds ?? 3;
  const shellJobs = options.shellJobs ?? 200;
  const httpJobs = options.httpJobs ?? 300;
  const concurrency = options.concurrency ?? 8;
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    const hs = await startHeadscale({ version });
    cleanups.push(() => hs.stop());
    const user = await hs.createUser("org_bench");
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const ts = await startTailscaled({
      headscale: hs,
      authKey: await hs.createPreAuthKey(user),
      hostname: "redis-host",
    });
    cleanups.push(() => ts.stop());
    const service = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response("ok"),
    );
    cleanups.push(() => service.shutdown());
    const citadel = await createCitadel({ nexus: hs.url, label: "bench-jobs" });
    cleanups.push(() => citadel.cleanup());
    const key = citadel.secret(await hs.createPreAuthKey(user));
    await citadel.ok(["init", "--node-name", "bench-worker"], { env: { CITADEL_AUTHKEY: key } });
    const conn = await checker(redis.url);
    cleanups.push(() => conn.close());

    let queueNumber = 0;
    const timeRound = async (kind: string, jobs: number, payload: Record<string, unknown>) => {
      const queue = `jobs:v1:bench-${kind}-${++queueNumber}`;
      // The group exists before the work process reads: it reads only this round's queue.
      await conn.command(["XGROUP", "CREATE", queue, "citadel-workers", "0", "MKSTREAM"]);
      const type = kind === "shell" ? "shell" : "http";
      const batch: RespArgument[][] = Array.from({ length: jobs }, (_, i) => [
        "XADD",
        queue,
        "*",
        "jobId",
        `${kind}-${queueNumber}-${i}`,
        "type",
        type,
        "payload",
        JSON.stringify(payload),
      ]);
      return { queue, batch };
    };

    let meshPath = "unknown";
    const runWork = async (redisURL: string, withMeshHttp: boolean) => {
      const rates = { shell: [] as number[], http: [] as number[], httpOverMesh: [] as number[] };
      const plans: { kind: keyof typeof rates; queue: string; batch: RespArgument[][] }[] = [];
      for (let r = 0; r < rounds; r++) {
        plans.push({
          kind: "shell",
          ...(await timeRound("shell", shellJobs, { command: "true" })),
        });
        plans.push({
          kind: "http",
          ...(await timeRound("http", httpJobs, {
            url: `http://127.0.0.1:${service.addr.port}/`,
          })),
        });
        if (withMeshHttp) {
          plans.push({
            kind: "httpOverMesh",
            ...(await timeRound("httpmesh", httpJobs, {
              url: `http://redis-host:${service.addr.port}/`,
            })),
          });
        }
      }
      const args = ["--redis", redisURL, "--concurrency", String(concurrency)];
      for (const plan of plans) args.push("--queue", plan.queue);
      const work = citadel.startWork(args);
      let stopped: number;
      try {
        await work.waitForLog(/job loop: connected to /, 60_000);
        // Let the first heartbeat and the group checks pass before timing.
        await new Promise((r) => setTimeout(r, 500));
        for (const plan of plans) {
          const t0 = performance.now();
          await conn.pipeline(plan.batch);
          const seconds = await drained(conn, plan.queue, plan.batch.length, t0);
          rates[plan.kind].push(plan.batch.length / seconds);
        }
        if (withMeshHttp) {
          const { json } = await citadel.status();
          meshPath = json.peers.find((p) => p.hostname === "redis-host")?.path ?? "none";
        }
        const log = work.log();
        if (/job \S+ \(\w+\) (failed|retrying)/.test(log)) {
          throw new Error(`a benchmark job failed:\n${work.logTail()}`);
        }
        if (withMeshHttp !== / over the mesh to /.test(log)) {
          throw new Error(`the run did not take the expected route:\n${work.logTail()}`);
        }
      } finally {
        stopped = await work.stop();
      }
      if (stopped !== 0) throw new Error(`work did not exit 0:\n${work.logTail()}`);
      return rates;
    };

    const direct = await runWork(redis.url, false);
    const mesh = await runWork(`redis://redis-host:${redis.port}`, true);
    const figure = (jobs: number, d: number[], m: number[]): JobRateFigure => ({
      jobs,
      direct: median(d),
      mesh: median(m),
      ratio: median(m) / median(d),
    });
    return {
      headscaleVersion: version,
      concurrency,
      shell: figure(shellJobs, direct.shell, mesh.shell),
      http: figure(httpJobs, direct.http, mesh.http),
      httpOverMesh: median(mesh.httpOverMesh),
      meshPath,
    };
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch {
        // Best effort.
      }
    }
  }
}

if (import.meta.main) {
  const version = Deno.args[0] ?? "v0.29.3";
  console.log(JSON.stringify(await runJobLoopBench(version), null, 2));
}
