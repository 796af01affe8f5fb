/**
 * The job loop's recovery and refusals against a real redis-server: a worker
 * killed with SIGKILL mid-job has its job reclaimed (XAUTOCLAIM) by another
 * worker and completed once; a restart under the same consumer name takes its
 * own unacked job back at once; retryable failures are delivered again and
 * dead-lettered after maxRetries; a job for another node is acked and skipped;
 * an unknown type and bad jobs fail terminally, are acked, and the loop goes on;
 * the loop pauses while the node is disconnected.
 */
import assert from "node:assert/strict";
import { freeTcpPort } from "./free_port.ts";
import { makeTempDir, removeTempDir } from "./process.ts";
import { startRedisServer } from "./redis_server.ts";
import {
  checker,
  jobEvents,
  jobStatus,
  pendingCount,
  streamEntries,
} from "./worker_jobs_helpers.ts";
import { startWorker } from "./worker_process.ts";

const shellJob = (
  payload: Record<string, unknown>,
) => ["type", "shell", "payload", JSON.stringify(payload)];

Deno.test("worker recovery: SIGKILL mid-job, the job is reclaimed and completes once", async () => {
  const redis = await startRedisServer();
  const dir = await makeTempDir("worker-kill");
  const conn = await checker(redis.url);
  try {
    const queue = "jobs:v1:kill";
    const mark = `${dir}/runs.txt`;
    const common = {
      redisURL: redis.url,
      queues: [queue],
      workspaceDir: `${dir}/workspace`,
      claimMinIdleMs: 1500,
      reclaimIntervalMs: 300,
      pollBlockMs: 300,
    };
    // Worker A dies (SIGKILL) while running the job.
    const a = startWorker("worker-a", `${dir}/a.log`, { ...common, consumer: "citadel-a" });
    await a.waitForEvents("a connected", (e) => e.kind === "redis-connected");
    await redis.cli(
      "XADD",
      queue,
      "*",
      "jobId",
      "killed-1",
      ...shellJob({ command: "sh", args: ["-c", `echo run >> ${mark}; sleep 2; echo ok`] }),
    );
    await a.waitForEvents("a started the job", (e) => e.kind === "job-started");
    Deno.kill(a.process.pid, "SIGKILL");
    await a.process.exited;
    assert.equal(await pendingCount(conn, queue), 1);

    // Worker B (another consumer) claims it once it has been idle 1.5 s.
    const b = startWorker("worker-b", `${dir}/b.log`, { ...common, consumer: "citadel-b" });
    const [done] = await b.waitForEvents(
      "b finished the job",
      (e) => e.kind === "job-finished" && e.jobId === "killed-1",
    );
    assert.equal(done.status, "succeeded");
    const started = b.events().find((e) => e.kind === "job-started")!;
    assert.equal(started.delivery, 2, "the second delivery");
    const events = (await jobEvents(conn, "killed-1")).map((e) => e.type);
    assert.equal(events.filter((t) => t === "end").length, 1, String(events));
    assert.equal(events.filter((t) => t === "start").length, 2, String(events));
    assert.equal((await jobStatus(conn, "killed-1")).worker_id, "citadel-b");
    assert.equal(Deno.readTextFileSync(mark), "run\nrun\n");
    assert.equal(await pendingCount(conn, queue), 0);
    assert.equal((await b.process.stop()).code, 0);

    // A restart under the same consumer name takes its own unacked job back at once.
    const c1 = startWorker("worker-c1", `${dir}/c1.log`, { ...common, consumer: "citadel-c" });
    await c1.waitForEvents("c1 connected", (e) => e.kind === "redis-connected");
    await redis.cli(
      "XADD",
      queue,
      "*",
      "jobId",
      "killed-2",
      ...shellJob({ command: "sh", args: ["-c", "sleep 2; echo ok"] }),
    );
    await c1.waitForEvents("c1 started", (e) => e.kind === "job-started");
    Deno.kill(c1.process.pid, "SIGKILL");
    await c1.process.exited;
    const restarted = performance.now();
    const c2 = startWorker("worker-c2", `${dir}/c2.log`, {
      ...common,
      consumer: "citadel-c",
      claimMinIdleMs: 60_000,
    });
    const [again] = await c2.waitForEvents("c2 finished", (e) => e.kind === "job-finished");
    assert.equal(again.jobId, "killed-2");
    assert.equal(again.status, "succeeded");
    assert.ok(performance.now() - restarted < 10_000, "no waiting for the claim idle time");
    assert.equal(await pendingCount(conn, queue), 0);
    assert.equal((await c2.process.stop()).code, 0);
  } finally {
    conn.close();
    await redis.stop();
    await removeTempDir(dir);
  }
});

