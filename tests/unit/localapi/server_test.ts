import assert from "node:assert/strict";
import type { WorkerStatus } from "../../../worker/mod.ts";
import { LocalApiError, UnsafeDirectoryError } from "../../../localapi/errors.ts";
import { queryLocalStatus } from "../../../localapi/client.ts";
import { LOCAL_API_MAX_PINGS_IN_FLIGHT, localApiSocketPath } from "../../../localapi/protocol.ts";
import {
  checkSocketDirectory,
  localApiHandler as takeoverHandler,
  startLocalApi,
} from "../../../localapi/server.ts";
import { type NodeStatus, PeerNotFoundError, PingTimeoutError } from "../../../network/mod.ts";
import { STATUS, withDir } from "./local_api_fixture.ts";

/** The handler for routes that answer with a Response (all but /dial and /expose). */
function localApiHandler(
  options: Parameters<typeof takeoverHandler>[0],
): (request: Request) => Promise<Response> {
  const handle = takeoverHandler(options);
  return async (request) => {
    const answer = await handle(request);
    assert.ok(answer instanceof Response, "a Response, not a takeover");
    return answer;
  };
}

Deno.test("local API round trip over a real Unix socket", async () => {
  await withDir(async (dir) => {
    let current: NodeStatus | null = STATUS;
    const server = await startLocalApi({
      stateDir: dir,
      nexus: "https://nexus.test",
      status: () => current,
    });
    assert.ok(server);
    try {
      assert.equal(server.path, localApiSocketPath(dir));
      const info = await Deno.lstat(server.path);
      assert.ok(info.isSocket);
      assert.equal(info.mode! & 0o777, 0o600);
      assert.deepEqual(await queryLocalStatus(server.path), {
        ...STATUS,
        worker: null,
        localApi: { connections: 1, takeovers: 0 }, // this request is the one connection
      });
      current = null; // the node has no status yet: reported as disconnected
      const empty = await queryLocalStatus(server.path);
      assert.equal(empty?.connected, false);
      assert.equal(empty?.nexus, "https://nexus.test");
    } finally {
      await server.close();
    }
    await assert.rejects(Deno.lstat(server.path), Deno.errors.NotFound, "socket removed");
    assert.equal(await queryLocalStatus(server.path), null, "not running after close");
    await server.close(); // idempotent
  });
});

Deno.test("a second server on the same directory is refused", async () => {
  await withDir(async (dir) => {
    const first = await startLocalApi({ stateDir: dir, nexus: "n", status: () => STATUS });
    try {
      await assert.rejects(
        startLocalApi({ stateDir: dir, nexus: "n", status: () => STATUS }),
        (e: Error) => e.name === "LocalApiError" && /already serves/.test(e.message),
      );
      assert.equal((await queryLocalStatus(first!.path))?.nodeName, "box", "first still serves");
    } finally {
      await first!.close();
    }
  });
});

Deno.test("the server refuses a directory others can read, write or enter, and a non-socket file", async () => {
  await withDir(async (dir) => {
    for (const mode of [0o777, 0o755, 0o750, 0o705, 0o701, 0o740, 0o710]) {
      await Deno.chmod(dir, mode);
      await assert.rejects(
        startLocalApi({ stateDir: dir, nexus: "n", status: () => STATUS }),
        (e: Error) =>
          e instanceof UnsafeDirectoryError && e.path === dir &&
          e.message.includes(`mode ${mode.toString(8)}`) &&
          e.hint === `Make it private: chmod 700 ${dir}`,
        `mode ${mode.toString(8)}`,
      );
      assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing created");
    }
    await Deno.chmod(dir, 0o700);
    await Deno.writeTextFile(localApiSocketPath(dir), "not a socket");
    await assert.rejects(
      startLocalApi({ stateDir: dir, nexus: "n", status: () => STATUS }),
      (e: Error) => e instanceof LocalApiError && /not a socket/.test(e.message),
    );
    assert.equal(await Deno.readTextFile(localApiSocketPath(dir)), "not a socket", "left alone");
  });
});

