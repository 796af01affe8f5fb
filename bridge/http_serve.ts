/**
 * A standard HTTP server on a mesh listener. `Deno.serve` cannot take a
 * listener of our own (it binds its own TCP or Unix socket, and has no way
 * to be handed connections), but `node:http`'s server can: Deno's
 * `node:http` parses HTTP/1.1 on any stream it is given through its
 * `"connection"` event. So:
 *
 * - {@link meshSocket} wraps a mesh `TcpConn` as a `node:stream` Duplex
 *   (with `remoteAddress`, `remotePort`, …), for any `node:http` server:
 *   `server.emit("connection", meshSocket(conn))`.
 * - {@link serveHttp} runs a `Deno.serve`-style handler,
 *   `(request: Request, info) => Response`, on a mesh listener, through
 *   such a server: keep-alive, chunked bodies both ways, streaming
 *   responses.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Duplex, Readable } from "node:stream";
import type { TcpConn } from "../network/netstack/socket/tcp_conn.ts";

/** Chunk size of the socket's reads. */
const READ_CHUNK = 64 * 1024;

/** What a mesh socket adds to a Duplex, as `net.Socket` has it. */
export interface MeshSocket extends Duplex {
  /** The peer's mesh IP. */
  remoteAddress: string;
  /** The peer's port. */
  remotePort: number;
  /** "IPv4" or "IPv6". */
  remoteFamily: string;
  /** Our mesh IP. */
  localAddress: string;
  /** Our port. */
  localPort: number;
  /** Emits `"timeout"` after `ms` without reads or writes (0 turns it off), as `net.Socket`. */
  setTimeout(ms: number, callback?: () => void): this;
  /** Turns Nagle's algorithm off. */
  setNoDelay(noDelay?: boolean): this;
  /** Turns TCP keepalive on. */
  setKeepAlive(enable?: boolean): this;
}

/**
 * A `node:stream` Duplex over a mesh connection: reads pull from the
 * connection (so TCP's window closes when the reader stops), writes wait for
 * the send buffer, `end()` half-closes, `destroy()` closes.
 *
 * @example
 * ```ts
 * import http from "node:http";
 * const server = http.createServer((req, res) => res.end("hello\n"));
 * for await (const conn of node.listen(80)) server.emit("connection", meshSocket(conn));
 * ```
 */
export function meshSocket(conn: TcpConn): MeshSocket {
  let reading = false;
  let idleMs = 0;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const touch = () => {
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    idleTimer = idleMs > 0 && !socket.destroyed
      ? setTimeout(() => socket.emit("timeout"), idleMs)
      : undefined;
  };
  const socket = new Duplex({
    read() {
      if (reading) return;
      reading = true;
      void (async () => {
        try {
          for (;;) {
            const buffer = new Uint8Array(READ_CHUNK);
            const n = await conn.read(buffer);
            if (n === null) {
              socket.push(null);
              return;
            }
            touch();
            if (!socket.push(buffer.subarray(0, n))) return;
          }
        } catch (error) {
          socket.destroy(error as Error);
        } finally {
          reading = false;
        }
      })();
    },
    write(chunk: Uint8Array, _encoding, callback) {
      touch();
      conn.writeAll(chunk).then(() => callback(), (error) => callback(error));
    },
    final(callback) {
      conn.closeWrite().then(() => callback(), (error) => callback(error));
    },
    destroy(error, callback) {
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      idleTimer = undefined;
      conn.close();
      callback(error);
    },
  }) as MeshSocket;
  socket.remoteAddress = conn.remoteAddr.hostname;
  socket.remotePort = conn.remoteAddr.port;
  socket.remoteFamily = conn.remote.is4 ? "IPv4" : "IPv6";
  socket.localAddress = conn.localAddr.hostname;
  socket.localPort = conn.localAddr.port;
  socket.setTimeout = function (ms: number, callback?: () => void) {
    idleMs = ms;
    if (callback) this.once("timeout", callback);
    touch();
    return this;
  };
  socket.setNoDelay = function (noDelay = true) {
    conn.setNoDelay(noDelay);
    return this;
  };
  socket.setKeepAlive = function (enable = true) {
    conn.setKeepAlive(enable);
    return this;
  };
  return socket;
}

/** What a handler learns besides the request, as `Deno.ServeHandlerInfo`. */
export interface MeshServeInfo {
  /** The peer's end. */
  remoteAddr: { transport: "tcp"; hostname: string; port: number };
}