Deno.test("worker recovery: retries, dead letters, other nodes' jobs, unknown types, bad jobs, pause", async () => {
  const redis = await startRedisServer();
  const dir = await makeTempDir("worker-refusals");
  const conn = await checker(redis.url);
  try {
    const shared = "jobs:v1:cpu-general";
    const nodeStream = "jobs:v1:shell:org_acme:node:7";
    const disconnected = `${dir}/disconnected`;
    const worker = startWorker("worker", `${dir}/worker.log`, {
      redisURL: redis.url,
      queues: [shared],
      org: "acme",
      nodeId: "7",
      workspaceDir: `${dir}/workspace`,
      maxRetries: 2,
      claimMinIdleMs: 300,
      reclaimIntervalMs: 200,
      pollBlockMs: 300,
      disconnectedFile: disconnected,
    });
    const [connected] = await worker.waitForEvents(
      "connected",
      (e) => e.kind === "redis-connected",
    );
    assert.deepEqual(connected.queues, [shared, nodeStream]);

    // Dead letter: an HTTP job to a closed port fails (retryable) on each of 2 deliveries.
    const closedPort = freeTcpPort();
    await redis.cli(
      "XADD",
      shared,
      "*",
      "jobId",
      "http-dead",
      "type",
      "http",
      "payload",
      JSON.stringify({ url: `http://127.0.0.1:${closedPort}/`, timeout_seconds: 2 }),
      "rayId",
      "ray-1",
    );
    // Another node's job, ours on the per-node stream, an unknown type, bad jobs.
    const mark = `${dir}/other-node-ran`;
    await redis.cli(
      "XADD",
      shared,
      "*",
      "jobId",
      "for-node-8",
      ...shellJob({ command: "touch", args: [mark], target_node: "8" }),
    );
    await redis.cli(
      "XADD",
      nodeStream,
      "*",
      "jobId",
      "for-node-7",
      ...shellJob({ command: "echo", args: ["mine"], target_node: 7 }),
    );
    await redis.cli(
      "XADD",
      shared,
      "*",
      "jobId",
      "teleport-1",
      "type",
      "teleport",
      "payload",
      "{}",
    );
    await redis.cli(
      "XADD",
      shared,
      "*",
      "jobId",
      "bad-json",
      "type",
      "shell",
      "payload",
      "{not json",
    );
    await redis.cli("XADD", shared, "*", "type", "shell", "payload", "{}");
    await redis.cli(
      "XADD",
      shared,
      "*",
      "jobId",
      "no-such-cmd",
      ...shellJob({ command: "no-such-command-xyz" }),
    );
    await redis.cli(
      "XADD",
      shared,
      "*",
      "jobId",
      "too-slow",
      ...shellJob({ command: "sleep", args: ["10"], timeout_seconds: 0.5 }),
    );
    await redis.cli(
      "XADD",
      shared,
      "*",
      "jobId",
      "exit-3",
      ...shellJob({ command: "sh", args: ["-c", "exit 3"] }),
    );
    await redis.cli(
      "XADD",
      shared,
      "*",
      "jobId",
      "escape",
      ...shellJob({ command: "ls", cwd: "../.." }),
    );
    // Over the command-line limit of redis-cli: enqueued with our client.
    await conn.command([
      "XADD",
      shared,
      "*",
      "jobId",
      "huge",
      ...shellJob({ command: "echo", args: ["x".repeat(300_000)] }),
    ]);
    await redis.cli(
      "XADD",
      shared,
      "*",
      "jobId",
      "ping-ok",
      "type",
      "ping",
      "payload",
      '{"target":"peer-ok"}',
    );
    await redis.cli(
      "XADD",
      shared,
      "*",
      "jobId",
      "after-all",
      ...shellJob({ command: "echo", args: ["still going"] }),
    );

    await worker.waitForEvents("dead letter", (e) => e.kind === "job-dead-lettered", 1, 20_000);
    await worker.waitForEvents(
      "after-all",
      (e) => e.kind === "job-finished" && e.jobId === "after-all",
    );
    await worker.waitForEvents(
      "for-node-7",
      (e) => e.kind === "job-finished" && e.jobId === "for-node-7",
    );

    // Retried twice, then dead-lettered on the third delivery, with the Go fields.
    const httpRuns = worker.events().filter((e) =>
      e.kind === "job-finished" && e.jobId === "http-dead"
    );
    assert.deepEqual(httpRuns.map((e) => e.status), ["retrying", "retrying"]);
    const [dead] = await streamEntries(conn, "dlq:v1:cpu-general");
    assert.equal(dead.jobId, "http-dead");
    assert.equal(dead.original_queue, shared);
    assert.equal(dead.deliveries, "3");
    assert.equal(dead.type, "http");
    assert.match(dead.reason as string, /delivered 3 times/);
    assert.equal((await jobStatus(conn, "http-dead")).status, "dead_lettered");

    // Another node's job: acked, not run, nothing recorded under its id.
    const skipped = worker.events().find((e) => e.kind === "job-skipped");
    assert.deepEqual(skipped, { kind: "job-skipped", jobId: "for-node-8", targetNode: "8" });
    assert.throws(() => Deno.statSync(mark));
    assert.deepEqual(await jobEvents(conn, "for-node-8"), []);
    assert.equal((await jobStatus(conn, "for-node-7")).status, "completed");

    // Terminal failures, each recorded and acked.
    const failure = async (id: string, pattern: RegExp) => {
      const status = await jobStatus(conn, id);
      assert.equal(status.status, "failed", id);
      assert.match(status.error, pattern, id);
      const events = await jobEvents(conn, id);
      const error = events.find((e) => e.type === "error")!;
      assert.equal(error.data.recoverable, false, id);
      return { status, error };
    };
    const unknown = await failure("teleport-1", /unsupported job type "teleport"/);
    assert.equal(unknown.error.data.unsupported_job_type, true);
    await failure("bad-json", /not valid JSON/);
    await failure("no-such-cmd", /command not found: no-such-command-xyz/);
    await failure("too-slow", /timed out after 0.5 s/);
    assert.equal((await failure("exit-3", /exited with code 3/)).status.exit_code, "3");
    await failure("escape", /cwd must be a relative path inside the workspace/);
    await failure("huge", /payload is \d+ bytes, over the limit/);
    const noId = worker.events().find((e) =>
      e.kind === "job-finished" && /no jobId/.test(String(e.error))
    );
    assert.ok(noId, "an entry without a jobId is reported under its entry id");
    assert.equal((await jobStatus(conn, "ping-ok")).status, "completed");
    assert.equal((await jobStatus(conn, "after-all")).status, "completed");
    assert.equal(await pendingCount(conn, shared), 0);
    assert.equal(await pendingCount(conn, nodeStream), 0);

    // Disconnected: the loop pauses and reads nothing; connected again, it resumes.
    Deno.writeTextFileSync(disconnected, "");
    await worker.waitForEvents("paused", (e) => e.kind === "paused");
    await redis.cli("XADD", shared, "*", "jobId", "while-paused", ...shellJob({ command: "true" }));
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(
      !worker.events().some((e) => e.jobId === "while-paused"),
      "nothing read while paused",
    );
    Deno.removeSync(disconnected);
    await worker.waitForEvents("resumed", (e) => e.kind === "resumed");
    await worker.waitForEvents(
      "while-paused",
      (e) => e.kind === "job-finished" && e.jobId === "while-paused",
    );
    assert.equal((await worker.process.stop()).code, 0);
  } finally {
    conn.close();
    await redis.stop();
    await removeTempDir(dir);
  }
});