Deno.test("handler: 404 for other paths, 405 for other methods", async () => {
  const handle = localApiHandler({ nexus: "n", status: () => STATUS });
  const notFound = await handle(new Request("http://citadel/nope"));
  assert.equal(notFound.status, 404);
  assert.deepEqual(await notFound.json(), { error: "not found" });
  const wrongMethod = await handle(new Request("http://citadel/status", { method: "POST" }));
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get("allow"), "GET");
  await wrongMethod.body?.cancel();
  const ok = await handle(new Request("http://citadel/status"));
  assert.equal(ok.headers.get("content-type"), "application/json");
  assert.deepEqual(await ok.json(), { ...STATUS, worker: null });
});

Deno.test("handler: GET /status carries the job loop's status when work runs one", async () => {
  const worker: WorkerStatus = {
    state: "running",
    redis: "redis://:***@127.0.0.1:6379",
    redisConnected: true,
    redisRoute: "direct 127.0.0.1:6379",
    group: "citadel-workers",
    consumer: "citadel-box",
    queues: ["jobs:v1:cpu-general"],
    jobsRunning: 1,
    jobsDone: 4,
    jobsSucceeded: 3,
    jobsFailed: 1,
    jobsDeadLettered: 0,
    jobsSkipped: 0,
    startedAt: "2026-01-01T00:00:00.000Z",
    lastPollAt: "2026-01-01T00:01:00.000Z",
    lastHeartbeatAt: null,
    lastError: null,
  };
  const handle = localApiHandler({ nexus: "n", status: () => STATUS, worker: () => worker });
  const body = await (await handle(new Request("http://citadel/status"))).json();
  assert.deepEqual(body, { ...STATUS, worker });
});

Deno.test("handler: POST /ping answers the result, or the error's name with its status", async () => {
  const calls: Array<[string, number | undefined]> = [];
  const handle = localApiHandler({
    nexus: "n",
    status: () => STATUS,
    ping: (target, options) => {
      calls.push([target, options.timeoutMs]);
      if (target === "ghost") return Promise.reject(new PeerNotFoundError(target));
      if (target === "dead") {
        return Promise.reject(new PingTimeoutError(target, "100.64.0.9", 100));
      }
      if (target === "boom") return Promise.reject(new Error("boom"));
      return Promise.resolve({ ip: "100.64.0.6", nodeName: "b", latencyMs: 1.5, path: "relay" });
    },
  });
  const post = (body: unknown) =>
    handle(
      new Request("http://citadel/ping", {
        method: "POST",
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    );
  const ok = await post({ target: "b", timeoutMs: 100 });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), {
    ip: "100.64.0.6",
    nodeName: "b",
    latencyMs: 1.5,
    path: "relay",
  });
  assert.deepEqual(calls, [["b", 100]]);
  const cases: Array<[unknown, number, string]> = [
    [{ target: "ghost", timeoutMs: 100 }, 404, "PeerNotFoundError"],
    [{ target: "dead", timeoutMs: 100 }, 504, "PingTimeoutError"],
    [{ target: "boom", timeoutMs: 100 }, 500, "Error"],
    [{ target: "", timeoutMs: 100 }, 400, "BadRequest"],
    [{ target: "b", timeoutMs: 0 }, 400, "BadRequest"],
    [{ target: "b", timeoutMs: 3_600_000 }, 400, "BadRequest"],
    ["not json", 400, "BadRequest"],
  ];
  for (const [body, status, name] of cases) {
    const response = await post(body);
    assert.equal(response.status, status, JSON.stringify(body));
    const json = await response.json();
    assert.equal(json.name, name);
    assert.equal(typeof json.error, "string");
  }
  const get = await handle(new Request("http://citadel/ping"));
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST");
  await get.body?.cancel();
  const noDataPlane = await localApiHandler({ nexus: "n", status: () => STATUS })(
    new Request("http://citadel/ping", {
      method: "POST",
      body: JSON.stringify({ target: "b", timeoutMs: 100 }),
    }),
  );
  assert.equal(noDataPlane.status, 503);
  assert.equal((await noDataPlane.json()).name, "DataPlaneNotStartedError");
});

