import assert from "node:assert/strict";
import { jobRecordCommands } from "../../../worker/job_recorder.ts";
import { deadLetterStreamOf } from "../../../worker/job_queue.ts";
import { nodeStreamOf } from "../../../worker/job_loop.ts";

Deno.test("jobRecordCommands: an event and a status, both expiring after 24 h", () => {
  const commands = jobRecordCommands(
    {
      jobId: "j1",
      rayId: "r1",
      event: { type: "end", data: { result: { exit_code: 0 } } },
      status: { value: "completed", extra: { exit_code: 0 } },
    },
    "citadel-a",
    Date.UTC(2026, 0, 1),
  );
  assert.deepEqual(commands, [
    [
      "XADD",
      "stream:v1:j1",
      "MAXLEN",
      "~",
      10_000,
      "*",
      "version",
      "1.0",
      "type",
      "end",
      "jobId",
      "j1",
      "rayId",
      "r1",
      "timestamp",
      "2026-01-01T00:00:00.000Z",
      "data",
      '{"result":{"exit_code":0}}',
    ],
    ["EXPIRE", "stream:v1:j1", 86400],
    [
      "HSET",
      "job:j1:status",
      "status",
      "completed",
      "worker_id",
      "citadel-a",
      "updated_at",
      "2026-01-01T00:00:00.000Z",
      "exit_code",
      0,
    ],
    ["EXPIRE", "job:j1:status", 86400],
  ]);
});

Deno.test("stream names: per-node stream and dead-letter streams", () => {
  assert.equal(nodeStreamOf("acme", "7"), "jobs:v1:shell:org_acme:node:7");
  assert.equal(deadLetterStreamOf("jobs:v1:cpu-general"), "dlq:v1:cpu-general");
  // Unlike the Go original (last segment only), two orgs' node streams do not share one.
  assert.notEqual(
    deadLetterStreamOf(nodeStreamOf("a", "5")),
    deadLetterStreamOf(nodeStreamOf("b", "5")),
  );
});
