/**
 * The local API transport in-process, with short limits so that deadlines
 * take milliseconds. The production limits are exercised on a real child
 * process in limits_test.ts.
 */
import assert from "node:assert/strict";
import { type HttpServerLimits, LocalHttpServer } from "../../../localapi/http_server.ts";
import { exchangeRaw, readUntilClose, statusOf } from "./raw_client.ts";
import { withDir } from "./local_api_fixture.ts";

const SHORT: HttpServerLimits = {
  maxConnections: 8,
  maxHeadBytes: 1024,
  maxHeaderFields: 16,
  maxBodyBytes: 1024,
  headerTimeoutMs: 300,
  requestTimeoutMs: 600,
  handlerTimeoutMs: 400,
  writeTimeoutMs: 500,
};

const GET = "GET /status HTTP/1.1\r\nhost: citadel\r\n\r\n";
const encoder = new TextEncoder();

async function withServer(
  handler: (request: Request) => Promise<Response>,
  limits: Partial<HttpServerLimits>,
  fn: (path: string, server: LocalHttpServer) => Promise<void>,
): Promise<void> {
  await withDir(async (dir) => {
    const path = `${dir}/s.sock`;
    const server = new LocalHttpServer(
      Deno.listen({ transport: "unix", path }),
      handler,
      { ...SHORT, ...limits },
    );
    try {
      await fn(path, server);
    } finally {
      await server.close();
    }
  });
}

const ok = () => Promise.resolve(Response.json({ ok: true }));

async function connectAndSend(path: string, text: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ transport: "unix", path });
  if (text) await conn.write(encoder.encode(text));
  return conn;
}

Deno.test("one request per connection: the answer has Content-Length and Connection: close", async () => {
  const seen: Array<{ method: string; url: string; body: string }> = [];
  const handler = async (request: Request) => {
    seen.push({ method: request.method, url: request.url, body: await request.text() });
    return Response.json({ ok: true }, { headers: { allow: "GET" } });
  };
  await withServer(handler, {}, async (path, server) => {
    const get = await exchangeRaw(path, GET);
    assert.equal(get.status, 200);
    assert.ok(get.closedByServer);
    assert.match(get.text, /\r\ncontent-length: 11\r\n/);
    assert.match(get.text, /\r\nconnection: close\r\n/);
    assert.match(get.text, /\r\nallow: GET\r\n/);
    assert.ok(get.text.endsWith('\r\n\r\n{"ok":true}'));
    const post = await exchangeRaw(
      path,
      "POST http://citadel/ping HTTP/1.1\r\ncontent-length: 4\r\n\r\nbody",
    );
    assert.equal(post.status, 200);
    // A GET's body is read (within the cap) and not passed on.
    const getWithBody = await exchangeRaw(path, "GET /x HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc");
    assert.equal(getWithBody.status, 200);
    assert.deepEqual(seen, [
      { method: "GET", url: "http://citadel/status", body: "" },
      { method: "POST", url: "http://citadel/ping", body: "body" },
      { method: "GET", url: "http://citadel/x", body: "" },
    ]);
    assert.equal(server.counters.handled, 3);
  });
});

Deno.test("an oversized Content-Length is 413 at once, the body never read, the handler never called", async () => {
  let called = false;
  await withServer(
    () => {
      called = true;
      return ok();
    },
    {},
    async (path, server) => {
      const answer = await exchangeRaw(
        path,
        "POST /ping HTTP/1.1\r\ncontent-length: 1025\r\n\r\n",
      );
      assert.equal(answer.status, 413);
      assert.ok(answer.closedByServer);
      assert.ok(answer.elapsedMs < SHORT.headerTimeoutMs, `${answer.elapsedMs} ms: did not wait`);
      assert.match(answer.text, /larger than 1024 bytes/);
      assert.equal(called, false);
      assert.equal(server.counters.rejected, 1);
      const chunked = await exchangeRaw(
        path,
        "POST /ping HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      );
      assert.equal(chunked.status, 411);
    },
  );
});

Deno.test("a head over the limit is 431; garbage is 400; TRACE (forbidden by Fetch) is 400", async () => {
  await withServer(ok, {}, async (path) => {
    const big = await exchangeRaw(path, `GET / HTTP/1.1\r\nx: ${"a".repeat(2000)}`);
    assert.equal(big.status, 431);
    assert.equal((await exchangeRaw(path, "\x00\x01\x02\r\n\r\n")).status, 400);
    assert.equal((await exchangeRaw(path, "TRACE / HTTP/1.1\r\n\r\n")).status, 400);
    assert.equal((await exchangeRaw(path, "GET / HTTP/3.0\r\n\r\n")).status, 505);
  });
});

Deno.test("a half-sent head is closed at the head deadline, silently", async () => {
  await withServer(ok, {}, async (path, server) => {
    const answer = await exchangeRaw(path, "GET /status HTTP/1.1\r\nhost: cit", { waitMs: 3_000 });
    assert.ok(answer.closedByServer, "closed by the server, not by us giving up");
    assert.equal(answer.text, "");
    assert.ok(answer.elapsedMs >= SHORT.headerTimeoutMs - 20, `${answer.elapsedMs} ms`);
    assert.ok(answer.elapsedMs < SHORT.headerTimeoutMs + 500, `${answer.elapsedMs} ms`);
    assert.equal(server.counters.timedOut, 1);
  });
});

Deno.test("a body trickled past the request deadline gets 408 and is cut off", async () => {
  await withServer(ok, {}, async (path) => {
    const started = performance.now();
    const conn = await connectAndSend(path, "POST /ping HTTP/1.1\r\ncontent-length: 100\r\n\r\n");
    const trickle = (async () => {
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 50));
        await conn.write(encoder.encode("x"));
      }
    })().catch(() => "stopped");
    const { bytes, closedByServer } = await readUntilClose(conn, 3_000);
    const elapsed = performance.now() - started;
    conn.close();
    await trickle;
    assert.ok(closedByServer);
    assert.equal(statusOf(new TextDecoder().decode(bytes)), 408);
    assert.ok(elapsed >= SHORT.requestTimeoutMs - 20 && elapsed < SHORT.requestTimeoutMs + 500);
  });
});

