/**
 * Redis on the tailscaled host's localhost, reached by `bin/citadel work` only
 * through the mesh: real Headscale (each pinned version), a real tailscaled
 * named `redis-host` (userspace networking: TCP to its mesh IP goes to its
 * 127.0.0.1), a real redis-server on 127.0.0.1. `work` gets
 * `--redis redis://redis-host:<port>`, a name this machine cannot resolve;
 * its log and `status` must say the connection goes over the mesh to
 * tailscaled's mesh IP.
 *
 * Then: 100 `shell` jobs enqueued by `redis-cli` complete exactly once each
 * (one `end` event, one run, their output in their streams); bad jobs
 * (no jobId, a payload that is not JSON, no type, a huge payload, an unknown
 * type, a command not found, a timeout) each end with a recorded error and
 * the loop goes on; `http` jobs to a service on tailscaled's localhost
 * (`http://redis-host:<port>`, and `https://` with a certificate for
 * redis-host from the CA in `CITADEL_CA_FILE`) succeed through the mesh; two
 * real heartbeats come 30 s apart; SIGTERM exits 0.
 */
import assert from "node:assert/strict";
import { pollUntil } from "./citadel_cli.ts";
import { readPeerPins } from "./peers.ts";
import { makeTempDir, removeTempDir } from "./process.ts";
import { createTestCa } from "./test_ca.ts";
import {
  countCompletions,
  enqueueShell,
  REDIS_HOST,
  startMeshRedisStage,
} from "./work_mesh_setup.ts";
import { jobEvents, jobStatus, pendingCount, streamEntries } from "./worker_jobs_helpers.ts";

