import assert from "node:assert/strict";
import { probeLocalApi, queryLocalPing, queryLocalStatus } from "../../../localapi/client.ts";
import { LocalApiError } from "../../../localapi/errors.ts";
import { localApiSocketPath } from "../../../localapi/protocol.ts";
import { startLocalApi } from "../../../localapi/server.ts";
import { PeerNotFoundError } from "../../../network/mod.ts";
import { STATUS, withDir } from "./local_api_fixture.ts";

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
