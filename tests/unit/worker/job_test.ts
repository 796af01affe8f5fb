import assert from "node:assert/strict";
import { parseJobEntry } from "../../../worker/job.ts";
import { RespOversized } from "../../../worker/redis/resp.ts";
import type { StreamFieldValue } from "../../../worker/redis/stream_replies.ts";

const entry = (fields: Record<string, StreamFieldValue>) => ({
  id: "1700000000000-0",
  fields: new Map(Object.entries(fields)),
});

Deno.test("parseJobEntry: the Go original's fields", () => {
  const r = parseJobEntry(
    "jobs:v1:cpu-general",
    entry({
      jobId: "j-1",
      type: "shell",
      payload: '{"command":"echo","target_node":42}',
      enqueuedAt: "2026-01-01T00:00:00Z",
      rayId: "ray",
    }),
  );
  assert.ok(r.ok);
  assert.deepEqual(r.job, {
    queue: "jobs:v1:cpu-general",
    entryId: "1700000000000-0",
    jobId: "j-1",
    type: "shell",
    payload: { command: "echo", target_node: 42 },
    enqueuedAt: "2026-01-01T00:00:00Z",
    rayId: "ray",
    targetNode: "42",
  });
  // The type may come from the payload, as in the Go original.
  const fromPayload = parseJobEntry("q", entry({ jobId: "j", payload: '{"type":"ping"}' }));
  assert.ok(fromPayload.ok && fromPayload.job.type === "ping");
});

Deno.test("parseJobEntry: every problem is a reason, never a throw", () => {
  const cases: [Record<string, StreamFieldValue>, RegExp, string][] = [
    [{ type: "shell" }, /no jobId/, "1700000000000-0"],
    [{ jobId: "bad id with spaces", type: "shell" }, /not a valid id/, "1700000000000-0"],
    [{ jobId: "j", type: "shell", payload: "[1]" }, /not a JSON object/, "j"],
    [{ jobId: "j", type: "shell", payload: "{" }, /not valid JSON/, "j"],
    [{ jobId: "j", payload: "{}" }, /no type/, "j"],
    [{ jobId: "j", type: "shell", payload: '{"target_node":true}' }, /target_node/, "j"],
    [{ jobId: "j", type: "shell", payload: new RespOversized(1 << 30) }, /1073741824 bytes/, "j"],
    [
      { jobId: "j", type: "shell", payload: `{"a":"${"x".repeat(300)}"}` },
      /over the limit of 100/,
      "j",
    ],
  ];
  for (const [fields, reason, jobId] of cases) {
    const r = parseJobEntry("q", entry(fields), 100);
    assert.ok(!r.ok, JSON.stringify(fields).slice(0, 80));
    assert.match(r.reason, reason);
    assert.equal(r.jobId, jobId);
  }
});
