/**
 * `POST /dial` and `POST /expose` over a real Unix socket: a dial carried
 * raw both ways after the 200 (half-close, bytes the client sent early),
 * each dial failure arriving under its own name, the counts bounded and
 * returning to zero, taken-over connections not counting against the
 * request limit, a hang-up during the dial abandoning it, the server's close
 * ending every tunnel; an expose living exactly as long as its connection.
 */
import assert from "node:assert/strict";
import { type MeshDialer, NamedRemoteError } from "../../../bridge/mesh_dialer.ts";
import type { ForwardEvent } from "../../../bridge/forwarder.ts";
import { queryLocalStatus } from "../../../localapi/client.ts";
import { LOCAL_API_LIMITS, startLocalApi } from "../../../localapi/server.ts";
import { dialThroughWork, exposeThroughWork } from "../../../localapi/tunnel_client.ts";
import { localApiSocketPath } from "../../../localapi/protocol.ts";
import { bytes, type MemoryEnd, memoryPair, text } from "../bridge/memory_stream.ts";
import { STATUS, withDir } from "./local_api_fixture.ts";

const FAILURES: Record<string, string> = {
  nowhere: "PeerNotFoundError",
  refuser: "ConnectionRefusedError",
  walled: "ConnectionForbiddenError",
  silent: "ConnectionTimedOutError",
};

/** A mesh whose "echo" peer answers `echo:<what it read>` after the end of its input. */
function fakeMesh() {
  const opened: MemoryEnd[] = [];
  const dial: MeshDialer = async (host, _port, options) => {
    if (host === "slow") {
      await new Promise((_, reject) =>
        options?.signal?.addEventListener("abort", () => reject(options.signal!.reason))
      );
    }
    const failure = FAILURES[host];
    if (failure) throw new NamedRemoteError(failure, `${failure}: ${host}`);
    const [ours, theirs] = memoryPair();
    opened.push(ours);
    void (async () => {
      const all = await theirs.readAll().catch(() => new Uint8Array(0));
      await theirs.write(bytes(`echo:${text(all)}`)).catch(() => {});
      await theirs.closeWrite().catch(() => {});
    })();
    return ours;
  };
  return { dial, opened };
}

async function readAll(stream: { read(p: Uint8Array): Promise<number | null> }): Promise<string> {
  let out = "";
  const buf = new Uint8Array(1024);
  for (;;) {
    const n = await stream.read(buf).catch(() => null);
    if (n === null) return out;
    out += new TextDecoder().decode(buf.subarray(0, n));
  }
}

Deno.test("POST /dial: the stream after the 200 reaches the peer both ways, with half-close", async () => {
  await withDir(async (dir) => {
    const mesh = fakeMesh();
    const server = (await startLocalApi({
      stateDir: dir,
      nexus: "n",
      status: () => STATUS,
      dial: mesh.dial,
    }))!;
    try {
      const stream = await dialThroughWork(server.path, "echo", 7000);
      assert.ok(stream);
      await stream.write(bytes("hello"));
      await stream.closeWrite();
      assert.equal(await readAll(stream), "echo:hello");
      stream.close();
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(server.http.openTakeovers, 0);
      assert.ok(mesh.opened[0].closed, "the mesh connection is closed after the relay");
    } finally {
      await server.close();
    }
  });
});

Deno.test("POST /dial: each failure arrives under its own name", async () => {
  await withDir(async (dir) => {
    const server = (await startLocalApi({
      stateDir: dir,
      nexus: "n",
      status: () => STATUS,
      dial: fakeMesh().dial,
    }))!;
    try {
      for (const [host, name] of Object.entries(FAILURES)) {
        await assert.rejects(
          dialThroughWork(server.path, host, 80),
          (e: Error) => e instanceof NamedRemoteError && e.name === name,
          host,
        );
      }
      await assert.rejects(
        dialThroughWork(server.path, "", 80),
        (e: Error) => e.name === "BadRequest",
      );
    } finally {
      await server.close();
    }
  });
});

Deno.test("POST /dial: bytes sent before the 200 arrive first", async () => {
  await withDir(async (dir) => {
    const server = (await startLocalApi({
      stateDir: dir,
      nexus: "n",
      status: () => STATUS,
      dial: fakeMesh().dial,
    }))!;
    try {
      const conn = await Deno.connect({ transport: "unix", path: server.path });
      const body = JSON.stringify({ host: "echo", port: 1 });
      await conn.write(bytes(
        `POST /dial HTTP/1.1\r\nhost: citadel\r\ncontent-length: ${body.length}\r\n\r\n${body}early`,
      ));
      await conn.closeWrite();
      const answer = await readAll(conn);
      assert.match(answer, /^HTTP\/1.1 200 OK\r\n/);
      assert.ok(answer.endsWith("\r\n\r\necho:early"), answer);
      conn.close();
    } finally {
      await server.close();
    }
  });
});

