/**
 * The job loop against a real redis-server, in a child process: 100 shell
 * jobs enqueued by redis-cli run exactly once each with their output in their
 * streams; SIGTERM drains running jobs and exits 0; a drain past its deadline
 * abandons the job (left pending) and still exits 0; a heartbeat is written.
 */
import assert from "node:assert/strict";
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

Deno.test("worker loop: 100 shell jobs from redis-cli run exactly once each; SIGTERM drains", async () => {
  const redis = await startRedisServer();
  const dir = await makeTempDir("worker-loop");
  const conn = await checker(redis.url);
  try {
    const queue = "jobs:v1:cpu-general";
    const worker = startWorker("worker", `${dir}/worker.log`, {
      redisURL: redis.url,
      queues: [queue],
      workspaceDir: `${dir}/workspace`,
      consumer: "citadel-test-a",
      concurrency: 4,
      pollBlockMs: 1000,
    });
    await worker.waitForEvents("redis-connected", (e) => e.kind === "redis-connected");
    await worker.waitForEvents("first heartbeat", (e) => e.kind === "heartbeat" && e.ok === true);

    const started = performance.now();
    const ids = Array.from({ length: 100 }, (_, i) => `job-${i}`);
    for (let i = 0; i < ids.length; i += 10) {
      await Promise.all(
        ids.slice(i, i + 10).map((id) =>
          redis.cli(
            "XADD",
            queue,
            "*",
            "jobId",
            id,
            "type",
            "shell",
            "payload",
            JSON.stringify({ command: "echo", args: [`out of ${id}`] }),
            "enqueuedAt",
            new Date().toISOString(),
          )
        ),
      );
    }
    await worker.waitForEvents(
      "100 finished jobs",
      (e) => e.kind === "job-finished",
      100,
      50_000,
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`worker loop: 100 shell jobs in ${seconds.toFixed(2)} s (concurrency 4)`);

    const finished = worker.events().filter((e) => e.kind === "job-finished");
    assert.equal(finished.length, 100, "each job finished exactly once");
    assert.deepEqual(new Set(finished.map((e) => e.jobId)), new Set(ids));
    assert.ok(
      finished.every((e) => e.status === "succeeded"),
      JSON.stringify(finished.find((e) => e.status !== "succeeded")),
    );
    for (const id of ids) {
      const events = await jobEvents(conn, id);
      const types = events.map((e) => e.type);
      assert.deepEqual(types, ["claimed", "start", "chunk", "end"], `${id}: ${types}`);
      assert.equal(events[2].data.content, `out of ${id}\n`);
      assert.equal(events[2].data.stream, "stdout");
      assert.equal((events[3].data.result as Record<string, unknown>).exit_code, 0);
      const status = await jobStatus(conn, id);
      assert.equal(status.status, "completed");
      assert.equal(status.exit_code, "0");
      assert.equal(status.worker_id, "citadel-test-a");
      const ttl = await conn.command(["TTL", `job:${id}:status`]) as number;
      assert.ok(ttl > 0 && ttl <= 86400);
    }
    assert.equal(await pendingCount(conn, queue), 0);

    // A heartbeat on node:status:stream with the node's name, IPs and counters.
    const beats = await streamEntries(conn, "node:status:stream");
    assert.ok(beats.length >= 1);
    const payload = JSON.parse(beats[0].payload as string);
    assert.equal(beats[0].nodeId, "driver-node");
    assert.deepEqual(payload.status.node.mesh_ips, ["100.64.0.9", "fd7a:115c:a1e0::9"]);
    assert.equal(payload.status.node.tailscale_ip, "100.64.0.9");
    assert.equal(payload.status.node.version, "0.0.0-test");

    // SIGTERM while a job runs: the loop drains it, acks it, and exits 0.
    await redis.cli(
      "XADD",
      queue,
      "*",
      "jobId",
      "slow-1",
      "type",
      "shell",
      "payload",
      JSON.stringify({ command: "sh", args: ["-c", "sleep 1.5; echo finished"] }),
    );
    await worker.waitForEvents(
      "slow-1 started",
      (e) => e.kind === "job-started" && e.jobId === "slow-1",
    );
    const status = await worker.process.stop(15_000);
    assert.equal(status.code, 0, worker.process.logTail());
    const slow = await jobEvents(conn, "slow-1");
    assert.deepEqual(slow.map((e) => e.type), ["claimed", "start", "chunk", "end"]);
    assert.equal(await pendingCount(conn, queue), 0);
    const kinds = worker.events().map((e) => e.kind);
    assert.ok(kinds.indexOf("draining") < kinds.indexOf("stopped"));
    const result = worker.events().find((e) => e.kind === "result")!;
    assert.deepEqual(result.abandoned, []);
  } finally {
    conn.close();
    await redis.stop();
    await removeTempDir(dir);
  }
});

Deno.test("worker loop: a drain past its deadline abandons the job, leaves it pending, exits 0", async () => {
  const redis = await startRedisServer();
  const dir = await makeTempDir("worker-drain");
  const conn = await checker(redis.url);
  try {
    const queue = "jobs:v1:drain";
    const worker = startWorker("worker", `${dir}/worker.log`, {
      redisURL: redis.url,
      queues: [queue],
      workspaceDir: `${dir}/workspace`,
      drainTimeoutMs: 500,
      pollBlockMs: 500,
    });
    await worker.waitForEvents("redis-connected", (e) => e.kind === "redis-connected");
    await redis.cli(
      "XADD",
      queue,
      "*",
      "jobId",
      "long-1",
      "type",
      "shell",
      "payload",
      JSON.stringify({ command: "sleep", args: ["30"] }),
    );
    await worker.waitForEvents("long-1 started", (e) => e.kind === "job-started");
    const started = performance.now();
    const status = await worker.process.stop(15_000);
    assert.equal(status.code, 0, worker.process.logTail());
    assert.ok(performance.now() - started < 5_000, "the drain deadline held");
    const timeout = worker.events().find((e) => e.kind === "drain-timeout");
    assert.deepEqual(timeout?.abandoned, ["long-1"]);
    assert.equal(await pendingCount(conn, queue), 1, "the abandoned job stays pending");
    const types = (await jobEvents(conn, "long-1")).map((e) => e.type);
    assert.ok(!types.includes("end") && !types.includes("error"), String(types));
  } finally {
    conn.close();
    await redis.stop();
    await removeTempDir(dir);
  }
});
