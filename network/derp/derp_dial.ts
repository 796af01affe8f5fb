/**
 * Opening the TCP or TLS connection to a DERP server (data-plane reference
 * §3.1), before the HTTP upgrade: control/control_dial.ts does the dialling
 * (the URL's host and port or the node's own address, TLS verified against
 * the system roots plus the extra CA certificates, through an HTTP proxy
 * when the proxy settings name one), and this sorts its failures into the
 * DERP client's errors. A proxy's refusal keeps its own `Proxy*Error` type,
 * so that a wrong proxy password is not mistaken for a DERP outage.
 *
 * @module
 */
import { type ControlConn, dialControlServer } from "../control/control_dial.ts";
import { ControlTLSError } from "../control/control_errors.ts";
import type { ProxyConfig } from "../proxy/proxy_config.ts";
import { ProxyError } from "../proxy/proxy_errors.ts";
import { DerpConnectError, DerpTLSError } from "./derp_errors.ts";

/** How to reach a DERP server. */
export interface DerpDialOptions {
  /** Extra trusted CA certificates (PEM) for `https:` servers. */
  caCerts?: string[];
  /** HTTP proxy settings; the URL's proxy, if any, carries the connection (CONNECT). */
  proxy?: ProxyConfig;
  /** Address to connect to instead of the URL's host when not through a proxy. */
  dialHostname?: string;
  /** Name TLS sends and verifies instead of the URL's host. */
  tlsServerName?: string;
  /** Aborts the dial; the error is then the signal's reason. */
  signal: AbortSignal;
}

/**
 * Connects to the DERP server at `url`. Throws {@link DerpTLSError} when
 * its certificate is not accepted, {@link DerpConnectError} for any other
 * connection failure, a `ProxyError` from the proxy, or the signal's reason.
 */
export async function dialDerpServer(url: URL, options: DerpDialOptions): Promise<ControlConn> {
  try {
    return await dialControlServer(url, options);
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason;
    if (error instanceof ProxyError) throw error;
    if (error instanceof ControlTLSError) {
      const detail = (error.cause as Error | undefined)?.message ?? error.message;
      throw new DerpTLSError(`TLS with DERP server ${url.origin} failed: ${detail}`, {
        cause: error,
      });
    }
    throw new DerpConnectError(
      `cannot connect to DERP server ${url.origin}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
