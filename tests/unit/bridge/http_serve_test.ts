/**
 * A standard HTTP server on a mesh listener: a `Deno.serve`-style handler
 * through serveHttp (keep-alive, a streamed request body, a streamed
 * response, the peer's address), and a plain `node:http` server fed
 * meshSocket connections; all over two real NetStacks, with the stack back
 * to no connections and no buffers afterwards.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { AddrPort } from "../../../network/netaddr/addr_port.ts";
import type { TcpConn } from "../../../network/netstack/socket/tcp_conn.ts";
import { serveHttp, serveNodeHttp } from "../../../bridge/http_serve.ts";
import { LIVE_A, LIVE_B, liveStacks } from "./live_stacks.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** Reads one HTTP/1.1 response (Content-Length or chunked) off `conn`. */
async function readResponse(
  conn: TcpConn,
  pending: { bytes: Uint8Array },
): Promise<{ head: string; body: string }> {
  const buf = new Uint8Array(65536);
  const more = async () => {
    const n = await conn.read(buf);
    if (n === null) throw new Error("closed early");
    const grown = new Uint8Array(pending.bytes.length + n);
    grown.set(pending.bytes);
    grown.set(buf.subarray(0, n), pending.bytes.length);
    pending.bytes = grown;
  };
  const latin = () => String.fromCharCode(...pending.bytes);
  while (!latin().includes("\r\n\r\n")) await more();
  const text = latin();
  const end = text.indexOf("\r\n\r\n") + 4;
  const head = text.slice(0, end);
  pending.bytes = pending.bytes.subarray(end);
  const length = /content-length: (\d+)/i.exec(head);
  if (length) {
    while (pending.bytes.length < Number(length[1])) await more();
    const body = new TextDecoder().decode(pending.bytes.subarray(0, Number(length[1])));
    pending.bytes = pending.bytes.subarray(Number(length[1]));
    return { head, body };
  }
  assert.match(head, /transfer-encoding: chunked/i);
  let body = "";
  for (;;) {
    while (!latin().includes("\r\n")) await more();
    const line = latin().slice(0, latin().indexOf("\r\n"));
    const size = parseInt(line, 16);
    const need = line.length + 2 + size + 2;
    while (pending.bytes.length < need) await more();
    body += new TextDecoder().decode(
      pending.bytes.subarray(line.length + 2, line.length + 2 + size),
    );
    pending.bytes = pending.bytes.subarray(need);
    if (size === 0) return { head, body };
  }
}

Deno.test("serveHttp: a Deno.serve-style handler answers on a mesh listener, with keep-alive", async () => {
  const stacks = liveStacks();
  const server = serveHttp(stacks.b.listenTCP(80), async (request, info) => {
    const url = new URL(request.url);
    if (request.method === "POST") {
      const text = await request.text();
      return new Response(`got ${text.length} bytes from ${info.remoteAddr.hostname}`);
    }
    if (url.pathname === "/stream") {
      const body = new ReadableStream({
        start(controller) {
          for (let i = 0; i < 3; i++) controller.enqueue(enc(`part${i};`));
          controller.close();
        },
      });
      return new Response(body, { headers: { "x-kind": "stream" } });
    }
    return new Response(`hello ${url.pathname} on ${url.host}`, { status: 201 });
  });
  try {
    const conn = await stacks.a.connectTCP(AddrPort.parse(`${LIVE_B}:80`));
    const pending = { bytes: new Uint8Array(0) };
    await conn.writeAll(enc("GET /one HTTP/1.1\r\nHost: web\r\n\r\n"));
    const first = await readResponse(conn, pending);
    assert.match(first.head, /^HTTP\/1.1 201 /);
    assert.equal(first.body, "hello /one on web");
    // The same connection again: keep-alive; a chunked request body.
    await conn.writeAll(enc(
      "POST /up HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    ));
    const second = await readResponse(conn, pending);
    assert.equal(second.body, `got 11 bytes from ${LIVE_A}`);
    await conn.writeAll(enc("GET /stream HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n"));
    const third = await readResponse(conn, pending);
    assert.match(third.head, /x-kind: stream/i);
    assert.equal(third.body, "part0;part1;part2;");
    assert.equal(await conn.read(new Uint8Array(1)), null, "closed after Connection: close");
    conn.close();
  } finally {
    await server.close();
  }
  await new Promise((r) => setTimeout(r, 50));
  const snapshot = stacks.b.snapshot();
  assert.equal(snapshot.tcpConnections - snapshot.timeWait, 0);
  assert.equal(snapshot.bufferedBytes, 0);
  assert.equal(snapshot.listeners, 0);
  stacks.close();
});

Deno.test("serveNodeHttp: a plain node:http server takes mesh connections, kept alive", async () => {
  const stacks = liveStacks();
  const server = http.createServer((req, res) => {
    res.setHeader("content-type", "text/plain");
    res.end(`node:http saw ${req.method} ${req.url} from ${req.socket.remoteAddress}`);
  });
  const running = serveNodeHttp(stacks.b.listenTCP(8080), server);
  try {
    const conn = await stacks.a.connectTCP(AddrPort.parse(`${LIVE_B}:8080`));
    const pending = { bytes: new Uint8Array(0) };
    for (const path of ["/x", "/y"]) {
      await conn.writeAll(enc(`GET ${path} HTTP/1.1\r\nHost: b\r\n\r\n`));
      const answer = await readResponse(conn, pending);
      assert.match(answer.head, /^HTTP\/1.1 200 /);
      assert.equal(answer.body, `node:http saw GET ${path} from ${LIVE_A}`);
    }
    conn.close();
  } finally {
    await running.close();
    stacks.close();
  }
});
