/**
 * Exactly-once completion against a real redis-server: the completion script
 * writes a job's final record and acks in one step, and a retry of it (after
 * its reply was lost) only acks; the job loop keeps a completion Redis
 * refused with LOADING and retries it; a read whose reply was lost is taken
 * back on the reconnect instead of waiting for a claim.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../../network/clock.ts";
import { systemRandom } from "../../../network/crypto/random.ts";
import {
  completionCommand,
  FINAL_ENTRY_FIELD,
  JobLoop,
  type JobLoopOptions,
  jobRecordCommands,
  type RedisDial,
  type WorkerEvent,
} from "../../../worker/mod.ts";
import { startRedisServer } from "../../interop/redis_server.ts";
import { checker, jobEvents, jobStatus, pendingCount } from "../../interop/worker_jobs_helpers.ts";
import { lossyDial } from "./lossy_dial.ts";

Deno.test("completionCommand: one EVAL with every key in KEYS and each write counted", () => {
  const writes = jobRecordCommands(
    {
      jobId: "j1",
      rayId: null,
      event: { type: "end", data: {} },
      status: { value: "completed" },
    },
    "citadel-a",
    0,
  );
  const command = completionCommand({
    queue: "jobs:v1:q",
    group: "g",
    entryId: "1-0",
    statusKey: "job:j1:status",
    writes,
  });
  assert.equal(command[0], "EVAL");
  assert.equal(command[2], 3, "queue, status hash, event stream");
  assert.deepEqual(command.slice(3, 6), ["jobs:v1:q", "job:j1:status", "stream:v1:j1"]);
  assert.deepEqual(command.slice(6, 9), ["g", "1-0", "jobs:v1:q 1-0"]);
  // The first write: XADD on KEYS[3], its 18 arguments counted with name and key.
  assert.deepEqual(command.slice(9, 12), [writes[0].length, "XADD", 3]);
  assert.deepEqual(command.slice(12, 12 + writes[0].length - 2), writes[0].slice(2));
  assert.throws(
    () =>
      completionCommand({
        queue: "q",
        group: "g",
        entryId: "1-0",
        statusKey: "s",
        writes: [["PING"]],
      }),
    TypeError,
  );
});

Deno.test({
  name: "completion script: writes and acks once; run again, it only acks",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const redis = await startRedisServer();
    const conn = await checker(redis.url);
    try {
      await redis.cli("XGROUP", "CREATE", "jobs:v1:q", "citadel-workers", "0", "MKSTREAM");
      const entryId = await redis.cli("XADD", "jobs:v1:q", "*", "jobId", "j1", "type", "x");
      await redis.cli("XREADGROUP", "GROUP", "citadel-workers", "c", "STREAMS", "jobs:v1:q", ">");
      assert.equal(await pendingCount(conn, "jobs:v1:q"), 1);
      const command = completionCommand({
        queue: "jobs:v1:q",
        group: "citadel-workers",
        entryId,
        statusKey: "job:j1:status",
        writes: jobRecordCommands(
          {
            jobId: "j1",
            rayId: null,
            event: { type: "end", data: { result: { exit_code: 0 } } },
            status: { value: "completed", extra: { exit_code: 0 } },
          },
          "citadel-a",
          Date.UTC(2026, 0, 1),
        ),
      });
      assert.equal(await conn.command(command), 1);
      assert.equal(await pendingCount(conn, "jobs:v1:q"), 0);
      assert.equal(await conn.command(command), 0, "the second run finds the marker");
      const events = await jobEvents(conn, "j1");
      assert.deepEqual(events.map((e) => e.type), ["end"]);
      const status = await jobStatus(conn, "j1");
      assert.equal(status.status, "completed");
      assert.equal(status.exit_code, "0");
      assert.equal(status[FINAL_ENTRY_FIELD], `jobs:v1:q ${entryId}`);
      const ttl = await conn.command(["TTL", "job:j1:status"]) as number;
      assert.ok(ttl > 86_000 && ttl <= 86_400, `TTL ${ttl}`);
    } finally {
      conn.close();
      await redis.stop();
    }
  },
});

/** A job loop over `dial` with only `http` jobs, answered by a counting fake fetch. */
function httpLoop(redisURL: string, dial: RedisDial, queue: string) {
  const events: WorkerEvent[] = [];
  const fetched: string[] = [];
  const options: JobLoopOptions = {
    redisURL,
    dial,
    clock: systemClock,
    random: systemRandom,
    connected: () => true,
    node: () => ({ nodeName: "n", nodeId: null, meshIPs: [] }),
    version: "0.0.0-test",
    queues: [queue],
    consumer: "citadel-n",
    pollBlockMs: 200,
    claimMinIdleMs: 10 * 60_000,
    shell: null,
    fetch: (request) => {
      fetched.push(request.url);
      return Promise.resolve(new Response("ok"));
    },
    onEvent: (e) => events.push(e),
  };
  return { loop: new JobLoop(options), events, fetched };
}

