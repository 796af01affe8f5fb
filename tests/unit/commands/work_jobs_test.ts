/**
 * `citadel work`'s job loop wiring: options and environment, the real job
 * loop against a real redis-server (Debian's, started on 127.0.0.1 by the
 * interop harness) with a fake network, the worker section of `status`, the
 * pause while disconnected, a Redis and http jobs on a mesh peer going through
 * the mesh dial, and the watchdog's exit code in virtual time.
 */
import assert from "node:assert/strict";
import type { CliDependencies } from "../../../cli/dependencies.ts";
import { runCli } from "../../../cli/dispatch.ts";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { COMMANDS } from "../../../commands/mod.ts";
import { dialTcp } from "../../../worker/mod.ts";
import { FileStateStore, inspectInstanceLock, newNodeState } from "../../../state/mod.ts";
import { startRedisServer } from "../../interop/redis_server.ts";
import {
  checker,
  jobEvents,
  jobStatus,
  pendingCount,
  streamEntries,
} from "../../interop/worker_jobs_helpers.ts";
import { VirtualClock } from "../network/disco/virtual_clock.ts";
import {
  FakeIO,
  FakeNetwork,
  run,
  waitFor,
  withStateDir,
  writeRegisteredState,
} from "../cli/fake_cli.ts";

const PASSWORD = "work-test-redis-password-42";
const shell = (command: string, ...args: string[]) =>
  JSON.stringify({ command, args, timeout_seconds: 20 });

function runWith(io: FakeIO, args: string[], deps: CliDependencies): Promise<number> {
  return runCli(args, COMMANDS, io, deps);
}

async function poll<T>(probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out polling");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function envFor(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { CITADEL_STATE_DIR: dir, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...extra };
}

Deno.test({
  name:
    "work --redis runs jobs from its queues and its per-node stream, shows them in status, drains on SIGTERM",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const redis = await startRedisServer({ password: PASSWORD });
    const conn = await checker(redis.url);
    try {
      await withStateDir(async (dir) => {
        await writeRegisteredState(dir, "https://nexus.test");
        const io = new FakeIO({ envVars: envFor(dir) });
        const network = new FakeNetwork();
        const running = run(
          ["work", "--redis", redis.url, "--queue", "jobs:v1:unit", "--org", "acme"],
          io,
          network,
        );
        await waitFor(() => io.out.includes("job loop: connected"), 15_000);
        assert.match(
          io.out,
          /ready: job loop on redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/?, queues jobs:v1:unit, jobs:v1:shell:org_acme:node:7, 1 at once/,
        );
        await redis.cli(
          "XADD",
          "jobs:v1:unit",
          "*",
          "jobId",
          "u1",
          "type",
          "shell",
          "payload",
          shell("echo", "hello from u1"),
        );
        await redis.cli(
          "XADD",
          "jobs:v1:shell:org_acme:node:7",
          "*",
          "jobId",
          "u2",
          "type",
          "shell",
          "payload",
          shell("sh", "-c", "echo to-stderr >&2; exit 3"),
        );
        await waitFor(
          () => /job u1 \(shell\) succeeded/.test(io.out) && /job u2 \(shell\) failed/.test(io.err),
          15_000,
        );
        const u1 = await jobEvents(conn, "u1");
        assert.deepEqual(u1.map((e) => e.type), ["claimed", "start", "chunk", "end"]);
        assert.match(JSON.stringify(u1[2].data), /hello from u1/);
        assert.equal((await jobStatus(conn, "u1")).worker_id, "citadel-box");
        const u2 = await jobStatus(conn, "u2");
        assert.equal(u2.status, "failed");
        assert.equal(u2.exit_code, "3");

        // The heartbeat names the node, its Nexus id and mesh IPs.
        const beats = await poll(async () => {
          const entries = await streamEntries(conn, "node:status:stream");
          return entries.length > 0 ? entries : undefined;
        });
        const beat = JSON.parse(beats[0].payload as string);
        assert.equal(beat.nodeId, "box");
        assert.equal(beat.headscaleNodeId, "7");
        assert.deepEqual(beat.status.node.mesh_ips, ["100.64.0.5", "fd7a:115c:a1e0::5"]);

        // status asks the running work: the worker section.
        const statusIO = new FakeIO({ envVars: envFor(dir) });
        assert.equal((await run(["status", "--json"], statusIO, new FakeNetwork())).code, 0);
        const status = JSON.parse(statusIO.out);
        assert.equal(status.nodeId, 7);
        assert.equal(status.worker.state, "running");
        assert.equal(status.worker.consumer, "citadel-box");
        assert.equal(status.worker.group, "citadel-workers");
        assert.equal(status.worker.jobsDone, 2);
        assert.equal(status.worker.jobsSucceeded, 1);
        assert.equal(status.worker.jobsFailed, 1);
        assert.deepEqual(status.worker.queues, ["jobs:v1:unit", "jobs:v1:shell:org_acme:node:7"]);
        assert.ok(!statusIO.out.includes(PASSWORD));
        const humanIO = new FakeIO({ envVars: envFor(dir) });
        await run(["status"], humanIO, new FakeNetwork());
        assert.match(humanIO.out, /^Worker:\n {2}State: +running$/m);
        assert.match(humanIO.out, /^ {2}Jobs: +0 running, 2 done \(1 ok, 1 failed\)/m);

        // A job that runs when SIGTERM comes is let finish.
        await redis.cli(
          "XADD",
          "jobs:v1:unit",
          "*",
          "jobId",
          "u3",
          "type",
          "shell",
          "payload",
          shell("sh", "-c", "sleep 1; echo late"),
        );
        await waitFor(() => io.out.includes("job u3 (shell) started"), 10_000);
        io.raise("SIGTERM");
        const { code } = await running;
        assert.equal(code, ExitCode.OK, io.err);
        assert.match(io.out, /job loop: draining, waiting for 1 running job\n/);
        assert.match(io.out, /job u3 \(shell\) succeeded/);
        assert.match(io.out, /job loop stopped\n/);
        assert.equal((await jobStatus(conn, "u3")).status, "completed");
        assert.ok(!io.all.includes(PASSWORD), "the Redis password is never printed");
        assert.equal(network.disconnects, 1);
        assert.equal((await inspectInstanceLock(dir)).held, false);
      });
    } finally {
      conn.close();
      await redis.stop();
    }
  },
});

