/**
 * How the job loop shows: its log lines (one per worker event), the worker
 * section of `status`, the `worker` JSON keys, and where the organisation
 * comes from when not given.
 */
import assert from "node:assert/strict";
import { orgFromLoginName } from "../../../cli/job_loop_settings.ts";
import { Painter } from "../../../cli/output.ts";
import { formatWorker, statusJson } from "../../../cli/status_format.ts";
import { workerEventLine } from "../../../cli/worker_event_text.ts";
import type { WorkerEvent, WorkerStatus } from "../../../worker/mod.ts";

const WORKER: WorkerStatus = {
  state: "paused",
  redis: "redis://:***@10.0.0.5:6379",
  redisConnected: false,
  redisRoute: null,
  group: "citadel-workers",
  consumer: "citadel-box",
  queues: ["jobs:v1:a", "jobs:v1:shell:org_acme:node:7"],
  jobsRunning: 2,
  jobsDone: 10,
  jobsSucceeded: 8,
  jobsFailed: 2,
  jobsDeadLettered: 1,
  jobsSkipped: 3,
  startedAt: "2026-01-01T00:00:00.000Z",
  lastPollAt: "2026-01-01T00:09:30.000Z",
  lastHeartbeatAt: null,
  lastError: "cannot connect to Redis at 10.0.0.5:6379: refused",
};

Deno.test("the worker section of status", () => {
  const lines = formatWorker(WORKER, Date.parse("2026-01-01T00:10:00.000Z"), new Painter(false));
  assert.deepEqual(lines, [
    "Worker:",
    "  State:       paused",
    "  Redis:       redis://:***@10.0.0.5:6379 (not connected)",
    "  Queues:      jobs:v1:a, jobs:v1:shell:org_acme:node:7",
    "  Consumer:    citadel-box in group citadel-workers",
    "  Jobs:        2 running, 10 done (8 ok, 2 failed), 1 dead-lettered, 3 skipped",
    "  Last poll:   30s ago",
    "  Heartbeat:   never",
    "  Last error:  cannot connect to Redis at 10.0.0.5:6379: refused",
  ]);
});

Deno.test("the worker section says how Redis is reached", () => {
  const now = Date.parse("2026-01-01T00:10:00.000Z");
  const redisLine = (route: string | null) =>
    formatWorker(
      { ...WORKER, redisConnected: true, redisRoute: route },
      now,
      new Painter(false),
    )[2];
  assert.equal(
    redisLine("mesh 100.64.0.2:6379"),
    "  Redis:       redis://:***@10.0.0.5:6379 (connected, over the mesh to 100.64.0.2:6379)",
  );
  assert.equal(
    redisLine("direct 10.0.0.5:6379"),
    "  Redis:       redis://:***@10.0.0.5:6379 (connected, directly to 10.0.0.5:6379)",
  );
  assert.equal(redisLine(null), "  Redis:       redis://:***@10.0.0.5:6379 (connected)");
});

Deno.test("status JSON: nodeId and worker keys in their documented order", () => {
  const base = {
    connected: true,
    nodeName: "box",
    nodeId: 7,
    nodeIP: "100.64.0.5",
    nodeIPv6: null,
    nexus: "https://n",
    keyExpiry: null,
    peers: [],
  };
  const json = statusJson({ ...base, worker: { ...WORKER, extra: 1 } as WorkerStatus });
  assert.deepEqual(Object.keys(json), [...Object.keys(base), "worker", "dataPlane"]);
  assert.deepEqual(json.worker, WORKER, "only the documented worker keys");
  assert.deepEqual(Object.keys(json.worker!), Object.keys(WORKER));
  assert.equal(statusJson(base).worker, null);
});

Deno.test("every worker event has a log line at the right level", () => {
  const events: Array<[WorkerEvent, "info" | "warn" | "debug", RegExp]> = [
    [{ kind: "waiting-for-network" }, "info", /waiting for the node to be connected/],
    [
      {
        kind: "redis-connected",
        redis: "redis://h",
        queues: ["q1", "q2"],
        group: "g",
        consumer: "c",
      },
      "info",
      /^job loop: connected to redis:\/\/h; reading q1, q2 as c in group g$/,
    ],
    [
      {
        kind: "redis-connected",
        redis: "redis://redis-host:6379",
        route: "mesh 100.64.0.2:6379",
        queues: ["q1"],
        group: "g",
        consumer: "c",
      },
      "info",
      /^job loop: connected to redis:\/\/redis-host:6379 over the mesh to 100\.64\.0\.2:6379; reading q1/,
    ],
    [
      { kind: "redis-error", error: new Error("refused"), retryInMs: 2_000 },
      "warn",
      /^job loop: Redis: refused; retrying in 2s$/,
    ],
    [{ kind: "paused", reason: "offline" }, "warn", /^job loop paused: offline$/],
    [{ kind: "resumed" }, "info", /^job loop resumed$/],
    [
      { kind: "job-started", jobId: "j", type: "shell", queue: "q", delivery: 2 },
      "info",
      /^job j \(shell\) started from q, delivery 2$/,
    ],
    [
      { kind: "job-finished", jobId: "j", type: "shell", status: "succeeded", durationMs: 12.7 },
      "info",
      /^job j \(shell\) succeeded in 13ms$/,
    ],
    [
      {
        kind: "job-finished",
        jobId: "j",
        type: "http",
        status: "retrying",
        durationMs: 1500,
        error: "reset",
      },
      "warn",
      /^job j \(http\) failed \(to be retried\) in 2s: reset$/,
    ],
    [{ kind: "job-skipped", jobId: "j", targetNode: "9" }, "info", /skipped: it is for node 9/],
    [
      { kind: "job-dead-lettered", jobId: "j", queue: "q", deliveries: 3, to: "dlq:v1:q" },
      "warn",
      /^job j moved to dlq:v1:q after 3 deliveries from q$/,
    ],
    [{ kind: "heartbeat", ok: true }, "debug", /heartbeat written/],
    [{ kind: "heartbeat", ok: false, error: "OOM" }, "warn", /heartbeat failed: OOM/],
    [{ kind: "warning", message: "w" }, "warn", /^job loop: w$/],
    [{ kind: "draining", running: 1 }, "info", /waiting for 1 running job$/],
    [{ kind: "drain-timeout", abandoned: ["a", "b"] }, "warn", /left a, b pending/],
    [{ kind: "stopped" }, "info", /^job loop stopped$/],
  ];
  for (const [event, level, text] of events) {
    const line = workerEventLine(event);
    assert.equal(line.level, level, event.kind);
    assert.match(line.text, text, event.kind);
  }
});

Deno.test("the organisation from a Nexus user name org_<id>", () => {
  assert.equal(orgFromLoginName("org_acme"), "acme");
  assert.equal(orgFromLoginName("org_a.b-c_9"), "a.b-c_9");
  assert.equal(orgFromLoginName("alice@example.com"), null);
  assert.equal(orgFromLoginName("org_"), null);
  assert.equal(orgFromLoginName("org_a b"), null);
  assert.equal(orgFromLoginName(null), null);
});
