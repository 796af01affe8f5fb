/**
 * A small HTTP CONNECT proxy on 127.0.0.1 for tests: it logs every CONNECT target, can demand
 * Basic credentials (407 otherwise), can refuse targets (403), and resolves the names it is
 * asked for through a table (e.g. `*.test` → 127.0.0.1), so that clients reach loopback servers
 * by names that Go's proxy rules (and ours) do not exempt from proxying. It never connects
 * anywhere but 127.0.0.1 (or ::1 for an IPv6 loopback target).
 *
 * @module
 */

/** One CONNECT the proxy saw. */
export interface ProxyLogEntry {
  /** `host:port` as the client asked for it. */
  readonly target: string;
  /** Status the proxy answered with. */
  readonly status: number;
  /** Whether the request carried a `Proxy-Authorization` header. */
  readonly hadCredentials: boolean;
}

/** Options of {@link startConnectProxy}. */
export interface ConnectProxyOptions {
  /** Demand these Basic credentials (407 with `Proxy-Authenticate` otherwise). */
  readonly credentials?: { readonly username: string; readonly password: string };
  /** Answer 403 to targets this returns true for. */
  readonly forbid?: (target: string) => boolean;
  /**
   * Where a host name points; default: names ending in `.test` and `localhost` go to
   * 127.0.0.1, IP literals must be loopback, anything else gets 502.
   */
  readonly resolve?: (host: string) => string | undefined;
}

/** A running proxy. */
export interface ConnectProxy {
  /** `http://127.0.0.1:PORT` (no credentials). */
  readonly url: string;
  /** Listening port. */
  readonly port: number;
  /** Every CONNECT so far, in order. */
  readonly log: ProxyLogEntry[];
  /** The proxy URL with credentials embedded: `http://user:pass@127.0.0.1:PORT`. */
  urlWith(username: string, password: string): string;
  /** Stops listening and closes every tunnel. */
  close(): Promise<void>;
  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const CRLFCRLF = "\r\n\r\n";

function defaultResolve(host: string): string | undefined {
  if (host === "localhost" || host.endsWith(".test")) return "127.0.0.1";
  if (/^127\.\d+\.\d+\.\d+$/.test(host)) return host;
  if (host === "::1") return host;
  return undefined;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** Copies `from` to `to` until either side ends. */
async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      await writeAll(to, buffer.subarray(0, n));
    }
  } catch {
    // One side closed.
  } finally {
    closeQuietly(to);
    closeQuietly(from);
  }
}

/**
 * Starts the proxy on a free 127.0.0.1 port.
 *
 * @example
 * ```ts
 * await using proxy = startConnectProxy({ credentials: { username: "u", password: "p" } });
 * const env = { HTTPS_PROXY: proxy.urlWith("u", "p") };
 * ```
 */
export function startConnectProxy(options: ConnectProxyOptions = {}): ConnectProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const log: ProxyLogEntry[] = [];
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const resolve = options.resolve ?? defaultResolve;
  const expected = options.credentials
    ? `Basic ${
      btoa(
        String.fromCharCode(
          ...new TextEncoder().encode(
            `${options.credentials.username}:${options.credentials.password}`,
          ),
        ),
      )
    }`
    : undefined;

  const answer = (conn: Deno.Conn, status: number, reason: string, extra = "") =>
    writeAll(
      conn,
      new TextEncoder().encode(
        `HTTP/1.1 ${status} ${reason}\r\n${extra}Content-Length: 0\r\nConnection: close\r\n\r\n`,
      ),
    );

  const serve = async (client: Deno.Conn) => {
    conns.add(client);
    let upstream: Deno.Conn | undefined;
    try {
      // Read the request head byte-wise-ish: keep anything after it for the tunnel.
      let head = "";
      let rest = new Uint8Array(0);
      const buffer = new Uint8Array(4096);
      while (!head.includes(CRLFCRLF)) {
        const n = await client.read(buffer);
        if (n === null) return;
        const chunk = new TextDecoder("latin1").decode(buffer.subarray(0, n));
        const joined = head + chunk;
        const at = joined.indexOf(CRLFCRLF);
        if (at >= 0) {
          const headBytes = at + 4;
          const fromChunk = headBytes - head.length;
          rest = buffer.slice(fromChunk, n);
          head = joined.slice(0, headBytes);
        } else {
          head = joined;
        }
        if (head.length > 65536) return;
      }
      const [requestLine, ...headerLines] = head.split("\r\n");
      const match = /^CONNECT (\S+) HTTP\/1\.[01]$/.exec(requestLine);
      if (!match) {
        await answer(client, 405, "Method Not Allowed");
        return;
      }
      const target = match[1];
      const auth = headerLines.find((line) => /^proxy-authorization:/i.test(line))
        ?.replace(/^proxy-authorization:\s*/i, "");
      const record = (status: number) =>
        log.push({ target, status, hadCredentials: auth !== undefined });
      if (expected && auth !== expected) {
        record(407);
        await answer(
          client,
          407,
          "Proxy Authentication Required",
          'Proxy-Authenticate: Basic realm="citadel-test"\r\n',
        );
        return;
      }
      if (options.forbid?.(target)) {
        record(403);
        await answer(client, 403, "Forbidden");
        return;
      }
      const split = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
      const address = split ? resolve(split[1]) : undefined;
      if (!split || !address) {
        record(502);
        await answer(client, 502, "Bad Gateway");
        return;
      }
      try {
        upstream = await Deno.connect({ hostname: address, port: Number(split[2]) });
      } catch {
        record(502);
        await answer(client, 502, "Bad Gateway");
        return;
      }
      conns.add(upstream);
      record(200);
      await writeAll(
        client,
        new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n"),
      );
      if (rest.length > 0) await writeAll(upstream, rest);
      await Promise.all([pipe(client, upstream), pipe(upstream, client)]);
    } catch {
      // The client or the server went away.
    } finally {
      closeQuietly(client);
      if (upstream) closeQuietly(upstream);
      conns.delete(client);
      if (upstream) conns.delete(upstream);
    }
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const task = serve(conn);
        tasks.add(task);
        void task.finally(() => tasks.delete(task));
      }
    } catch {
      // Listener closed.
    }
  })();

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      listener.close();
    } catch {
      // Already closed.
    }
    for (const conn of conns) closeQuietly(conn);
    await accepting;
    await Promise.all([...tasks]);
  };
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    log,
    urlWith: (username, password) =>
      `http://${encodeURIComponent(username)}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    close,
    [Symbol.asyncDispose]: close,
  };
}