Deno.test({
  name:
    "work's job loop is configured by the environment alone (a container), and refuses shell jobs on request",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const redis = await startRedisServer();
    const conn = await checker(redis.url);
    try {
      await withStateDir(async (dir) => {
        await writeRegisteredState(dir);
        const io = new FakeIO({
          envVars: envFor(dir, {
            CITADEL_REDIS_URL: redis.url,
            CITADEL_QUEUES: "jobs:v1:a, jobs:v1:b",
            CITADEL_CONCURRENCY: "2",
            CITADEL_MAX_RETRIES: "5",
            CITADEL_NO_SHELL_JOBS: "true",
          }),
        });
        const running = run(["work"], io, new FakeNetwork());
        await waitFor(() => io.out.includes("job loop: connected"), 15_000);
        assert.match(
          io.out,
          /ready: job loop on redis:\/\/127\.0\.0\.1:\d+\/?, queues jobs:v1:a, jobs:v1:b, 2 at once, shell jobs refused/,
        );
        assert.match(io.err, /no per-node stream: the organisation is unknown/);
        await redis.cli(
          "XADD",
          "jobs:v1:b",
          "*",
          "jobId",
          "s1",
          "type",
          "shell",
          "payload",
          shell("echo", "no"),
        );
        await waitFor(
          () => /job s1 \(shell\) failed in \d+ms: unsupported job type "shell"/.test(io.err),
          10_000,
        );
        assert.equal((await jobStatus(conn, "s1")).status, "failed");
        io.raise("SIGTERM");
        assert.equal((await running).code, ExitCode.OK, io.err);
      });
    } finally {
      conn.close();
      await redis.stop();
    }
  },
});

Deno.test({
  name: "work's job loop pauses while the node is disconnected and resumes when it is back",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const redis = await startRedisServer();
    const conn = await checker(redis.url);
    try {
      await withStateDir(async (dir) => {
        await writeRegisteredState(dir);
        const io = new FakeIO({ envVars: envFor(dir) });
        const network = new FakeNetwork();
        let online = true;
        network.isGlobalConnected = () => online;
        const running = run(["work", "--redis", redis.url, "--queue", "jobs:v1:p"], io, network);
        await waitFor(() => io.out.includes("job loop: connected"), 15_000);
        online = false;
        await waitFor(() => io.err.includes("job loop paused: the node is not connected"), 10_000);
        await redis.cli(
          "XADD",
          "jobs:v1:p",
          "*",
          "jobId",
          "p1",
          "type",
          "shell",
          "payload",
          shell("echo", "p"),
        );
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        assert.ok(!io.out.includes("job p1"), "nothing is read while disconnected");
        assert.deepEqual(await jobStatus(conn, "p1"), {});
        online = true;
        await waitFor(() => io.out.includes("job p1 (shell) succeeded"), 10_000);
        assert.match(io.out, /job loop resumed\n/);
        io.raise("SIGTERM");
        assert.equal((await running).code, ExitCode.OK, io.err);
      });
    } finally {
      conn.close();
      await redis.stop();
    }
  },
});

