/**
 * The real `bin/citadel work --redis redis://127.0.0.1:<port>`, joined to a
 * real Headscale under a user named `org_acme`, against a real redis-server:
 * 24 shell jobs enqueued by `redis-cli` (20 on a shared queue, 4 on the
 * node's own stream `jobs:v1:shell:org_acme:node:<Headscale id>`) each run
 * exactly once with their output in their streams; a real heartbeat names
 * the node; `citadel status` shows the worker; SIGTERM lets a running job
 * finish and exits 0; SIGKILL in the middle of a job, then a restart, takes
 * the job back and completes it once.
 *
 * The same with Redis on a tailscaled host's localhost, reached only through
 * the mesh: cli_work_mesh_jobs_test.ts and cli_work_mesh_restart_test.ts.
 */
import assert from "node:assert/strict";
import { createCitadel, pollUntil } from "./citadel_cli.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { makeTempDir, removeTempDir } from "./process.ts";
import { startRedisServer } from "./redis_server.ts";
import {
  checker,
  jobEvents,
  jobStatus,
  pendingCount,
  streamEntries,
} from "./worker_jobs_helpers.ts";

const QUEUE = "jobs:v1:interop";
const JOBS = 24;

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name: `citadel work --redis runs shell jobs exactly once, drains on SIGTERM, and reclaims ` +
      `after SIGKILL, Headscale ${version}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("org_acme");
      const redis = await startRedisServer();
      const marks = await makeTempDir("work-jobs-marks");
      const conn = await checker(redis.url);
      try {
        await using citadel = await createCitadel({ nexus: hs.url, label: "work-jobs" });
        const key = citadel.secret(await hs.createPreAuthKey(user, { reusable: true }));
        await citadel.ok(["init", "--node-name", "jobs-node"], { env: { CITADEL_AUTHKEY: key } });
        const [node] = (await hs.listNodes()).filter((n) => n.name === "jobs-node");
        assert.ok(node, "Headscale lists the node");
        const nodeStream = `jobs:v1:shell:org_acme:node:${node.id}`;
        const args = ["--redis", redis.url, "--queue", QUEUE];

        // ---- 24 jobs, each exactly once --------------------------------------------------------
        const work = citadel.startWork(args);
        try {
          await work.waitOnline();
          const ready = await work.waitForLog(/ready: job loop on (\S+), queues (.+), 1 at once/);
          assert.equal(ready[1], `redis://127.0.0.1:${redis.port}`);
          assert.equal(
            ready[2],
            `${QUEUE}, ${nodeStream}`,
            "the per-node stream from the real id and org",
          );
          await work.waitForLog(/job loop: connected to /);
          const started = performance.now();
          for (let i = 0; i < JOBS; i++) {
            const stream = i % 6 === 5 ? nodeStream : QUEUE;
            const payload = {
              command: "sh",
              args: ["-c", `echo run >> ${marks}/j${i}; echo out-${i}; echo err-${i} >&2`],
              timeout_seconds: 30,
            };
            await redis.cli(
              "XADD",
              stream,
              "*",
              "jobId",
              `j${i}`,
              "type",
              "shell",
              "payload",
              JSON.stringify(payload),
            );
          }
          await pollUntil(`${JOBS} jobs done`, () => {
            const done = work.log().match(/job j\d+ \(shell\) succeeded/g)?.length ?? 0;
            return Promise.resolve(done >= JOBS ? done : undefined);
          }, { timeoutMs: 60_000, process: work.process });
          const elapsed = Math.round(performance.now() - started);
          for (let i = 0; i < JOBS; i++) {
            assert.equal(await Deno.readTextFile(`${marks}/j${i}`), "run\n", `j${i} ran once`);
            const events = await jobEvents(conn, `j${i}`);
            const types = events.map((e) => e.type);
            assert.equal(types.filter((t) => t === "end").length, 1, `j${i}: ${types}`);
            assert.equal(types.filter((t) => t === "start").length, 1, `j${i}: ${types}`);
            const output = events.filter((e) => e.type === "chunk").map((e) =>
              JSON.stringify(e.data)
            );
            assert.ok(output.some((o) => o.includes(`out-${i}`)), `j${i} stdout: ${output}`);
            assert.ok(output.some((o) => o.includes(`err-${i}`)), `j${i} stderr: ${output}`);
            const status = await jobStatus(conn, `j${i}`);
            assert.equal(status.status, "completed");
            assert.equal(status.worker_id, "citadel-jobs-node");
          }
          assert.equal(await pendingCount(conn, QUEUE), 0);
          assert.equal(await pendingCount(conn, nodeStream), 0);
          console.log(
            `  Headscale ${version}: ${JOBS} shell jobs through bin/citadel work in ${elapsed} ms`,
          );

          // A real heartbeat, naming the node as Headscale knows it.
          const beats = await streamEntries(conn, "node:status:stream");
          assert.ok(beats.length >= 1);
          const beat = JSON.parse(beats.at(-1)!.payload as string);
          assert.equal(beat.nodeId, "jobs-node");
          assert.equal(beat.headscaleNodeId, String(node.id));
          assert.deepEqual([...beat.status.node.mesh_ips].sort(), [...node.ipAddresses].sort());

          // status asks the running work: node id and worker section.
          const { json: status } = await citadel.status();
          assert.equal(status.nodeId, node.id);
          assert.equal(status.worker?.state, "running");
          assert.equal(status.worker?.jobsDone, JOBS);
          assert.equal(status.worker?.redis, `redis://127.0.0.1:${redis.port}`);
          const human = await citadel.ok(["status"]);
          assert.match(human.stdout, /^Worker:$/m);
          assert.match(
            human.stdout,
            new RegExp(`^ {2}Jobs: +0 running, ${JOBS} done \\(${JOBS} ok`, "m"),
          );

          // ---- SIGTERM drains: a running job finishes, then exit 0 -------------------------------
          await redis.cli(
            "XADD",
            QUEUE,
            "*",
            "jobId",
            "drain-1",
            "type",
            "shell",
            "payload",
            JSON.stringify({ command: "sh", args: ["-c", "sleep 2; echo drained"] }),
          );
          await work.waitForLog(/job drain-1 \(shell\) started/);
          assert.equal(await work.stop(), 0, work.logTail());
          assert.match(work.log(), /job loop: draining, waiting for 1 running job/);
          assert.match(work.log(), /job drain-1 \(shell\) succeeded/);
          assert.equal((await jobStatus(conn, "drain-1")).status, "completed");
        } finally {
          if (work.running) await work.kill();
        }

        // ---- SIGKILL mid-job, restart: the job is taken back and completes once ----------------
        const killed = citadel.startWork(args);
        await killed.waitForLog(/job loop: connected to /, 30_000);
        await redis.cli(
          "XADD",
          QUEUE,
          "*",
          "jobId",
          "k1",
          "type",
          "shell",
          "payload",
          JSON.stringify({
            command: "sh",
            args: ["-c", `echo run >> ${marks}/k1; sleep 3; echo finished-k1`],
          }),
        );
        await killed.waitForLog(/job k1 \(shell\) started/);
        await pollUntil("k1 to write its mark", async () => {
          try {
            return (await Deno.readTextFile(`${marks}/k1`)) === "run\n" ? true : undefined;
          } catch {
            return undefined;
          }
        });
        Deno.kill(killed.process.pid, "SIGKILL");
        await killed.process.exited;
        assert.equal(await pendingCount(conn, QUEUE), 1, "k1 is left pending");

        const restarted = citadel.startWork(args);
        try {
          await restarted.waitForLog(/job k1 \(shell\) succeeded/, 60_000);
          assert.equal(
            await Deno.readTextFile(`${marks}/k1`),
            "run\nrun\n",
            "killed once, run again once",
          );
          const types = (await jobEvents(conn, "k1")).map((e) => e.type);
          assert.equal(types.filter((t) => t === "end").length, 1, String(types));
          const chunks = (await jobEvents(conn, "k1")).filter((e) => e.type === "chunk");
          assert.ok(chunks.some((c) => JSON.stringify(c.data).includes("finished-k1")));
          assert.equal((await jobStatus(conn, "k1")).status, "completed");
          assert.equal(await pendingCount(conn, QUEUE), 0);
          // None of the earlier jobs ran again after the restart.
          for (let i = 0; i < JOBS; i++) {
            assert.equal(await Deno.readTextFile(`${marks}/j${i}`), "run\n", `j${i} still once`);
          }
        } finally {
          assert.equal(await restarted.stop(), 0, restarted.logTail());
        }
      } finally {
        conn.close();
        await redis.stop();
        await removeTempDir(marks);
      }
    },
  });
}