/** A `Deno.serve`-style handler. */
export type MeshServeHandler = (
  request: Request,
  info: MeshServeInfo,
) => Response | Promise<Response>;

/** A running {@link serveHttp}. */
export interface MeshHttpServer {
  /** The `node:http` server underneath (timeouts, events). */
  readonly server: Server;
  /** Resolves once the listener has closed and every connection has ended. */
  readonly finished: Promise<void>;
  /** Stops accepting and closes every connection. */
  close(): Promise<void>;
}

/** The mesh listener as {@link serveHttp} uses it (a `TcpListener` is one). */
export interface MeshListener extends AsyncIterable<TcpConn> {
  /** Stops listening. */
  close(): void;
}

/** A running {@link serveNodeHttp}. */
export interface MeshNodeHttp {
  /** Resolves once the listener has closed and every connection has ended. */
  readonly finished: Promise<void>;
  /** Stops accepting and closes every connection. */
  close(): Promise<void>;
}

/**
 * Feeds a `node:http` (or `node:https`-less) server the connections of a mesh
 * listener. The server is not `listen`ed on the host; it is marked as
 * listening until {@link MeshNodeHttp.close} (Deno's `node:http` closes a
 * kept-alive connection after each answer when its server does not listen).
 *
 * @example
 * ```ts
 * import http from "node:http";
 * const server = http.createServer((req, res) => res.end(`hello ${req.socket.remoteAddress}\n`));
 * const running = serveNodeHttp(node.listen(8080), server);
 * ```
 */
export function serveNodeHttp(listener: MeshListener, server: Server): MeshNodeHttp {
  let closed = false;
  Object.defineProperty(server, "listening", { configurable: true, get: () => !closed });
  const sockets = new Set<MeshSocket>();
  const accepting = (async () => {
    for await (const conn of listener) {
      const socket = meshSocket(conn);
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      server.emit("connection", socket);
    }
  })().catch(() => {});
  const finished = accepting.then(async () => {
    while (sockets.size > 0) {
      await Promise.all([...sockets].map((s) => new Promise((r) => s.once("close", r))));
    }
  });
  return {
    finished,
    async close() {
      closed = true;
      listener.close();
      for (const socket of sockets) socket.destroy();
      await finished;
    },
  };
}

function toRequest(req: IncomingMessage, socket: MeshSocket): Request {
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const host = headers.get("host") ??
    (socket.localAddress.includes(":")
      ? `[${socket.localAddress}]:${socket.localPort}`
      : `${socket.localAddress}:${socket.localPort}`);
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(new URL(req.url ?? "/", `http://${host}`), {
    method,
    headers,
    body: hasBody ? Readable.toWeb(req) as ReadableStream<Uint8Array> : undefined,
    // @ts-ignore: `duplex` is required by fetch for a streamed body, and missing from lib.dom.
    duplex: hasBody ? "half" : undefined,
  });
}

async function sendResponse(response: Response, res: ServerResponse): Promise<void> {
  const headers: [string, string][] = [];
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers.push([name, value]);
  });
  for (const cookie of response.headers.getSetCookie()) headers.push(["set-cookie", cookie]);
  res.writeHead(response.status, response.statusText || undefined, headers.flat());
  if (!response.body) {
    res.end();
    return;
  }
  for await (const chunk of response.body) {
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done);
          res.off("close", done);
          resolve();
        };
        res.on("drain", done);
        res.on("close", done);
      });
    }
    if (res.destroyed) return;
  }
  res.end();
}

/**
 * Serves HTTP/1.1 on a mesh listener with a `Deno.serve`-style handler. A
 * handler that throws answers 500.
 *
 * @example
 * ```ts
 * const server = serveHttp(node.listen(80), (request, info) =>
 *   new Response(`hello ${info.remoteAddr.hostname}, you asked for ${new URL(request.url).pathname}\n`));
 * await server.close();
 * ```
 */
export function serveHttp(listener: MeshListener, handler: MeshServeHandler): MeshHttpServer {
  const server = createServer((req, res) => {
    const socket = req.socket as MeshSocket;
    const info: MeshServeInfo = {
      remoteAddr: { transport: "tcp", hostname: socket.remoteAddress, port: socket.remotePort },
    };
    void (async () => {
      try {
        const response = await handler(toRequest(req, socket), info);
        await sendResponse(response, res);
      } catch {
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end("internal server error\n");
        } else {
          res.destroy();
        }
      }
    })();
  });
  const running = serveNodeHttp(listener, server);
  return { server, finished: running.finished, close: () => running.close() };
}