Deno.test({
  name:
    "SIGTERM with a job that outlasts the drain: work leaves it pending and still exits 0 in time",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const redis = await startRedisServer();
    const conn = await checker(redis.url);
    try {
      await withStateDir(async (dir) => {
        await writeRegisteredState(dir);
        const io = new FakeIO({ envVars: envFor(dir) });
        const running = run(["work", "--redis", redis.url, "--queue", "jobs:v1:long"], io);
        await waitFor(() => io.out.includes("job loop: connected"), 15_000);
        await redis.cli(
          "XADD",
          "jobs:v1:long",
          "*",
          "jobId",
          "long-1",
          "type",
          "shell",
          "payload",
          shell("sleep", "30"),
        );
        await waitFor(() => io.out.includes("job long-1 (shell) started"), 10_000);
        const stopped = performance.now();
        io.raise("SIGTERM");
        const { code } = await running;
        const tookMs = performance.now() - stopped;
        assert.equal(code, ExitCode.OK, io.err);
        assert.ok(tookMs < 10_000, `within work's 10 s shutdown (${Math.round(tookMs)} ms)`);
        assert.match(io.err, /job loop: drain time is up; left long-1 pending for another run/);
        assert.match(io.err, /left 1 job\(s\) for another run/);
        assert.equal(
          await pendingCount(conn, "jobs:v1:long"),
          1,
          "not acked: delivered again later",
        );
      });
    } finally {
      conn.close();
      await redis.stop();
    }
  },
});

Deno.test("work takes the organisation from a Nexus user named org_<id>", async () => {
  await withStateDir(async (dir) => {
    const store = await FileStateStore.open({ dir });
    const state = newNodeState({ controlURL: "https://nexus.test" });
    state.login = {
      userId: 3,
      loginName: "org_acme-2",
      displayName: "",
      nodeId: 7,
      nodeName: "box",
      addresses: { v4: "100.64.0.5" },
      keyExpiry: null,
    };
    await store.save(state);
    const io = new FakeIO({ envVars: envFor(dir) });
    // Nothing listens on port 1: the loop only has to say what it reads.
    const running = run(["work", "--redis", "redis://127.0.0.1:1"], io, new FakeNetwork());
    await waitFor(() => io.out.includes("ready:"), 10_000);
    assert.match(io.out, /queues jobs:v1:shell:org_acme-2:node:7,/);
    io.raise("SIGTERM");
    assert.equal((await running).code, ExitCode.OK, io.err);
  });
});

Deno.test("work --env-file: settings from a 0600 file, under the environment; others' files refused", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const file = `${dir}-settings.env`;
    await Deno.writeTextFile(
      file,
      "# settings\nCITADEL_REDIS_URL='redis://:pass word@127.0.0.1:1'\nCITADEL_QUEUES=jobs:v1:f\n",
    );
    try {
      await Deno.chmod(file, 0o644);
      const refused = await run(["work", "--env-file", file], new FakeIO({ envVars: envFor(dir) }));
      assert.equal(refused.code, ExitCode.USAGE);
      assert.match(refused.io.err, /refusing to read .*: others can read it \(mode 644\)/);
      await Deno.chmod(file, 0o600);
      const io = new FakeIO({ envVars: envFor(dir, { CITADEL_QUEUES: "jobs:v1:from-env" }) });
      const running = run(["work", "--env-file", file], io, new FakeNetwork());
      await waitFor(() => io.out.includes("ready:"), 10_000);
      assert.match(
        io.out,
        /job loop on redis:\/\/:\*\*\*@127\.0\.0\.1:1\/?, queues jobs:v1:from-env,/,
      );
      assert.ok(!io.all.includes("pass word") && !io.all.includes("pass%20word"));
      io.raise("SIGTERM");
      assert.equal((await running).code, ExitCode.OK, io.err);
      await Deno.writeTextFile(file, "CITADEL_REDIS_URL=redis://127.0.0.1:1\nCITADEL_TYPO=1\n");
      const typo = await run(["work", "--env-file", file], new FakeIO({ envVars: envFor(dir) }));
      assert.equal(typo.code, ExitCode.USAGE);
      assert.match(typo.io.err, /CITADEL_TYPO is not a variable citadel reads/);
    } finally {
      await Deno.remove(file).catch(() => {});
    }
  });
});

