/**
 * The attacks of issue 11 on the local API, against the server with its
 * production limits in a child process, measured from outside: memory from
 * /proc/<pid>/status, descriptors from /proc/<pid>/fd, time to hang up.
 */
import assert from "node:assert/strict";
import { queryLocalStatus } from "../../../localapi/client.ts";
import {
  LOCAL_API_HEADER_TIMEOUT_MS,
  LOCAL_API_MAX_CONNECTIONS,
  LOCAL_API_REQUEST_TIMEOUT_MS,
} from "../../../localapi/protocol.ts";
import { openDescriptors, procStatusKiB, startChildServer } from "./child_server.ts";
import { withDir } from "./local_api_fixture.ts";
import { readUntilClose, statusOf } from "./raw_client.ts";

const MiB = 1024 * 1024;

/** Writes a head and then up to `bodyBytes` of zeros, until the server stops reading. */
async function postHuge(
  path: string,
  head: string,
  bodyBytes: number,
): Promise<{ status: number | null; sent: number }> {
  const conn = await Deno.connect({ transport: "unix", path });
  const answer = readUntilClose(conn, 20_000);
  let sent = 0;
  try {
    await conn.write(new TextEncoder().encode(head));
    const chunk = new Uint8Array(MiB);
    while (sent < bodyBytes) sent += await conn.write(chunk.subarray(0, bodyBytes - sent));
  } catch {
    // EPIPE / ECONNRESET: the server answered and closed without reading on.
  }
  const { bytes } = await answer;
  conn.close();
  return { status: statusOf(new TextDecoder().decode(bytes)), sent };
}

Deno.test("a 300 MiB POST gets 413 and the server's memory stays flat", async () => {
  await withDir(async (dir) => {
    const server = await startChildServer({ stateDir: dir });
    try {
      // Warm up the request path, so its first allocations are not counted.
      assert.equal((await queryLocalStatus(server.path))?.nodeName, "box");
      const rssBefore = procStatusKiB(server.pid, "VmRSS");
      const peakBefore = procStatusKiB(server.pid, "VmHWM");
      const size = 300 * MiB;
      const declared = await postHuge(
        server.path,
        `POST /ping HTTP/1.1\r\nhost: citadel\r\ncontent-type: application/json\r\n` +
          `content-length: ${size}\r\n\r\n`,
        size,
      );
      // Chunked, and a Content-Length that lies (64 KiB said, 300 MiB sent).
      const chunked = await postHuge(
        server.path,
        "POST /ping HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
        size,
      );
      const lying = await postHuge(
        server.path,
        "POST /ping HTTP/1.1\r\ncontent-length: 65536\r\n\r\n",
        size,
      );
      const rssAfter = procStatusKiB(server.pid, "VmRSS");
      const peakAfter = procStatusKiB(server.pid, "VmHWM");
      console.log(
        `300 MiB POST: 413 after ${(declared.sent / MiB).toFixed(1)} MiB written by the client; ` +
          `server RSS ${rssBefore} → ${rssAfter} KiB, peak ${peakBefore} → ${peakAfter} KiB`,
      );
      assert.equal(declared.status, 413);
      assert.equal(chunked.status, 411);
      assert.equal(lying.status, 400, "64 KiB read as the body: not JSON");
      assert.ok(declared.sent < 64 * MiB, `the server stopped reading (${declared.sent} bytes)`);
      assert.ok(
        peakAfter - peakBefore < 16 * 1024,
        `peak RSS grew by ${peakAfter - peakBefore} KiB`,
      );
      assert.ok(server.alive());
      assert.equal((await queryLocalStatus(server.path))?.nodeName, "box");
    } finally {
      await server.stop();
    }
  });
});

Deno.test("a half-sent header is closed within 10 s (the head deadline)", async () => {
  await withDir(async (dir) => {
    const server = await startChildServer({ stateDir: dir });
    try {
      const started = performance.now();
      const conn = await Deno.connect({ transport: "unix", path: server.path });
      await conn.write(new TextEncoder().encode("GET /status HTTP/1.1\r\nhost: cit"));
      const { closedByServer } = await readUntilClose(conn, 15_000);
      const elapsed = performance.now() - started;
      conn.close();
      console.log(`half-sent header: closed by the server after ${Math.round(elapsed)} ms`);
      assert.ok(closedByServer, "the server hung up");
      assert.ok(elapsed >= LOCAL_API_HEADER_TIMEOUT_MS - 50, `${elapsed} ms`);
      assert.ok(elapsed < LOCAL_API_REQUEST_TIMEOUT_MS, `${elapsed} ms`);
    } finally {
      await server.stop();
    }
  });
});

