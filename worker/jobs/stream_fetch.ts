/**
 * `fetch` over a byte stream the caller opens, for `http` jobs to a service on
 * a mesh peer: the request goes through `node:http` (HTTP/1.1) or
 * `node:https` (TLS over the stream, `node:tls`) whose `createConnection` is
 * that stream wrapped as a Node `Duplex`. One connection per request
 * (`Connection: close`).
 *
 * Why `node:http` and not a client of our own: it is the full HTTP/1.1 client
 * (chunked bodies, `Expect`, header limits, 1xx) and Deno runs it over any
 * `Duplex` passed as `createConnection` (measured: 50 requests over
 * `Duplex.fromWeb` of a `Deno.Conn` in ~70 ms on loopback, the same code path
 * as over a mesh `TcpConn`). Deno's own `fetch` cannot be given a socket.
 *
 * Differences from `fetch`: no redirects are followed (the 3xx is the
 * answer), no cookies, and no content decoding: a body is returned as sent,
 * and `Accept-Encoding` is sent only when the request has it. HTTPS checks
 * the certificate against the default roots, or only `caCerts` when given.
 *
 * Limits: response head 16 KiB (`node:http`'s default), the request body
 * read whole before sending (an `http` job's body is a payload string, at
 * most the payload limit); the response body is a stream the caller reads
 * as far as it wants.
 *
 * @module
 */
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { Duplex, Readable } from "node:stream";
import tls from "node:tls";
import type { RedisDuplex } from "../redis/dial.ts";

/** Opens the byte stream to `host:port` (e.g. a mesh TCP connection). */
export type StreamOpener = (
  host: string,
  port: number,
  signal?: AbortSignal,
) => Promise<RedisDuplex>;

/** Options of {@link fetchOverStream}. */
export interface StreamFetchOptions {
  /**
   * CA certificates (PEM) that `https:` trusts instead of the default roots
   * (Deno's, plus `DENO_CERT`). Instead, not besides: `node:tls` replaces the
   * roots with `ca`, and adding them back (`tls.rootCertificates`) needs
   * `--allow-sys=ca`, which `work` does not hold.
   */
  caCerts?: readonly string[];
}

/** Statuses whose response has no body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function defaultPort(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
}

/** The web streams of `stream` as a Node `Duplex` that closes `stream` when destroyed. */
function duplexOf(stream: RedisDuplex): Duplex {
  const duplex = Duplex.fromWeb({ readable: stream.readable, writable: stream.writable });
  duplex.once("close", () => void stream.close());
  return duplex;
}

/**
 * Sends `request` over a stream from `open` and resolves with the response;
 * rejects when the stream cannot be opened, the server breaks off, or
 * `request.signal` aborts (which also ends the response body).
 *
 * @example
 * ```ts
 * const response = await fetchOverStream(new Request("http://peer-a:8080/health"), meshDial);
 * console.log(response.status, await response.text());
 * ```
 */
export async function fetchOverStream(
  request: Request,
  open: StreamOpener,
  options: StreamFetchOptions = {},
): Promise<Response> {
  const url = new URL(request.url);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`unsupported URL scheme ${url.protocol}`);
  }
  const signal = request.signal;
  signal.throwIfAborted();
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = defaultPort(url);
  const body = request.body ? new Uint8Array(await request.arrayBuffer()) : null;
  const stream = await open(host, port, signal);
  if (signal.aborted) {
    await stream.close();
    signal.throwIfAborted();
  }
  const raw = duplexOf(stream);
  let socket: Duplex = raw;
  if (url.protocol === "https:") {
    socket = tls.connect({
      socket,
      servername: isIP(host) ? undefined : host,
      ...(options.caCerts?.length ? { ca: [...options.caCerts] } : {}),
      ALPNProtocols: ["http/1.1"],
    });
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of request.headers) headers[name] = value;
  headers["connection"] = "close";
  if (body !== null) headers["content-length"] = String(body.length);
  const client = url.protocol === "https:" ? https : http;
  const destroy = () => {
    socket.destroy();
    raw.destroy();
  };
  return await new Promise<Response>((resolve, reject) => {
    const req = client.request({
      method: request.method,
      host,
      port,
      path: `${url.pathname}${url.search}`,
      headers,
      createConnection: () => socket as never,
    });
    const onAbort = () => {
      const reason = signal.reason instanceof Error ? signal.reason : new Error("aborted");
      req.destroy(reason);
      destroy();
      reject(reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    req.once("error", (e) => {
      signal.removeEventListener("abort", onAbort);
      destroy();
      reject(e);
    });
    req.once("response", (res) => {
      const responseHeaders = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
        responseHeaders.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
      }
      const status = res.statusCode ?? 0;
      res.once("close", () => {
        signal.removeEventListener("abort", onAbort);
        destroy();
      });
      if (status < 200 || status > 599) {
        res.destroy();
        reject(new TypeError(`unsupported HTTP status ${status}`));
        return;
      }
      const web = NULL_BODY.has(status) || request.method === "HEAD"
        ? null
        : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
      if (web === null) res.resume();
      resolve(
        new Response(web, {
          status,
          statusText: res.statusMessage ?? "",
          headers: responseHeaders,
        }),
      );
    });
    req.end(body ?? undefined);
  });
}