Deno.test("work's job loop options are checked before anything connects", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [["--queue", "q"], {}, /--queue is an option of the job loop, which needs --redis/],
      [["--redis", "http://127.0.0.1:6379"], {}, /must start with redis:\/\//],
      [["--redis", "redis://:hunter2hunter2@127.0.0.1:bad"], {}, /bad port|not a URL/],
      [
        ["--redis", "redis://127.0.0.1", "--concurrency", "0"],
        {},
        /--concurrency must be a whole number from 1 to 256/,
      ],
      [
        ["--redis", "redis://127.0.0.1", "--max-retries", "x"],
        {},
        /--max-retries must be a whole number/,
      ],
      [["--redis", "redis://127.0.0.1", "--org", "a b"], {}, /bad organisation id 'a b'/],
      [["--redis", "redis://127.0.0.1", "--queue", "has space"], {}, /bad queue name 'has space'/],
      [
        [],
        { CITADEL_REDIS_URL: "redis://127.0.0.1", CITADEL_NO_SHELL_JOBS: "maybe" },
        /CITADEL_NO_SHELL_JOBS must be/,
      ],
    ];
    for (const [args, env, message] of cases) {
      const { code, io, network } = await run(
        ["work", ...args],
        new FakeIO({ envVars: envFor(dir, env) }),
      );
      assert.equal(code, ExitCode.USAGE, `${args.join(" ")}: ${io.err}`);
      assert.match(io.err, message);
      assert.equal(network.connectCalls.length, 0, "nothing connected");
      assert.ok(!io.all.includes("hunter2hunter2"), "no password in errors");
    }
  });
});

Deno.test({
  name:
    "work reaches a Redis on a mesh peer through the mesh dial, and sends http jobs to peers over it too",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const redis = await startRedisServer();
    const conn = await checker(redis.url);
    // A service "behind" peer-a: the fake mesh dial connects to it on 127.0.0.1.
    const service = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) =>
        new Response(`service saw ${new URL(req.url).pathname} as ${req.headers.get("host")}`),
    );
    try {
      for (const host of ["peer-a", "100.64.0.6", "PEER-A.tailnet.example"]) {
        await withStateDir(async (dir) => {
          await writeRegisteredState(dir);
          const meshDials: string[] = [];
          const directDials: string[] = [];
          const deps: CliDependencies = {
            network: new FakeNetwork(),
            redisDial: {
              direct: (h, port, signal) => {
                directDials.push(`${h}:${port}`);
                return dialTcp(h, port, signal);
              },
              mesh: async (h, port, signal) => {
                meshDials.push(`${h}:${port}`);
                const target = port === service.addr.port ? service.addr.port : redis.port;
                const stream = await dialTcp("127.0.0.1", target, signal);
                return { ...stream, route: `mesh 100.64.0.6:${port}` };
              },
            },
          };
          const io = new FakeIO({ envVars: envFor(dir) });
          const running = runWith(
            io,
            ["work", "--redis", `redis://${host}:${redis.port}`, "--queue", "jobs:v1:mesh"],
            deps,
          );
          await waitFor(() => io.out.includes("job loop: connected"), 15_000);
          assert.match(
            io.out,
            /job loop: Redis at \S+ is on the mesh \(peer peer-a\): connecting through the mesh/,
          );
          assert.match(
            io.out,
            new RegExp(
              `job loop: connected to redis://\\S+ over the mesh to 100\\.64\\.0\\.6:${redis.port};`,
            ),
          );
          assert.deepEqual(directDials, [], `${host}: nothing dialled directly`);
          assert.deepEqual(meshDials, [`${host}:${redis.port}`, `${host}:${redis.port}`]);

          // http jobs: to a peer over the mesh dial, to anything else through fetch.
          const job = (id: string, url: string) =>
            redis.cli(
              "XADD",
              "jobs:v1:mesh",
              "*",
              "jobId",
              id,
              "type",
              "http",
              "payload",
              JSON.stringify({ url }),
            );
          const port = service.addr.port;
          await job(`m-${host}`, `http://peer-a:${port}/via-mesh`);
          await job(`d-${host}`, `http://127.0.0.1:${port}/direct`);
          await waitFor(
            () =>
              io.out.includes(`job m-${host} (http) succeeded`) &&
              io.out.includes(`job d-${host} (http) succeeded`),
            15_000,
          );
          const result = async (id: string) => {
            const end = (await jobEvents(conn, id)).find((e) => e.type === "end")!;
            return end.data.result as { status: number; body: string };
          };
          const viaMesh = await result(`m-${host}`);
          assert.equal(viaMesh.status, 200);
          assert.equal(viaMesh.body, `service saw /via-mesh as peer-a:${port}`);
          assert.ok(meshDials.includes(`peer-a:${port}`), String(meshDials));
          assert.equal(
            (await result(`d-${host}`)).body,
            `service saw /direct as 127.0.0.1:${port}`,
          );
          assert.ok(!meshDials.includes(`127.0.0.1:${port}`));
          assert.deepEqual(directDials, [], "fetch, not the direct dial, takes non-mesh URLs");

          // status shows the route.
          const statusIO = new FakeIO({ envVars: envFor(dir) });
          assert.equal((await run(["status", "--json"], statusIO, new FakeNetwork())).code, 0);
          assert.equal(JSON.parse(statusIO.out).worker.redisRoute, `mesh 100.64.0.6:${redis.port}`);
          const humanIO = new FakeIO({ envVars: envFor(dir) });
          await run(["status"], humanIO, new FakeNetwork());
          assert.match(
            humanIO.out,
            new RegExp(
              `Redis: +\\S+ \\(connected, over the mesh to 100\\.64\\.0\\.6:${redis.port}\\)`,
            ),
          );
          io.raise("SIGTERM");
          assert.equal(await running, ExitCode.OK, io.err);
        });
      }
    } finally {
      await service.shutdown();
      conn.close();
      await redis.stop();
    }
  },
});