async function until(what: string, probe: () => boolean | Promise<boolean>, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const httpJob = (id: string) => [
  "jobId",
  id,
  "type",
  "http",
  "payload",
  JSON.stringify({ url: `http://service.test/${id}` }),
];

for (
  const scenario of [
    {
      name: "the completion's reply is lost: retried after the reconnect, one end event",
      fault: {
        cutReply: (reply: string, sent: string) => sent.includes("EVAL") && reply.startsWith(":1"),
      },
      evalsSentToRedis: 2,
    },
    {
      name: "Redis answers the completion LOADING: kept, retried, completed once",
      fault: {
        refuseCommand: (command: string) =>
          command.includes("EVAL") ? "-LOADING Redis is loading the dataset in memory\r\n" : null,
      },
      evalsSentToRedis: 1,
    },
  ]
) {
  Deno.test({
    name: `job loop: ${scenario.name}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const redis = await startRedisServer();
      const conn = await checker(redis.url);
      const stop = new AbortController();
      try {
        const { dial, state } = lossyDial(scenario.fault);
        const { loop, events, fetched } = httpLoop(redis.url, dial, "jobs:v1:once");
        const running = loop.run(stop.signal);
        await until("connected", () => events.some((e) => e.kind === "redis-connected"));
        await redis.cli("XADD", "jobs:v1:once", "*", ...httpJob("h1"));
        await until("h1 acked", async () =>
          fetched.length === 1 && state.faults === 1 &&
          (await pendingCount(conn, "jobs:v1:once")) === 0);
        assert.deepEqual(fetched, ["http://service.test/h1"], "the job ran once");
        assert.equal(state.sent.split("EVAL").length - 1, scenario.evalsSentToRedis);
        const types = (await jobEvents(conn, "h1")).map((e) => e.type);
        assert.deepEqual(types, ["claimed", "start", "end"]);
        assert.equal((await jobStatus(conn, "h1")).status, "completed");
        stop.abort();
        assert.deepEqual(await running, { abandoned: [] });
      } finally {
        stop.abort();
        conn.close();
        await redis.stop();
      }
    },
  });
}

Deno.test({
  name: "job loop: a progress record lost with the connection is kept and written before the end",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const redis = await startRedisServer();
    const conn = await checker(redis.url);
    const stop = new AbortController();
    try {
      const { dial, state } = lossyDial({
        cutReply: (_reply, sent) => sent.includes("Job processing started"),
      });
      const { loop, events, fetched } = httpLoop(redis.url, dial, "jobs:v1:progress");
      const running = loop.run(stop.signal);
      await until("connected", () => events.some((e) => e.kind === "redis-connected"));
      await redis.cli("XADD", "jobs:v1:progress", "*", ...httpJob("p1"));
      await until(
        "p1 acked",
        async () => state.faults === 1 && (await pendingCount(conn, "jobs:v1:progress")) === 0,
      );
      assert.deepEqual(fetched, ["http://service.test/p1"]);
      const types = (await jobEvents(conn, "p1")).map((e) => e.type);
      // Redis ran the lost batch, and the kept copy is written again: at least once.
      assert.deepEqual(types, ["claimed", "start", "start", "end"]);
      assert.equal((await jobStatus(conn, "p1")).status, "completed", "not left at processing");
      stop.abort();
      await running;
    } finally {
      stop.abort();
      conn.close();
      await redis.stop();
    }
  },
});

Deno.test({
  name: "job loop: a read whose reply was lost is taken back on the reconnect, not after a claim",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const redis = await startRedisServer();
    const conn = await checker(redis.url);
    const stop = new AbortController();
    try {
      const { dial, state } = lossyDial({
        cutReply: (reply, sent) => sent.includes("XREADGROUP") && reply.includes("lost-read-1"),
      });
      const { loop, events, fetched } = httpLoop(redis.url, dial, "jobs:v1:lost");
      const running = loop.run(stop.signal);
      await until("connected", () => events.some((e) => e.kind === "redis-connected"));
      const started = performance.now();
      await redis.cli("XADD", "jobs:v1:lost", "*", ...httpJob("lost-read-1"));
      await until(
        "the job done",
        () => events.some((e) => e.kind === "job-finished" && e.jobId === "lost-read-1"),
      );
      const elapsed = performance.now() - started;
      assert.equal(state.faults, 1, "one read reply was lost");
      assert.ok(elapsed < 10_000, `taken back in ${elapsed} ms (the claim idle time is 10 min)`);
      assert.deepEqual(fetched, ["http://service.test/lost-read-1"]);
      const start = events.find((e) => e.kind === "job-started");
      assert.equal(start?.kind === "job-started" && start.delivery, 2, "the second delivery");
      await until("acked", async () => (await pendingCount(conn, "jobs:v1:lost")) === 0);
      const types = (await jobEvents(conn, "lost-read-1")).map((e) => e.type);
      assert.equal(types.filter((t) => t === "end").length, 1, String(types));
      stop.abort();
      await running;
    } finally {
      stop.abort();
      conn.close();
      await redis.stop();
    }
  },
});
