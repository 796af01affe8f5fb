import assert from "node:assert/strict";
import { systemClock } from "../../../../network/clock.ts";
import type { Job } from "../../../../worker/job.ts";
import { JobPayloadError } from "../../../../worker/job_handler.ts";
import { HttpJobHandler } from "../../../../worker/jobs/http_job.ts";
import { PingJobHandler } from "../../../../worker/jobs/ping_job.ts";

const job = (type: string, payload: Record<string, unknown>): Job => ({
  queue: "q",
  entryId: "1-0",
  jobId: "j1",
  type,
  payload,
  enqueuedAt: null,
  rayId: null,
  targetNode: null,
});
const ctx = (j: Job) => ({
  job: j,
  signal: new AbortController().signal,
  clock: systemClock,
  output: () => Promise.resolve(),
});

Deno.test("http job: through the injected fetch; any answer succeeds, body capped", async () => {
  const seen: Request[] = [];
  const handler = new HttpJobHandler({
    fetch: (request) => {
      seen.push(request);
      return Promise.resolve(new Response("x".repeat(5000), { status: 503 }));
    },
    maxBodyBytes: 100,
  });
  const j = job("http", {
    url: "http://peer-name:8080/health",
    method: "post",
    body: "hi",
    headers: { a: "b" },
  });
  const outcome = await handler.prepare(j).run(ctx(j));
  assert.equal(outcome.status, "succeeded");
  assert.equal(outcome.result?.status, 503);
  assert.equal((outcome.result?.body as string).length, 100);
  assert.equal(outcome.result?.body_truncated, true);
  assert.equal(seen[0].method, "POST");
  assert.equal(seen[0].url, "http://peer-name:8080/health");
  assert.equal(seen[0].headers.get("a"), "b");
  assert.equal(await seen[0].text(), "hi");
});

Deno.test("http job: no answer is a retryable failure; bad payloads are refused", async () => {
  const handler = new HttpJobHandler({
    fetch: () => Promise.reject(new TypeError("connection refused")),
  });
  const j = job("http", { url: "http://x/" });
  const outcome = await handler.prepare(j).run(ctx(j));
  assert.deepEqual([outcome.status, (outcome as { retryable: boolean }).retryable], [
    "failed",
    true,
  ]);
  for (
    const p of [{}, { url: "ftp://x/" }, { url: "http://x/", method: "TRACE" }, {
      url: "http://x/",
      headers: [1],
    }]
  ) {
    assert.throws(() => handler.prepare(job("http", p)), JobPayloadError);
  }
});

Deno.test("ping job: an answer succeeds, no answer fails terminally with its name", async () => {
  const handler = new PingJobHandler({
    ping: (target, options) =>
      target === "up"
        ? Promise.resolve({
          ip: "100.64.0.2",
          nodeName: "up",
          latencyMs: options.timeoutMs! / 1000,
          path: "direct",
        })
        : Promise.reject(Object.assign(new Error("no reply"), { name: "PingTimeoutError" })),
  });
  const up = job("ping", { target: "up", timeout_seconds: 2 });
  assert.deepEqual(await handler.prepare(up).run(ctx(up)), {
    status: "succeeded",
    result: { ip: "100.64.0.2", node_name: "up", latency_ms: 2, path: "direct" },
  });
  const down = job("ping", { target: "down" });
  const outcome = await handler.prepare(down).run(ctx(down));
  assert.equal(outcome.status, "failed");
  assert.equal((outcome as { retryable: boolean }).retryable, false);
  assert.equal(outcome.result?.error_name, "PingTimeoutError");
  assert.throws(() => handler.prepare(job("ping", {})), JobPayloadError);
});