const QUEUE = "jobs:v1:mesh";
const JOBS = 100;

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name: `citadel work runs 100 shell jobs, bad jobs and http(s) jobs from a Redis reached only ` +
      `through the mesh (tailscaled's localhost), heartbeats 30 s apart, Headscale ${version}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const stage = await startMeshRedisStage(version, { label: "mesh-jobs" });
      const { redis, conn, citadel, marks, tsIP } = stage;
      const served: string[] = [];
      const service = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
        served.push(`${req.method} ${new URL(req.url).pathname} host=${req.headers.get("host")}`);
        return new Response(`hello from behind ${REDIS_HOST}`, {
          headers: { "x-served-by": "tailscaled-localhost" },
        });
      });
      // The same service over HTTPS, its certificate for redis-host from a CA work is told of.
      const caDir = await makeTempDir("mesh-jobs-ca");
      const ca = await createTestCa(caDir, { dnsNames: [REDIS_HOST] });
      const secure = Deno.serve({
        hostname: "127.0.0.1",
        port: 0,
        cert: await Deno.readTextFile(ca.certPath),
        key: await Deno.readTextFile(ca.keyPath),
        onListen() {},
      }, (req) => new Response(`secure ${new URL(req.url).pathname}`));
      const work = citadel.startWork(
        ["--redis", stage.meshURL, "--queue", QUEUE, "--concurrency", "4"],
        { env: { CITADEL_CA_FILE: ca.caCertPath } },
      );
      try {
        await work.waitOnline(60_000);
        await work.waitForLog(
          /job loop: Redis at redis-host is on the mesh \(peer redis-host\): connecting through the mesh/,
        );
        const connected = await work.waitForLog(
          /job loop: connected to (\S+) over the mesh to ([\d.]+):(\d+);/,
          60_000,
        );
        const connectedAt = performance.now();
        assert.equal(connected[1], stage.meshURL);
        assert.equal(connected[2], tsIP, "the connection goes to tailscaled's mesh IP");
        assert.equal(Number(connected[3]), redis.port);
        const { json: status } = await citadel.status();
        const worker = status.worker as unknown as Record<string, unknown>;
        assert.equal(worker.redisRoute, `mesh ${tsIP}:${redis.port}`);
        assert.equal(worker.redisConnected, true);
        assert.ok(!/ directly to /.test(work.log()), "no direct connection to Redis");

        // ---- 100 shell jobs from redis-cli, each exactly once ------------------------------------
        const ids = Array.from({ length: JOBS }, (_, i) => `m${i}`);
        const started = performance.now();
        for (let i = 0; i < ids.length; i += 10) {
          await Promise.all(
            ids.slice(i, i + 10).map((id) =>
              enqueueShell(redis, QUEUE, id, {
                command: "sh",
                args: ["-c", `echo run >> ${marks}/${id}; echo out-${id}`],
                timeout_seconds: 30,
              })
            ),
          );
        }
        await pollUntil(`${JOBS} jobs done`, () => {
          const done = work.log().match(/job m\d+ \(shell\) succeeded/g)?.length ?? 0;
          return Promise.resolve(done >= JOBS ? done : undefined);
        }, { timeoutMs: 90_000, process: work.process });
        // A job's log line comes just before its completion is written: wait for the acks.
        await pollUntil("all acked", async () => (await pendingCount(conn, QUEUE)) === 0);
        const seconds = (performance.now() - started) / 1000;
        const count = await countCompletions(conn, marks, ids);
        assert.equal(count.completed.length, JOBS);
        assert.deepEqual(count.endsNotOne, {}, "one end event each");
        assert.deepEqual(count.runsNotOne, {}, "each ran once");
        for (const id of ids) {
          const events = await jobEvents(conn, id);
          const output = events.filter((e) => e.type === "chunk").map((e) => e.data.content);
          assert.deepEqual(output, [`out-${id}\n`], `${id}: ${events.map((e) => e.type)}`);
          assert.equal((await jobStatus(conn, id)).worker_id, "citadel-mesh-worker");
        }
        assert.equal(await pendingCount(conn, QUEUE), 0);
        console.log(
          `  Headscale ${version}: ${JOBS} shell jobs over the mesh in ${seconds.toFixed(1)} s ` +
            `(${(JOBS / seconds).toFixed(1)} jobs/s, concurrency 4)`,
        );

        // ---- bad jobs: each a recorded error, and the loop goes on -------------------------------
        const bad = async (...fields: string[]) => {
          const id = await redis.cli("XADD", QUEUE, "*", ...fields);
          assert.match(id, /^\d+-\d+$/);
          return id;
        };
        const noIdEntry = await bad("type", "shell", "payload", "{}");
        await bad("jobId", "bad-json", "type", "shell", "payload", "{not json");
        await bad("jobId", "no-type", "payload", '{"command":"true"}');
        await bad("jobId", "teleport-1", "type", "teleport", "payload", "{}");
        await enqueueShell(redis, QUEUE, "no-such-cmd", { command: "no-such-command-xyz" });
        await enqueueShell(redis, QUEUE, "too-slow", {
          command: "sleep",
          args: ["10"],
          timeout_seconds: 0.5,
        });
        // Over redis-cli's argument limit: enqueued with the test's own client.
        await conn.command([
          "XADD",
          QUEUE,
          "*",
          "jobId",
          "huge",
          "type",
          "shell",
          "payload",
          JSON.stringify({ command: "echo", args: ["x".repeat(300_000)] }),
        ]);
        await enqueueShell(redis, QUEUE, "after-bad", {
          command: "sh",
          args: ["-c", `echo run >> ${marks}/after-bad; echo still going`],
        });
        await work.waitForLog(/job after-bad \(shell\) succeeded/, 30_000);
        const failure = async (id: string, pattern: RegExp) => {
          await pollUntil(
            `${id} recorded`,
            async () => (await jobStatus(conn, id)).status === "failed" || undefined,
          );
          const status = await jobStatus(conn, id);
          assert.match(status.error, pattern, id);
          const errors = (await jobEvents(conn, id)).filter((e) => e.type === "error");
          assert.equal(errors.length, 1, `${id}: one error event`);
          assert.equal(errors[0].data.recoverable, false, id);
        };
        await failure(noIdEntry, /no jobId/);
        await failure("bad-json", /not valid JSON/);
        await failure("no-type", /no type/);
        await failure("teleport-1", /unsupported job type "teleport"/);
        await failure("no-such-cmd", /command not found: no-such-command-xyz/);
        await failure("too-slow", /timed out after 0.5 s/);
        await failure("huge", /over the limit/);
        await pollUntil("all acked", async () => (await pendingCount(conn, QUEUE)) === 0);
        assert.equal((await jobStatus(conn, "after-bad")).status, "completed");

        // ---- an http job to a service on tailscaled's localhost, through the mesh ----------------
        const url = `http://${REDIS_HOST}:${service.addr.port}/through-the-mesh`;
        await redis.cli(
          "XADD",
          QUEUE,
          "*",
          "jobId",
          "http-1",
          "type",
          "http",
          "payload",
          JSON.stringify({ url, timeout_seconds: 20 }),
        );
        await work.waitForLog(/job http-1 \(http\) succeeded/, 30_000);
        await pollUntil(
          "http-1 recorded",
          async () => (await jobStatus(conn, "http-1")).status === "completed" || undefined,
        );
        const end = (await jobEvents(conn, "http-1")).find((e) => e.type === "end")!;
        const result = end.data.result as Record<string, unknown>;
        assert.equal(result.status, 200);
        assert.equal(result.body, `hello from behind ${REDIS_HOST}`);
        assert.equal(
          (result.headers as Record<string, string>)["x-served-by"],
          "tailscaled-localhost",
        );
        assert.deepEqual(served, [
          `GET /through-the-mesh host=${REDIS_HOST}:${service.addr.port}`,
        ]);
        // HTTPS through the mesh, the certificate checked for redis-host.
        await redis.cli(
          "XADD",
          QUEUE,
          "*",
          "jobId",
          "https-1",
          "type",
          "http",
          "payload",
          JSON.stringify({
            url: `https://${REDIS_HOST}:${secure.addr.port}/tls`,
            timeout_seconds: 20,
          }),
        );
        await pollUntil(
          "https-1 recorded",
          async () => (await jobStatus(conn, "https-1")).status === "completed" || undefined,
          {
            process: work.process,
          },
        );
        const secureEnd = (await jobEvents(conn, "https-1")).find((e) => e.type === "end")!;
        assert.equal((secureEnd.data.result as Record<string, unknown>).body, "secure /tls");

        // ---- real heartbeats, 30 s apart ---------------------------------------------------------
        const beats = await pollUntil("two heartbeats", async () => {
          const mine = (await streamEntries(conn, "node:status:stream"))
            .filter((b) => b.nodeId === "mesh-worker");
          return mine.length >= 2 ? mine : undefined;
        }, { timeoutMs: Math.max(5_000, 45_000 - (performance.now() - connectedAt)) });
        const [t1, t2] = beats.value.slice(0, 2).map((b) => Date.parse(b.timestamp as string));
        assert.ok(t2 - t1 >= 29_500 && t2 - t1 <= 31_500, `heartbeats ${t2 - t1} ms apart`);
        const beat = JSON.parse(beats.value[0].payload as string);
        assert.equal(beat.headscaleNodeId, String(stage.nodeId));

        assert.equal(await work.stop(), 0, work.logTail());
      } finally {
        if (work.running) await work.kill();
        await service.shutdown();
        await secure.shutdown();
        await removeTempDir(caDir);
        await stage.close();
      }
    },
  });
}
