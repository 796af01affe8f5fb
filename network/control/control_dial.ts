/**
 * Opening a TCP or TLS connection to the control server (and to DERP
 * servers, which dial the same way), with failures sorted into
 * {@link ControlUnreachableError} and {@link ControlTLSError}. When the
 * proxy settings name a proxy for the URL, the TCP connection is a CONNECT
 * tunnel through it (network/proxy/) and TLS runs inside the tunnel; the
 * proxy's own failures keep their `Proxy*Error` types.
 *
 * Dial policy: we connect to exactly the scheme, host and port of the server
 * URL (http → TCP, default port 80; https → TLS, default port 443). The Go
 * client also races plain port 80 against 443 for https URLs (reference
 * §3.2); we don't, because Noise already protects the payload either way and
 * a Headscale/Nexus deployment always serves its own URL. TLS certificates
 * are verified (the Go client only logs failures on the upgrade connection),
 * so a misconfigured server fails loudly at `/key` and `/ts2021` alike.
 */
import { openConnectTunnel } from "../proxy/connect_tunnel.ts";
import type { ProxyConfig } from "../proxy/proxy_config.ts";
import { UnexpectedEOFError } from "./conn_reader.ts";
import {
  ControlError,
  ControlProtocolError,
  ControlTLSError,
  ControlUnreachableError,
} from "./control_errors.ts";

/** Options of {@link dialControlServer}. */
export interface DialOptions {
  /** Extra trusted CA certificates (PEM), added to the system roots. */
  caCerts?: string[];
  /** Aborts the dial; the error is then the signal's reason. */
  signal?: AbortSignal;
  /** HTTP proxy settings; the URL's proxy, if any, carries the connection. */
  proxy?: ProxyConfig;
  /**
   * Address to connect to instead of the URL's host, when not through a
   * proxy (a DERP node's `IPv4`/`IPv6`); TLS still verifies the URL's host.
   */
  dialHostname?: string;
  /** Name TLS sends (SNI) and verifies instead of the URL's host (a DERP node's `CertName`). */
  tlsServerName?: string;
}

/** Host, port and transport taken from a control server URL. */
export interface ServerAddress {
  /** Host name or IP literal, without IPv6 brackets. */
  hostname: string;
  /** TCP port. */
  port: number;
  /** Whether the URL is https. */
  tls: boolean;
  /** `host[:port]` as written in the URL, for Host headers. */
  authority: string;
}

/** Splits a control server URL into what a dial needs. */
export function serverAddress(url: URL): ServerAddress {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`control server URL must be http or https: ${url.protocol}`);
  }
  const tls = url.protocol === "https:";
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return { hostname, port, tls, authority: url.host };
}

/** A connection as the control client uses it. */
export type ControlConn = Deno.Conn | Deno.TlsConn;

/**
 * Connects (and for https completes the TLS handshake). Throws
 * {@link ControlUnreachableError}, {@link ControlTLSError}, or the abort
 * reason when `signal` fires.
 */
export async function dialControlServer(url: URL, options: DialOptions = {}): Promise<ControlConn> {
  const address = serverAddress(url);
  const serverURL = url.origin;
  const { signal } = options;
  signal?.throwIfAborted();
  const proxy = options.proxy?.proxyFor(url);
  let tcp: Deno.TcpConn;
  if (proxy) {
    // Proxy errors (unreachable, 407, 403 …) are the proxy's, not the server's: they pass as they are.
    tcp = await openConnectTunnel(proxy, address, { signal });
  } else {
    try {
      tcp = await Deno.connect({
        hostname: options.dialHostname ?? address.hostname,
        port: address.port,
        signal,
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw classifyDialError(err, address, serverURL);
    }
  }
  if (!address.tls) return tcp;
  let tls: Deno.TlsConn | undefined;
  const onAbort = () => {
    try {
      (tls ?? tcp).close();
    } catch {
      // Already closed.
    }
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    tls = await Deno.startTls(tcp, {
      hostname: options.tlsServerName ?? address.hostname,
      caCerts: options.caCerts,
      alpnProtocols: ["http/1.1"],
    });
    await tls.handshake();
    return tls;
  } catch (err) {
    onAbort();
    if (signal?.aborted) throw signal.reason;
    throw classifyDialError(err, address, serverURL, true);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Sorts a connection-level error into the control client's typed errors.
 * `duringTls` says whether it happened in the TLS handshake.
 */
export function classifyDialError(
  err: unknown,
  address: ServerAddress,
  serverURL: string,
  duringTls = false,
): Error {
  if (err instanceof ControlUnreachableError || err instanceof ControlTLSError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const where = `${address.hostname}:${address.port}`;
  if (
    duringTls &&
    (err instanceof Deno.errors.InvalidData || /certificate|tls|handshake|alert/i.test(message))
  ) {
    return new ControlTLSError(`TLS with ${where} failed: ${message}`, { serverURL, cause: err });
  }
  if (err instanceof Deno.errors.ConnectionRefused) {
    return new ControlUnreachableError(`connection to ${where} refused`, { serverURL, cause: err });
  }
  if (err instanceof Deno.errors.TimedOut) {
    return new ControlUnreachableError(`connection to ${where} timed out`, {
      serverURL,
      cause: err,
    });
  }
  if (/lookup address|name or service not known|no address associated|dns/i.test(message)) {
    return new ControlUnreachableError(`cannot resolve ${address.hostname}: ${message}`, {
      serverURL,
      cause: err,
    });
  }
  return new ControlUnreachableError(`cannot connect to ${where}: ${message}`, {
    serverURL,
    cause: err,
  });
}

/**
 * Maps an error from an HTTP/1.1 exchange on an open connection: typed
 * control errors pass through; resets and TLS failures are sorted; anything
 * else (garbage, early close) means the server is not a control server.
 */
export function classifyExchangeError(err: unknown, serverURL: string, what: string): Error {
  if (err instanceof ControlError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Deno.errors.InvalidData || /certificate|tls alert/i.test(message)) {
    return new ControlTLSError(`${what} at ${serverURL}: TLS failed: ${message}`, {
      serverURL,
      cause: err,
    });
  }
  if (
    err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.BrokenPipe || err instanceof Deno.errors.TimedOut
  ) {
    return new ControlUnreachableError(`${what} at ${serverURL}: ${message}`, {
      serverURL,
      cause: err,
    });
  }
  const detail = err instanceof UnexpectedEOFError
    ? "connection closed without a response"
    : message;
  return new ControlProtocolError(
    `${what} at ${serverURL}: ${detail}; is this a Headscale/Nexus URL?`,
    { serverURL, cause: err },
  );
}

/** Writes every byte of `data`. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}

/** Closes a connection, ignoring "already closed". */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
