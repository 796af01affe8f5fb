/**
 * `bin/citadel work` with its Redis reached only through the mesh (see
 * cli_work_mesh_jobs_test.ts for the stage), while jobs flow: Redis is
 * restarted (an append-only file synced at every write, so Redis itself
 * loses nothing), then Nexus (Headscale) is restarted. Counted afterwards:
 * every enqueued job has status `completed`, exactly one `end` event and
 * exactly one run, and the set of completed ids is the set enqueued.
 *
 * Then, over the mesh too: `work` killed with SIGKILL in the middle of a job
 * takes the job back after a restart and completes it once; SIGTERM lets a
 * running job finish and exits 0.
 *
 * The producer is `redis-cli`, retrying while Redis is down. Each job gets an
 * explicit, increasing entry id, so a retry of an XADD that did get through
 * is refused by Redis instead of enqueueing the job twice.
 */
import assert from "node:assert/strict";
import { pollUntil } from "./citadel_cli.ts";
import { readPeerPins } from "./peers.ts";
import type { RedisServer } from "./redis_server.ts";
import { countCompletions, enqueueShell, startMeshRedisStage } from "./work_mesh_setup.ts";
import { jobEvents, jobStatus, pendingCount } from "./worker_jobs_helpers.ts";

const QUEUE = "jobs:v1:mesh-restarts";
const JOBS = 50;

