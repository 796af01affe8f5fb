import assert from "node:assert/strict";
import { checkWatchdog } from "../../../worker/watchdog.ts";
import { JobStuckError, WorkerStalledError } from "../../../worker/worker_errors.ts";

const base = { stallLimitMs: 600_000, stuckGraceMs: 60_000, lastError: "boom", jobs: [] };

Deno.test("watchdog: a stall past 10 min fails, not before", () => {
  assert.equal(checkWatchdog({ ...base, nowMs: 600_000, pollReferenceMs: 0 }), null);
  const e = checkWatchdog({ ...base, nowMs: 600_001, pollReferenceMs: 0 });
  assert.ok(e instanceof WorkerStalledError);
  assert.match(e.message, /600 s.*boom/);
});

Deno.test("watchdog: a job past its limit plus the grace fails", () => {
  const jobs = [{ jobId: "j", startedMs: 1_000, limitMs: 30_000 }];
  assert.equal(checkWatchdog({ ...base, jobs, nowMs: 91_000, pollReferenceMs: 91_000 }), null);
  const e = checkWatchdog({ ...base, jobs, nowMs: 91_001, pollReferenceMs: 91_000 });
  assert.ok(e instanceof JobStuckError);
  assert.equal(e.jobId, "j");
});
