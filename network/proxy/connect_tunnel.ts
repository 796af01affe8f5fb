/**
 * A TCP tunnel through an HTTP proxy (RFC 9110 §9.3.6, `CONNECT`): connect
 * to the proxy, ask it for `host:port`, and on a 2xx answer hand back the
 * connection, which from then on carries the bytes of the destination. TLS
 * to the destination, when wanted, is the caller's and runs inside the
 * tunnel, so the proxy sees only the destination's name and port.
 *
 * The destination is named, not resolved: the proxy looks the name up, as
 * tailscaled's DERP client and Go's `net/http` let it. Credentials in the
 * proxy URL (`http://user:password@proxy:3128`) are sent as
 * `Proxy-Authorization: Basic` (RFC 7617), percent-decoded first as Go's
 * `url.User` does; they appear in no message.
 *
 * Only `http://` proxies: TLS to the proxy itself would put the
 * destination's TLS inside a second TLS layer, which `Deno.startTls` (TCP
 * connections only) cannot do.
 *
 * @module
 */
import { ConnReader, UnexpectedEOFError } from "../control/conn_reader.ts";
import { formatRequest, HttpParseError, readResponseHead } from "../control/http1_client.ts";
import type { ProxyEndpoint } from "./proxy_config.ts";
import {
  ProxyAuthError,
  ProxyProtocolError,
  ProxyRefusedError,
  ProxyUnreachableError,
} from "./proxy_errors.ts";

/** Where the tunnel should lead. */
export interface TunnelTarget {
  /** Host name or IP literal, without IPv6 brackets. */
  hostname: string;
  /** TCP port. */
  port: number;
}

/** Options of {@link openConnectTunnel}. */
export interface TunnelOptions {
  /** Aborts the tunnel; the error is then the signal's reason. */
  signal?: AbortSignal;
}

/** `host:port` with brackets around an IPv6 literal, as CONNECT and Host want it. */
export function tunnelAuthority(target: TunnelTarget): string {
  const host = target.hostname.includes(":") ? `[${target.hostname}]` : target.hostname;
  return `${host}:${target.port}`;
}

/** The user name and password of a proxy URL, percent-decoded; undefined without any. */
export function proxyCredentials(url: URL): { username: string; password: string } | undefined {
  if (url.username === "" && url.password === "") return undefined;
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  return { username: decode(url.username), password: decode(url.password) };
}

/** The `Proxy-Authorization` value for the proxy URL's credentials, or undefined without any. */
export function proxyAuthorization(url: URL): string | undefined {
  const credentials = proxyCredentials(url);
  if (!credentials) return undefined;
  const pair = new TextEncoder().encode(`${credentials.username}:${credentials.password}`);
  return `Basic ${btoa(String.fromCharCode(...pair))}`;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/**
 * Opens a tunnel through `proxy` to `target`. Resolves with the connection
 * once the proxy said 2xx. Throws {@link ProxyUnreachableError},
 * {@link ProxyAuthError} (407), {@link ProxyRefusedError} (any other
 * status), {@link ProxyProtocolError}, or the signal's reason.
 */
export async function openConnectTunnel(
  proxy: ProxyEndpoint,
  target: TunnelTarget,
  options: TunnelOptions = {},
): Promise<Deno.TcpConn> {
  const { signal } = options;
  signal?.throwIfAborted();
  const authority = tunnelAuthority(target);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: proxy.hostname, port: proxy.port, signal });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    const reason = error instanceof Deno.errors.ConnectionRefused
      ? "connection refused"
      : error instanceof Deno.errors.TimedOut
      ? "timed out"
      : (error as Error).message;
    throw new ProxyUnreachableError(
      `cannot connect to the proxy ${proxy.display}: ${reason}`,
      proxy.display,
      { cause: error },
    );
  }
  const onAbort = () => closeQuietly(conn);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const auth = proxyAuthorization(proxy.url);
    const headers: [string, string][] = [["Host", authority], ["User-Agent", "citadel"]];
    if (auth) headers.push(["Proxy-Authorization", auth]);
    const request = formatRequest("CONNECT", authority, headers);
    let offset = 0;
    while (offset < request.length) offset += await conn.write(request.subarray(offset));
    const reader = new ConnReader(conn, 1024);
    const head = await readResponseHead(reader);
    if (head.status === 407) {
      throw new ProxyAuthError(
        auth
          ? `the proxy ${proxy.display} refused our credentials for CONNECT ${authority} (407)`
          : `the proxy ${proxy.display} requires credentials for CONNECT ${authority} (407)`,
        proxy.display,
        auth !== undefined,
      );
    }
    if (head.status < 200 || head.status > 299) {
      throw new ProxyRefusedError(
        `the proxy ${proxy.display} refused CONNECT ${authority}: ${head.status}${
          head.reason ? ` ${head.reason}` : ""
        }`,
        proxy.display,
        head.status,
        authority,
      );
    }
    // Nothing may follow the answer before we speak: the destination talks only after us.
    if (reader.buffered > 0) {
      throw new ProxyProtocolError(
        `the proxy ${proxy.display} sent data after its CONNECT answer`,
        proxy.display,
      );
    }
    return conn;
  } catch (error) {
    closeQuietly(conn);
    if (signal?.aborted) throw signal.reason;
    if (
      error instanceof ProxyAuthError || error instanceof ProxyRefusedError ||
      error instanceof ProxyProtocolError
    ) {
      throw error;
    }
    const detail = error instanceof UnexpectedEOFError
      ? "it closed the connection without an answer"
      : error instanceof HttpParseError
      ? `its answer is not HTTP (${error.message})`
      : (error as Error).message;
    throw new ProxyProtocolError(
      `CONNECT ${authority} through the proxy ${proxy.display} failed: ${detail}`,
      proxy.display,
      { cause: error },
    );
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