Deno.test("the server refuses a directory another user owns", async () => {
  await withDir(async (dir) => {
    const owner = Deno.statSync(dir).uid!;
    await assert.rejects(
      checkSocketDirectory(dir, owner + 1),
      (e: Error) =>
        e instanceof UnsafeDirectoryError &&
        e.message.includes(`belongs to uid ${owner}, not to this user (uid ${owner + 1})`),
    );
    await checkSocketDirectory(dir, owner); // its owner is fine
  });
});

Deno.test("handler: at most 16 pings in flight; the 17th is 503 LocalApiBusy, and room comes back", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => release = resolve);
  const handle = localApiHandler({
    nexus: "n",
    status: () => STATUS,
    ping: async (target) => {
      await gate;
      return { ip: "100.64.0.6", nodeName: target, latencyMs: 1, path: "relay" };
    },
  });
  const ping = () =>
    handle(
      new Request("http://citadel/ping", {
        method: "POST",
        body: JSON.stringify({ target: "peer", timeoutMs: 1000 }),
      }),
    );
  const waiting = Array.from({ length: LOCAL_API_MAX_PINGS_IN_FLIGHT }, ping);
  const refused = await ping();
  assert.equal(refused.status, 503);
  assert.equal((await refused.json()).name, "LocalApiBusy");
  // Status is not limited by pings.
  assert.equal((await handle(new Request("http://citadel/status"))).status, 200);
  release();
  for (const r of await Promise.all(waiting)) assert.equal(r.status, 200);
  assert.equal((await ping()).status, 200, "room again once they finished");
});

Deno.test("GET /status carries the serving process's report when the server has one", async () => {
  await withDir(async (dir) => {
    let rejections = 0;
    const server = await startLocalApi({
      stateDir: dir,
      nexus: "n",
      status: () => STATUS,
      process: () => ({
        pid: 1234,
        command: "work",
        permissions: {
          net: true,
          read: true,
          write: true,
          run: false,
          ffi: false,
          env: ["HOME"],
          sys: ["uid"],
        },
        unhandledRejections: rejections,
      }),
    });
    try {
      rejections = 3;
      const body = await queryLocalStatus(server!.path);
      const { process, worker, localApi, ...status } = body!;
      assert.deepEqual(status, STATUS);
      assert.deepEqual(localApi, { connections: 1, takeovers: 0 });
      assert.equal(worker, null, "no job loop");
      assert.equal(process?.pid, 1234);
      assert.equal(process?.permissions.run, false);
      assert.equal(process?.unhandledRejections, 3, "read at request time");
    } finally {
      await server!.close();
    }
  });
});

Deno.test("the socket is bound in a private directory and renamed: no trace of it is left", async () => {
  await withDir(async (dir) => {
    const server = await startLocalApi({ stateDir: dir, nexus: "n", status: () => STATUS });
    try {
      const names = [...Deno.readDirSync(dir)].map((e) => e.name);
      assert.deepEqual(names, ["citadel.sock"], "the staging directory is gone");
      assert.equal((await Deno.lstat(server!.path)).mode! & 0o777, 0o600);
    } finally {
      await server!.close();
    }
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("a state directory whose socket path is as long as a Unix socket address allows still serves", async () => {
  await withDir(async (dir) => {
    // sockaddr_un holds 108 bytes with the terminating NUL: 107 for the path.
    const room = 107 - `${dir}/`.length - "/citadel.sock".length;
    const deep = `${dir}/${"d".repeat(room)}`;
    await Deno.mkdir(deep, { mode: 0o700 });
    assert.equal(localApiSocketPath(deep).length, 107);
    const server = await startLocalApi({ stateDir: deep, nexus: "n", status: () => STATUS });
    try {
      assert.equal((await queryLocalStatus(server!.path))?.nodeName, "box");
    } finally {
      await server!.close();
    }
  });
});
