import assert from "node:assert/strict";
import {
  LocalApiError,
  probeLocalApi,
  queryLocalPing,
  queryLocalStatus,
} from "../../../localapi/client.ts";
import { localApiHandler, startLocalApi } from "../../../localapi/server.ts";
import { type NodeStatus, PeerNotFoundError, PingTimeoutError } from "../../../network/mod.ts";
import { localApiSocketPath } from "../../../state/mod.ts";

const STATUS: NodeStatus = {
  connected: true,
  nodeName: "box",
  nodeIP: "100.64.0.5",
  nodeIPv6: "fd7a:115c:a1e0::5",
  nexus: "https://nexus.test",
  keyExpiry: null,
  peers: [{
    hostname: "peer",
    ip: "100.64.0.6",
    ipv6: null,
    online: false,
    os: "linux",
    lastSeen: "2026-11-26T10:00:00.000Z",
  }],
};

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "citadel-api-test-" });
  await Deno.chmod(dir, 0o700);
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
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
      assert.deepEqual(await queryLocalStatus(server.path), STATUS);
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

Deno.test("no socket, or a stale socket nobody listens on, means 'not running'", async () => {
  await withDir(async (dir) => {
    const path = localApiSocketPath(dir);
    assert.equal(await queryLocalStatus(path), null);
    const listener = Deno.listen({ transport: "unix", path });
    listener.close();
    // Make sure a socket file is left behind, as after a crash.
    try {
      await Deno.lstat(path);
    } catch {
      const stale = Deno.listen({ transport: "unix", path });
      await Deno.rename(path, `${path}.keep`);
      stale.close();
      await Deno.rename(`${path}.keep`, path);
    }
    assert.ok((await Deno.lstat(path)).isSocket);
    assert.equal(await probeLocalApi(path), false);
    assert.equal(await queryLocalStatus(path), null);
    // A new server replaces the stale socket.
    const server = await startLocalApi({ stateDir: dir, nexus: "n", status: () => STATUS });
    try {
      assert.equal((await queryLocalStatus(path))?.nodeName, "box");
    } finally {
      await server!.close();
    }
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

Deno.test("the server refuses a directory others can write to, and a non-socket file", async () => {
  await withDir(async (dir) => {
    await Deno.chmod(dir, 0o777);
    await assert.rejects(
      startLocalApi({ stateDir: dir, nexus: "n", status: () => STATUS }),
      LocalApiError,
    );
    await Deno.chmod(dir, 0o700);
    await Deno.writeTextFile(localApiSocketPath(dir), "not a socket");
    await assert.rejects(
      startLocalApi({ stateDir: dir, nexus: "n", status: () => STATUS }),
      (e: Error) => e instanceof LocalApiError && /not a socket/.test(e.message),
    );
    assert.equal(await Deno.readTextFile(localApiSocketPath(dir)), "not a socket", "left alone");
  });
});

Deno.test("a listener that does not answer in time is an error, not 'not running'", async () => {
  await withDir(async (dir) => {
    const path = localApiSocketPath(dir);
    const listener = Deno.listen({ transport: "unix", path });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of listener) held.push(conn);
    })();
    try {
      await assert.rejects(
        queryLocalStatus(path, 200),
        (e: Error) => e instanceof LocalApiError && /did not answer within 200 ms/.test(e.message),
      );
    } finally {
      listener.close();
      await accepting.catch(() => {});
      held.forEach((c) => c.close());
    }
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
  assert.deepEqual(await ok.json(), STATUS);
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

Deno.test("queryLocalPing: not running is null; a worker's answers come back by name", async () => {
  await withDir(async (dir) => {
    const path = localApiSocketPath(dir);
    assert.equal(await queryLocalPing(path, "b", 100), null);
    const server = await startLocalApi({
      stateDir: dir,
      nexus: "n",
      status: () => STATUS,
      ping: (target) =>
        target === "b"
          ? Promise.resolve({ ip: "100.64.0.6", nodeName: "b", latencyMs: 1.5, path: "relay" })
          : Promise.reject(new PeerNotFoundError(target)),
    });
    try {
      assert.deepEqual(await queryLocalPing(path, "b", 100), {
        ok: true,
        result: { ip: "100.64.0.6", nodeName: "b", latencyMs: 1.5, path: "relay" },
      });
      const missing = await queryLocalPing(path, "ghost", 100);
      assert.equal(missing?.ok, false);
      assert.equal(!missing?.ok && missing?.name, "PeerNotFoundError");
    } finally {
      await server?.close();
    }
  });
});