Deno.test("an address in the mesh ranges is never dialled directly, even when no peer holds it", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const clock = new VirtualClock();
    const io = new FakeIO({ envVars: envFor(dir) });
    io.clock = clock;
    const tried: string[] = [];
    const running = runWith(io, ["work", "--redis", "redis://100.64.9.9:6379", "--queue", "q"], {
      network: new FakeNetwork(),
      redisDial: {
        direct: (h) => {
          tried.push(`direct ${h}`);
          return Promise.reject(new Error("unexpected"));
        },
        mesh: (h) => {
          tried.push(`mesh ${h}`);
          return Promise.reject(
            Object.assign(new Error(`no peer has ${h}`), { name: "PeerNotFoundError" }),
          );
        },
      },
    });
    await waitFor(() => io.err.includes("no peer has 100.64.9.9"), 10_000);
    io.raise("SIGTERM");
    for (let i = 0; i < 50 && !io.out.includes("stopping"); i++) {
      clock.advance(1_000);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.equal(await running, ExitCode.OK, io.err);
    assert.ok(tried.length >= 1 && tried.every((t) => t === "mesh 100.64.9.9"), String(tried));
    assert.match(io.out, /job loop: Redis at 100\.64\.9\.9 is on the mesh: connecting through/);
  });
});

Deno.test("a job loop that cannot poll for 10 minutes makes work exit WORKER_WATCHDOG (virtual time)", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const clock = new VirtualClock();
    const io = new FakeIO({ envVars: envFor(dir) });
    io.clock = clock;
    let dials = 0;
    const running = runWith(io, ["work", "--redis", "redis://10.9.9.9:6379", "--queue", "q"], {
      network: new FakeNetwork(),
      redisDial: {
        direct: () => {
          dials++;
          return Promise.reject(new Error("connection refused"));
        },
        mesh: () => Promise.reject(new Error("no mesh here")),
      },
    });
    await waitFor(() => io.out.includes("ready:"), 10_000);
    let code: number | null = null;
    running.then((c) => code = c);
    for (let i = 0; i < 24 * 60 && code === null; i++) {
      clock.advance(1_000);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.equal(code, ExitCode.WORKER_WATCHDOG, io.err);
    assert.ok(dials > 5, `it kept retrying (${dials} dials)`);
    assert.match(
      io.err,
      /the job loop's watchdog fired: no successful poll of the job queues for \d+ s/,
    );
    assert.match(
      io.err,
      /citadel: no successful poll of the job queues for \d+ s \(last error: .*connection refused\)/,
    );
    assert.equal((await inspectInstanceLock(dir)).held, false);
  });
});
