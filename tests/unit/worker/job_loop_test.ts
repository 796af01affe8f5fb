import assert from "node:assert/strict";
import { JobLoop, type JobLoopOptions } from "../../../worker/job_loop.ts";
import { WorkerConfigError, WorkerStalledError } from "../../../worker/worker_errors.ts";
import type { WorkerEvent } from "../../../worker/worker_events.ts";
import { VirtualClock } from "../network/disco/virtual_clock.ts";

const flush = () => new Promise((r) => setTimeout(r, 0));
const seeded = (n: number) => new Uint8Array(n).fill(7);

function options(clock: VirtualClock, extra: Partial<JobLoopOptions> = {}): JobLoopOptions {
  return {
    redisURL: "redis://:pw@redis.example:6379",
    dial: () => Promise.reject(new Error("connection refused")),
    clock,
    random: seeded,
    connected: () => true,
    node: () => ({ nodeName: "n", nodeId: "7", meshIPs: [] }),
    version: "0.0.0",
    queues: ["jobs:v1:q"],
    org: "acme",
    shell: { workspaceDir: "/nonexistent" },
    ...extra,
  };
}

Deno.test("job loop: Redis unreachable for 10 min fails the loop with WorkerStalledError (virtual time)", async () => {
  const clock = new VirtualClock();
  const events: WorkerEvent[] = [];
  const loop = new JobLoop(options(clock, { onEvent: (e) => events.push(e) }));
  assert.deepEqual(loop.queues, ["jobs:v1:q", "jobs:v1:shell:org_acme:node:7"]);
  assert.equal(loop.status().consumer, "citadel-07070707");
  assert.equal(loop.status().redis, "redis://:***@redis.example:6379");
  let failure: unknown = null;
  loop.run(new AbortController().signal).catch((e) => failure = e);
  let seconds = 0;
  while (failure === null && seconds < 700) {
    clock.advance(1_000);
    seconds++;
    await flush();
  }
  assert.ok(failure instanceof WorkerStalledError, String(failure));
  assert.ok(seconds > 600 && seconds <= 631, `failed after ${seconds} s`);
  assert.equal(loop.status().state, "failed");
  assert.match(loop.status().lastError ?? "", /connection refused/);
  assert.ok(events.some((e) => e.kind === "redis-error"));
});

Deno.test("job loop: waiting for the mesh is not a stall; stop resolves", async () => {
  const clock = new VirtualClock();
  const events: WorkerEvent[] = [];
  let dials = 0;
  const loop = new JobLoop(options(clock, {
    connected: () => false,
    dial: () => {
      dials++;
      return Promise.reject(new Error("unused"));
    },
    onEvent: (e) => events.push(e),
  }));
  const stop = new AbortController();
  let result: unknown = null;
  let failure: unknown = null;
  loop.run(stop.signal).then((r) => result = r, (e) => failure = e);
  for (let i = 0; i < 1200; i++) {
    clock.advance(1_000);
    await flush();
  }
  assert.equal(failure, null);
  assert.equal(dials, 0, "no Redis connection before the node is connected");
  assert.equal(loop.status().state, "waiting-for-network");
  assert.deepEqual(events, [{ kind: "waiting-for-network" }]);
  stop.abort();
  for (let i = 0; i < 5 && result === null; i++) {
    clock.advance(1_000);
    await flush();
  }
  assert.deepEqual(result, { abandoned: [] });
  assert.equal(loop.status().state, "stopped");
});

Deno.test("job loop: options are checked", () => {
  const clock = new VirtualClock();
  assert.throws(() => new JobLoop(options(clock, { queues: [], org: null })), WorkerConfigError);
  assert.throws(() => new JobLoop(options(clock, { concurrency: 0 })), WorkerConfigError);
  assert.throws(() => new JobLoop(options(clock, { maxRetries: 1.5 })), WorkerConfigError);
  assert.throws(() => new JobLoop(options(clock, { redisURL: "http://x" })), /invalid Redis URL/);
});

Deno.test("job loop: Redis reconnect waits grow to at most 30 s, jitter included (virtual time)", async () => {
  for (const fill of [0x00, 0x80, 0xff]) {
    const clock = new VirtualClock();
    const waits: number[] = [];
    const loop = new JobLoop(options(clock, {
      random: (n) => new Uint8Array(n).fill(fill),
      stallLimitMs: 60 * 60_000,
      onEvent: (e) => {
        if (e.kind === "redis-error") waits.push(e.retryInMs);
      },
    }));
    const stop = new AbortController();
    const done = loop.run(stop.signal);
    for (let i = 0; i < 600; i++) {
      clock.advance(1_000);
      await flush();
    }
    stop.abort();
    clock.advance(1_000);
    await done;
    assert.ok(waits.length >= 12, `fill ${fill}: ${waits.length} retries`);
    assert.ok(Math.max(...waits) <= 30_000, `fill ${fill}: ${waits}`);
    assert.ok(waits.at(-1)! >= 15_000, `fill ${fill}: at the cap, ${waits}`);
  }
});