Deno.test("2,000 idle connections under ulimit -n 1024: the node lives and GET /status answers", async () => {
  await withDir(async (dir) => {
    const server = await startChildServer({ stateDir: dir }, "ulimit -n 1024");
    const held: Deno.Conn[] = [];
    try {
      const limits = Deno.readTextFileSync(`/proc/${server.pid}/limits`);
      assert.match(limits, /^Max open files\s+1024\s/m, "the child runs under ulimit -n 1024");
      const started = performance.now();
      let connectErrors = 0;
      while (held.length < 2_000) {
        try {
          held.push(await Deno.connect({ transport: "unix", path: server.path }));
        } catch {
          // A full accept backlog (EAGAIN): try again in a moment.
          connectErrors += 1;
          await new Promise((r) => setTimeout(r, 1));
        }
      }
      const connectMs = performance.now() - started;
      const fds = openDescriptors(server.pid);
      const askedAt = performance.now();
      const status = await queryLocalStatus(server.path, 5_000);
      const answerMs = performance.now() - askedAt;
      console.log(
        `2,000 idle connections opened in ${Math.round(connectMs)} ms ` +
          `(${connectErrors} connect retries); server holds ${fds} descriptors; ` +
          `fresh GET /status answered in ${answerMs.toFixed(1)} ms`,
      );
      assert.equal(status?.nodeName, "box", "a fresh GET /status answers");
      assert.ok(server.alive(), "the node lives");
      assert.ok(fds < 1024 - 100, `${fds} descriptors`);
    } finally {
      held.forEach((c) => c.close());
      const { code, final } = await server.stop();
      assert.equal(code, 0, server.stderr());
      const counters = final?.counters as Record<string, number>;
      console.log(`server counters: ${JSON.stringify(counters)}`);
      assert.ok(counters.evicted >= 2_000 - LOCAL_API_MAX_CONNECTIONS, JSON.stringify(counters));
    }
  });
});

Deno.test("running out of descriptors makes accept fail: retried, never fatal, and served again once they free", async () => {
  await withDir(async (dir) => {
    // Room for more connections than descriptors, and short deadlines.
    const server = await startChildServer(
      { stateDir: dir, limits: { maxConnections: 500, headerTimeoutMs: 1_000 } },
      "ulimit -n 100",
    );
    const held: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 150; i++) {
        held.push(await Deno.connect({ transport: "unix", path: server.path }));
      }
      await new Promise((r) => setTimeout(r, 300));
      // The idle ones time out and free descriptors; the queued status is then accepted.
      const status = await queryLocalStatus(server.path, 8_000);
      assert.equal(status?.nodeName, "box");
      assert.ok(server.alive());
    } finally {
      held.forEach((c) => c.close());
      const { code, final } = await server.stop();
      assert.equal(code, 0, server.stderr());
      const counters = final?.counters as Record<string, number>;
      assert.ok(
        counters.acceptErrors > 0,
        `accept failed and was retried: ${JSON.stringify(counters)}`,
      );
    }
  });
});

Deno.test("under umask 000 the socket is bound in a private directory and is 0600 before it is in place", async () => {
  await withDir(async (dir) => {
    const server = await startChildServer({ stateDir: dir, watchBind: true }, "umask 000");
    try {
      const bind = server.bind!;
      assert.notEqual(bind.dir, dir, "not bound in the state directory itself");
      assert.match(bind.dir.slice(dir.length), /^\/\.[0-9a-f]{8}$/, bind.dir);
      assert.equal(bind.dirMode, 0o700, "the staging directory is private whatever the umask");
      assert.equal(bind.dirUid, Deno.uid());
      // This is why the staging directory matters: under umask 000 Deno
      // creates the socket open to everyone.
      assert.equal(bind.socketModeAtBind, 0o777);
      assert.equal((await Deno.lstat(server.path)).mode! & 0o777, 0o600);
      assert.equal((await queryLocalStatus(server.path))?.nodeName, "box");
    } finally {
      await server.stop();
    }
  });
});