Deno.test("POST /dial: bounded; tunnels do not take request slots; close ends them all", async () => {
  await withDir(async (dir) => {
    const mesh = fakeMesh();
    const server = (await startLocalApi({
      stateDir: dir,
      nexus: "n",
      status: () => STATUS,
      dial: mesh.dial,
      limits: { ...LOCAL_API_LIMITS, maxConnections: 2 },
      tunnelLimits: { tunnels: 3 },
    }))!;
    try {
      const open = [];
      for (let i = 0; i < 3; i++) open.push(await dialThroughWork(server.path, "echo", 1));
      assert.equal(server.http.openTakeovers, 3);
      await assert.rejects(
        dialThroughWork(server.path, "echo", 1),
        (e: Error) => e.name === "LocalApiBusy",
      );
      assert.equal((await queryLocalStatus(server.path))?.nodeName, "box", "status still answers");
      await server.close();
      for (const stream of open) assert.equal(await readAll(stream!), "", "ended by the close");
      assert.ok(mesh.opened.every((m) => m.closed), "every mesh connection closed");
    } finally {
      await server.close();
    }
  });
});

Deno.test("POST /dial: a client that hangs up while the dial waits abandons it", async () => {
  await withDir(async (dir) => {
    const server = (await startLocalApi({
      stateDir: dir,
      nexus: "n",
      status: () => STATUS,
      dial: fakeMesh().dial,
      tunnelLimits: { tunnels: 1 },
    }))!;
    try {
      const giveUp = new AbortController();
      const pending = dialThroughWork(server.path, "slow", 1, { signal: giveUp.signal });
      await new Promise((r) => setTimeout(r, 50));
      giveUp.abort(new Error("user gave up"));
      await assert.rejects(pending, /user gave up/);
      // The one slot is free again once the server saw the hang-up.
      let stream = null;
      for (let i = 0; i < 50 && !stream; i++) {
        stream = await dialThroughWork(server.path, "echo", 1).catch(() => null);
        if (!stream) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(stream, "the slot came back");
      stream.close();
    } finally {
      await server.close();
    }
  });
});

Deno.test("dialThroughWork: null when no work serves the socket", async () => {
  await withDir(async (dir) => {
    assert.equal(await dialThroughWork(localApiSocketPath(dir), "echo", 1), null);
    assert.equal(await exposeThroughWork(localApiSocketPath(dir), 1, "127.0.0.1:2"), null);
  });
});

Deno.test("POST /expose: the forward lives as long as the connection, with its events", async () => {
  await withDir(async (dir) => {
    const started: {
      port: number;
      target: string;
      closed: boolean;
      emit: (e: ForwardEvent) => void;
    }[] = [];
    const server = (await startLocalApi({
      stateDir: dir,
      nexus: "n",
      status: () => STATUS,
      expose: (port, target, onEvent) => {
        if (port === 22) {
          throw new NamedRemoteError("AddressInUseError", "TCP port 22 is in use");
        }
        const entry = {
          port,
          target: `${target.hostname}:${target.port}`,
          closed: false,
          emit: onEvent,
        };
        started.push(entry);
        return {
          close: () => {
            entry.closed = true;
            return Promise.resolve();
          },
        };
      },
    }))!;
    try {
      const expose = await exposeThroughWork(server.path, 7000, "127.0.0.1:8080");
      assert.ok(expose);
      const events = expose.events[Symbol.asyncIterator]();
      assert.deepEqual((await events.next()).value, {
        event: "ready",
        port: 7000,
        to: "127.0.0.1:8080",
      });
      assert.equal(started[0].target, "127.0.0.1:8080");
      started[0].emit({ kind: "accepted", from: "100.64.0.9:4000" });
      assert.deepEqual((await events.next()).value, { event: "accepted", from: "100.64.0.9:4000" });
      await assert.rejects(
        exposeThroughWork(server.path, 22, "127.0.0.1:22"),
        (e: Error) => e.name === "AddressInUseError",
      );
      expose.close();
      for (let i = 0; i < 50 && !started[0].closed; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(started[0].closed, "closing the connection ends the forward");
      assert.equal(server.http.openTakeovers, 0);
    } finally {
      await server.close();
    }
  });
});

Deno.test("GET /dial/<id>: a mesh connection that failed is told apart from a clean end", async () => {
  await withDir(async (dir) => {
    const server = (await startLocalApi({
      stateDir: dir,
      nexus: "n",
      status: () => STATUS,
      dial: (host) => {
        if (host === "echo") return fakeMesh().dial(host, 1);
        // Some bytes, then the peer leaves the netmap.
        let sent = false;
        return Promise.resolve({
          read: (p: Uint8Array) => {
            if (!sent) {
              sent = true;
              p.set(bytes("partial"));
              return Promise.resolve(7);
            }
            return Promise.reject(
              new NamedRemoteError("ConnectionResetError", "connection closed: the peer left"),
            );
          },
          write: (p: Uint8Array) => Promise.resolve(p.length),
          closeWrite: () => Promise.resolve(),
          close: () => {},
        });
      },
    }))!;
    try {
      const broken = await dialThroughWork(server.path, "leaver", 1);
      assert.equal(await readAll(broken!), "partial", "the reader sees only an end of stream");
      const failure = await broken!.failure!();
      assert.equal(failure?.name, "ConnectionResetError");
      assert.match(failure!.message, /the peer left/);
      broken!.close();

      const clean = await dialThroughWork(server.path, "echo", 1);
      await clean!.closeWrite();
      assert.equal(await readAll(clean!), "echo:");
      assert.equal(await clean!.failure!(), undefined, "a clean end has no failure");
      clean!.close();
    } finally {
      await server.close();
    }
  });
});
