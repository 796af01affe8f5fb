/**
 * `fetchOverStream` against real servers on 127.0.0.1, over streams opened by
 * `dialTcp` (the mesh's `TcpConn` has the same shape; the interop tests run it
 * over the mesh): methods, bodies, chunked and empty responses, repeated
 * headers, HTTPS with a CA, aborts, broken servers, and one connection per
 * request, closed after it.
 */
import assert from "node:assert/strict";
import { dialTcp, type RedisDuplex } from "../../../../worker/mod.ts";
import { fetchOverStream, type StreamOpener } from "../../../../worker/jobs/stream_fetch.ts";
import { createTestCa } from "../../../interop/test_ca.ts";

/** dialTcp to 127.0.0.1 whatever the host (a stand-in for the mesh dial), counting. */
function loopbackOpener() {
  const opened: { host: string; port: number }[] = [];
  const closed: number[] = [];
  const open: StreamOpener = async (host, port, signal) => {
    opened.push({ host, port });
    const inner = await dialTcp("127.0.0.1", port, signal);
    const index = opened.length;
    return {
      readable: inner.readable,
      writable: inner.writable,
      close: () => {
        closed.push(index);
        return inner.close();
      },
    } satisfies RedisDuplex;
  };
  return { open, opened, closed };
}

async function until(probe: () => boolean, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test({
  name: "fetchOverStream: GET and POST through the opened stream, repeated headers, 204, HEAD",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const seen: { method: string; url: string; body: string; host: string | null }[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      seen.push({
        method: req.method,
        url: req.url,
        body: await req.text(),
        host: req.headers.get("host"),
      });
      if (req.url.endsWith("/empty")) return new Response(null, { status: 204 });
      const headers = new Headers({ "x-one": "1" });
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      return new Response(`hello ${req.method}`, { status: 201, headers });
    });
    const { open, opened, closed } = loopbackOpener();
    try {
      const port = server.addr.port;
      const get = await fetchOverStream(new Request(`http://peer-a:${port}/x?y=1`), open);
      assert.equal(get.status, 201);
      assert.equal(await get.text(), "hello GET");
      assert.equal(get.headers.get("x-one"), "1");
      assert.deepEqual(get.headers.getSetCookie(), ["a=1", "b=2"]);
      assert.deepEqual(opened[0], { host: "peer-a", port });
      assert.equal(seen[0].host, `peer-a:${port}`, "the Host header names the peer");
      assert.match(seen[0].url, /\/x\?y=1$/);

      const post = await fetchOverStream(
        new Request(`http://100.64.0.7:${port}/p`, { method: "POST", body: "payload ü" }),
        open,
      );
      assert.equal(await post.text(), "hello POST");
      assert.equal(seen[1].body, "payload ü");
      assert.equal(opened[1].host, "100.64.0.7");

      const empty = await fetchOverStream(new Request(`http://peer-a:${port}/empty`), open);
      assert.equal(empty.status, 204);
      assert.equal(empty.body, null);

      const head = await fetchOverStream(
        new Request(`http://peer-a:${port}/`, { method: "HEAD" }),
        open,
      );
      assert.equal(head.status, 201);
      assert.equal(await head.text(), "");
      assert.equal(opened.length, 4, "one connection per request");
      await until(() => closed.length === 4);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "fetchOverStream: a chunked body is streamed; an abort ends it and the connection",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let tick: ReturnType<typeof setInterval> | undefined;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
      let n = 0;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          tick = setInterval(() => {
            try {
              controller.enqueue(new TextEncoder().encode(`part-${n++};`));
            } catch {
              clearInterval(tick);
            }
          }, 20);
        },
        cancel() {
          clearInterval(tick);
        },
      });
      return new Response(body);
    });
    const { open, closed } = loopbackOpener();
    try {
      const abort = new AbortController();
      const response = await fetchOverStream(
        new Request(`http://peer-a:${server.addr.port}/stream`, { signal: abort.signal }),
        open,
      );
      const reader = response.body!.getReader();
      let text = "";
      while (!text.includes("part-2;")) {
        const { value } = await reader.read();
        text += new TextDecoder().decode(value);
      }
      abort.abort(new Error("enough"));
      await assert.rejects(async () => {
        for (;;) {
          const { done } = await reader.read();
          if (done) throw new Error("ended without the abort");
        }
      });
      await until(() => closed.length === 1);
    } finally {
      clearInterval(tick);
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "fetchOverStream: https over the stream checks the certificate against the CA given",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const ca = await createTestCa(dir, { dnsNames: ["peer-tls"] });
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(ca.certPath),
      key: await Deno.readTextFile(ca.keyPath),
      onListen() {},
    }, (req) => new Response(`secure ${new URL(req.url).pathname}`));
    const { open } = loopbackOpener();
    try {
      const url = `https://peer-tls:${server.addr.port}/s`;
      const ok = await fetchOverStream(new Request(url), open, { caCerts: [ca.caCertPem] });
      assert.equal(await ok.text(), "secure /s");
      await assert.rejects(fetchOverStream(new Request(url), open), /certificate|issuer/i);
      await assert.rejects(
        fetchOverStream(
          new Request(`https://other-name:${server.addr.port}/s`),
          open,
          { caCerts: [ca.caCertPem] },
        ),
        /certificate|altname|hostname/i,
      );
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fetchOverStream: a server that hangs up, or sends an oversized head, is an error",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const serving = (async () => {
      let i = 0;
      for await (const conn of listener) {
        const buf = new Uint8Array(4096);
        await conn.read(buf);
        if (i++ === 0) {
          conn.close(); // no answer at all
          continue;
        }
        const head = `HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(100_000)}\r\n\r\n`;
        try {
          await conn.write(new TextEncoder().encode(head));
        } catch {
          // The client gave up first.
        }
        conn.close();
      }
    })();
    const { open } = loopbackOpener();
    try {
      const url = `http://peer-a:${listener.addr.port}/`;
      await assert.rejects(fetchOverStream(new Request(url), open), /socket hang up|closed|reset/i);
      await assert.rejects(fetchOverStream(new Request(url), open), /header|overflow|large/i);
      await assert.rejects(
        fetchOverStream(
          new Request("http://peer-a:1/"),
          () => Promise.reject(new Error("no route")),
        ),
        /no route/,
      );
    } finally {
      listener.close();
      await serving.catch(() => {});
    }
  },
});