Deno.test("at the connection limit the oldest idle connection makes room, and a fresh request is served", async () => {
  await withServer(ok, { maxConnections: 3, headerTimeoutMs: 5_000 }, async (path, server) => {
    const idle: Deno.Conn[] = [];
    for (let i = 0; i < 3; i++) {
      idle.push(await connectAndSend(path, i === 2 ? "GET /sta" : ""));
      // Accept order = age order.
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(server.openConnections, 3);
    const fresh = await exchangeRaw(path, GET);
    assert.equal(fresh.status, 200, "a fresh GET /status still answers");
    const first = await readUntilClose(idle[0], 500);
    assert.ok(first.closedByServer, "the oldest idle one was closed");
    const second = await readUntilClose(idle[1], 200);
    assert.ok(!second.closedByServer, "the younger ones stay");
    assert.equal(server.counters.evicted, 1);
    idle.forEach((c) => c.close());
  });
});

Deno.test("when every connection is in its handler, a newcomer is refused with 503", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => release = resolve);
  const handler = async () => {
    await gate;
    return Response.json({ ok: true });
  };
  await withServer(
    handler,
    { maxConnections: 2, handlerTimeoutMs: 5_000 },
    async (path, server) => {
      const busy = [exchangeRaw(path, GET), exchangeRaw(path, GET)];
      while (server.openConnections < 2) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 50)); // both heads read, both in the handler
      const refused = await exchangeRaw(path, GET);
      assert.equal(refused.status, 503);
      assert.match(refused.text, /"name":"LocalApiBusy"/);
      release();
      for (const answer of await Promise.all(busy)) assert.equal(answer.status, 200);
      assert.equal(server.counters.refused, 1);
    },
  );
});

Deno.test("a client that hangs up aborts its request's signal", async () => {
  let aborted: () => void = () => {};
  const sawAbort = new Promise<void>((resolve) => aborted = resolve);
  const handler = (request: Request) =>
    new Promise<Response>((_, reject) => {
      request.signal.addEventListener("abort", () => {
        aborted();
        reject(new Error("aborted"));
      });
    });
  await withServer(handler, { handlerTimeoutMs: 5_000 }, async (path) => {
    const conn = await connectAndSend(path, GET);
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    conn.close();
    await sawAbort;
    assert.ok(performance.now() - started < 1_000);
  });
});

Deno.test("a handler that throws is 500; one that never answers is cut at the handler deadline", async () => {
  await withServer(() => Promise.reject(new Error("boom")), {}, async (path) => {
    const answer = await exchangeRaw(path, GET);
    assert.equal(answer.status, 500);
    assert.ok(!answer.text.includes("boom"), "no internals in the answer");
  });
  await withServer(() => new Promise<Response>(() => {}), {}, async (path, server) => {
    const answer = await exchangeRaw(path, GET, { waitMs: 3_000 });
    assert.equal(answer.status, 500);
    assert.ok(answer.elapsedMs >= SHORT.handlerTimeoutMs - 20, `${answer.elapsedMs} ms`);
    assert.equal(server.counters.timedOut, 1);
  });
});

Deno.test("close() ends the accept loop and every connection", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/s.sock`;
    const server = new LocalHttpServer(Deno.listen({ transport: "unix", path }), ok, SHORT);
    const idle = await connectAndSend(path, "GET /");
    while (server.openConnections < 1) await new Promise((r) => setTimeout(r, 5));
    await server.close();
    assert.equal(server.openConnections, 0);
    assert.ok((await readUntilClose(idle, 500)).closedByServer);
    idle.close();
    await server.close(); // idempotent
  });
});
