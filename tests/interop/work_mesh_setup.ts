/**
 * The stage of the "Redis through the mesh" interop tests: a real Headscale,
 * a real redis-server on 127.0.0.1, a real tailscaled (userspace networking,
 * which forwards TCP to its own mesh IP to its host's 127.0.0.1) named
 * `redis-host`, and a citadel installation joined as `mesh-worker` under the
 * user `org_acme`. `citadel work` is then given `redis://redis-host:<port>`:
 * a name this machine cannot resolve, so the only way to that Redis is
 * through the mesh.
 *
 * Also: enqueueing with `redis-cli`, and counting what the worker recorded.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { RedisConnection } from "../../worker/mod.ts";
import { type CitadelCli, createCitadel } from "./citadel_cli.ts";
import { type HeadscaleServer, startHeadscale } from "./headscale.ts";
import { makeTempDir, removeTempDir } from "./process.ts";
import { type RedisServer, startRedisServer } from "./redis_server.ts";
import { startTailscaled, type TailscaledNode } from "./tailscaled.ts";
import { checker, jobEvents, jobStatus } from "./worker_jobs_helpers.ts";

/** The host name of the tailscaled that has Redis on its localhost. */
export const REDIS_HOST = "redis-host";

/** Everything a mesh Redis test runs against; `close()` stops it all. */
export interface MeshRedisStage {
  /** Headscale ("Nexus"). */
  hs: HeadscaleServer;
  /** redis-server on 127.0.0.1. */
  redis: RedisServer;
  /** The tailscaled named {@link REDIS_HOST}. */
  ts: TailscaledNode;
  /** Its mesh IPv4 address. */
  tsIP: string;
  /** The citadel installation, initialised as `mesh-worker`. */
  citadel: CitadelCli;
  /** The citadel node's Headscale id. */
  nodeId: number;
  /** `redis://redis-host:<port>`: what `work` is given. */
  meshURL: string;
  /**
   * A connection for checks, straight to 127.0.0.1 (the test's view, not the
   * worker's); a new one after {@link reopenChecker}.
   */
  readonly conn: RedisConnection;
  /** Opens the check connection again (after a Redis restart closed it). */
  reopenChecker(): Promise<void>;
  /** A temporary folder for the jobs' marks. */
  marks: string;
  /** Stops everything. */
  close(): Promise<void>;
}

/** Starts the stage for one Headscale version. */
export async function startMeshRedisStage(
  version: string,
  options: { label: string; persistentRedis?: boolean },
): Promise<MeshRedisStage> {
  const cleanups: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (e) {
        console.error(`cleanup: ${e instanceof Error ? e.message : e}`);
      }
    }
  };
  try {
    const hs = await startHeadscale({ version });
    cleanups.push(() => hs.stop());
    const user = await hs.createUser("org_acme");
    const redis = await startRedisServer({ persistent: options.persistentRedis });
    cleanups.push(() => redis.stop());
    const ts = await startTailscaled({
      headscale: hs,
      authKey: await hs.createPreAuthKey(user),
      hostname: REDIS_HOST,
    });
    cleanups.push(() => ts.stop());
    const tsIP = await ts.ip();
    const citadel = await createCitadel({ nexus: hs.url, label: options.label });
    cleanups.push(() => citadel.cleanup());
    const key = citadel.secret(await hs.createPreAuthKey(user, { reusable: true }));
    await citadel.ok(["init", "--node-name", "mesh-worker"], { env: { CITADEL_AUTHKEY: key } });
    const node = (await hs.listNodes()).find((n) => n.name === "mesh-worker");
    assert.ok(node, "Headscale lists the citadel node");
    let conn = await checker(redis.url);
    cleanups.push(() => conn.close());
    const marks = await makeTempDir(`${options.label}-marks`);
    cleanups.push(() => removeTempDir(marks));
    return {
      hs,
      redis,
      ts,
      tsIP,
      citadel,
      nodeId: node.id,
      meshURL: `redis://${REDIS_HOST}:${redis.port}`,
      get conn() {
        return conn;
      },
      async reopenChecker() {
        conn.close();
        conn = await checker(redis.url);
      },
      marks,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** `XADD <queue> * jobId <id> type shell payload <json>` with redis-cli. */
export async function enqueueShell(
  redis: RedisServer,
  queue: string,
  jobId: string,
  payload: Record<string, unknown>,
): Promise<void> {
  const id = await redis.cli(
    "XADD",
    queue,
    "*",
    "jobId",
    jobId,
    "type",
    "shell",
    "payload",
    JSON.stringify(payload),
  );
  assert.match(id, /^\d+-\d+$/, `redis-cli XADD ${jobId}: ${id}`);
}

/** What the worker recorded for a set of jobs, counted. */
export interface CompletionCount {
  /** Job ids whose status is `completed`. */
  completed: string[];
  /** Job ids with a number of `end` events other than one, with that number. */
  endsNotOne: Record<string, number>;
  /** Job ids whose mark file says they ran other than once, with the runs. */
  runsNotOne: Record<string, number>;
}

/**
 * Counts, for each id: its status, its `end` events, and how often it ran
 * (lines `run` in `<marks>/<id>`, which each job appends to).
 */
export async function countCompletions(
  conn: RedisConnection,
  marks: string,
  ids: readonly string[],
): Promise<CompletionCount> {
  const count: CompletionCount = { completed: [], endsNotOne: {}, runsNotOne: {} };
  for (const id of ids) {
    if ((await jobStatus(conn, id)).status === "completed") count.completed.push(id);
    const ends = (await jobEvents(conn, id)).filter((e) => e.type === "end").length;
    if (ends !== 1) count.endsNotOne[id] = ends;
    let runs = 0;
    try {
      runs = (await Deno.readTextFile(`${marks}/${id}`)).split("\n").filter((l) => l === "run")
        .length;
    } catch {
      runs = 0;
    }
    if (runs !== 1) count.runsNotOne[id] = runs;
  }
  return count;
}