/** XADD with an explicit id, retried until Redis has the entry (refusing a repeat counts). */
async function enqueueUntilStored(
  redis: RedisServer,
  entryId: string,
  jobId: string,
  payload: Record<string, unknown>,
): Promise<number> {
  for (let attempt = 1;; attempt++) {
    let answer: string;
    try {
      answer = await redis.cli(
        "XADD",
        QUEUE,
        entryId,
        "jobId",
        jobId,
        "type",
        "shell",
        "payload",
        JSON.stringify(payload),
      );
    } catch (e) {
      answer = e instanceof Error ? e.message : String(e);
    }
    if (answer === entryId || /equal or smaller than the target stream top item/.test(answer)) {
      return attempt;
    }
    if (attempt > 200) throw new Error(`XADD ${jobId} never got through: ${answer}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name: `citadel work over the mesh: Redis and Nexus restarted while jobs flow, no job lost or ` +
      `run twice; SIGKILL mid-job reclaimed once; SIGTERM drains, Headscale ${version}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const stage = await startMeshRedisStage(version, {
        label: "mesh-restarts",
        persistentRedis: true,
      });
      const { redis, citadel, marks, hs, tsIP } = stage;
      const args = ["--redis", stage.meshURL, "--queue", QUEUE, "--concurrency", "2"];
      const ids = Array.from({ length: JOBS }, (_, i) => `r${i}`);
      const work = citadel.startWork(args);
      try {
        await work.waitOnline(60_000);
        await work.waitForLog(/job loop: connected to \S+ over the mesh to /, 60_000);

        // ---- jobs flow; Redis restarts, then Nexus restarts ------------------------------------
        const enqueued: string[] = [];
        let retried = 0;
        const base = Date.now();
        const producing = (async () => {
          for (const [i, id] of ids.entries()) {
            const attempts = await enqueueUntilStored(redis, `${base + i}-1`, id, {
              command: "sh",
              args: ["-c", `echo run >> ${marks}/${id}; sleep 0.3; echo done-${id}`],
              timeout_seconds: 30,
            });
            if (attempts > 1) retried++;
            enqueued.push(id);
            await new Promise((r) => setTimeout(r, 150));
          }
        })();
        const succeeded = () => work.log().match(/job r\d+ \(shell\) succeeded/g)?.length ?? 0;
        await pollUntil("15 jobs done", () => Promise.resolve(succeeded() >= 15 || undefined), {
          timeoutMs: 60_000,
          process: work.process,
        });
        const running = work.log().match(/job r\d+ \(shell\) started/g)!.length - succeeded();
        await redis.restart(1_500);
        const redisBack = performance.now();
        await stage.reopenChecker();
        await pollUntil("the job loop back on Redis, over the mesh", () => {
          const connections = work.log().match(/job loop: connected to \S+ over the mesh/g);
          return Promise.resolve((connections?.length ?? 0) >= 2 || undefined);
        }, { timeoutMs: 60_000, intervalMs: 50, process: work.process });
        assert.match(work.log(), /job loop: Redis: /, "the lost connection was noticed");
        const redisReconnectMs = Math.round(performance.now() - redisBack);

        await pollUntil("30 jobs done", () => Promise.resolve(succeeded() >= 30 || undefined), {
          timeoutMs: 60_000,
          process: work.process,
        });
        await hs.restart();
        await work.waitForLog(/reconnected to Nexus/, 60_000);
        await producing;
        await pollUntil(
          `${JOBS} jobs done`,
          () => Promise.resolve(succeeded() >= JOBS || undefined),
          {
            timeoutMs: 90_000,
            process: work.process,
          },
        );
        await pollUntil("all acked", async () => (await pendingCount(stage.conn, QUEUE)) === 0);
        const count = await countCompletions(stage.conn, marks, ids);
        assert.deepEqual(new Set(count.completed), new Set(enqueued), "completed = enqueued");
        assert.equal(enqueued.length, JOBS);
        assert.deepEqual(count.endsNotOne, {}, "exactly one end event each");
        assert.deepEqual(count.runsNotOne, {}, "each ran exactly once");
        for (const id of ids) {
          const output = (await jobEvents(stage.conn, id)).filter((e) => e.type === "chunk");
          assert.ok(output.some((e) => e.data.content === `done-${id}\n`), id);
        }
        assert.equal(succeeded(), JOBS, "the log has one success per job");
        // Jobs flowed across both restarts: some finished while Redis was away (their
        // completions kept for the reconnect), and some started after the pause for Nexus.
        const log = work.log();
        const redisAway = log.slice(
          log.indexOf("job loop: Redis: "),
          log.indexOf("job loop: connected", log.indexOf("job loop: Redis: ")),
        );
        const finishedWhileRedisAway = redisAway.match(/job r\d+ \(shell\) succeeded/g)?.length ??
          0;
        assert.match(log, /job loop paused: the node is not connected to the mesh/);
        assert.ok(!/ directly to /.test(log), "Redis was never reached directly");
        const afterResume = log.slice(log.indexOf("job loop resumed"));
        assert.match(afterResume, /job r\d+ \(shell\) started/, "jobs ran after Nexus came back");
        console.log(
          `  Headscale ${version}: ${JOBS} jobs across a Redis restart (${running} running at ` +
            `the time, ${finishedWhileRedisAway} finished while it was away, back ` +
            `${redisReconnectMs} ms after Redis answered; ${retried} enqueue(s) ` +
            `retried while it was down) and a Nexus restart: ${count.completed.length} ` +
            `completed, each once`,
        );

        // ---- SIGKILL mid-job: after a restart the job is taken back and completes once ----------
        await enqueueShell(redis, QUEUE, "k1", {
          command: "sh",
          args: ["-c", `echo run >> ${marks}/k1; sleep 3; echo finished-k1`],
        });
        await work.waitForLog(/job k1 \(shell\) started/);
        await pollUntil("k1 to write its mark", async () => {
          try {
            return (await Deno.readTextFile(`${marks}/k1`)) === "run\n" || undefined;
          } catch {
            return undefined;
          }
        });
        Deno.kill(work.process.pid, "SIGKILL");
        await work.process.exited;
        assert.equal(await pendingCount(stage.conn, QUEUE), 1, "k1 is left pending");
      } finally {
        if (work.running) await work.kill();
      }

      const restarted = citadel.startWork(args);
      try {
        await restarted.waitForLog(/job loop: connected to \S+ over the mesh to /, 60_000);
        const done = await restarted.waitForLog(
          /job k1 \(shell\) started from \S+, delivery (\d+)/,
        );
        assert.equal(done[1], "2", "the second delivery");
        await restarted.waitForLog(/job k1 \(shell\) succeeded/, 30_000);
        // The log line comes before the completion is written: wait for the ack.
        await pollUntil("k1 acked", async () => (await pendingCount(stage.conn, QUEUE)) === 0);
        assert.equal(
          await Deno.readTextFile(`${marks}/k1`),
          "run\nrun\n",
          "killed once, ran again once",
        );
        const k1 = await jobEvents(stage.conn, "k1");
        assert.equal(k1.filter((e) => e.type === "end").length, 1, String(k1.map((e) => e.type)));
        assert.ok(k1.some((e) => e.type === "chunk" && e.data.content === "finished-k1\n"));
        // None of the earlier jobs ran again.
        assert.deepEqual((await countCompletions(stage.conn, marks, ids)).runsNotOne, {});

        // ---- SIGTERM drains a running job, then exits 0 -----------------------------------------
        await enqueueShell(redis, QUEUE, "d1", {
          command: "sh",
          args: ["-c", "sleep 2; echo drained"],
        });
        await restarted.waitForLog(/job d1 \(shell\) started/);
        assert.equal(await restarted.stop(), 0, restarted.logTail());
        assert.match(restarted.log(), /job loop: draining, waiting for 1 running job/);
        assert.equal((await jobStatus(stage.conn, "d1")).status, "completed");
        assert.equal(await pendingCount(stage.conn, QUEUE), 0);
        assert.ok(restarted.log().includes(`over the mesh to ${tsIP}:${redis.port}`));
      } finally {
        if (restarted.running) await restarted.kill();
        await stage.close();
      }
    },
  });
}
