/**
 * The HTTP/1.1 upgrade that turns a connection into a ts2021 Noise channel
 * (control protocol reference §3.1): `POST /ts2021` with
 * `Upgrade: tailscale-control-protocol`, `Connection: upgrade` and the
 * base64 Noise initiation in `X-Tailscale-Handshake`, answered by
 * `101 Switching Protocols`. The response head is parsed here; the bytes
 * after it (the start of the Noise response) stay in the returned reader.
 * Which host and port are dialed is explained in control_dial.ts.
 */
import { ConnReader } from "./conn_reader.ts";
import {
  classifyExchangeError,
  closeQuietly,
  type ControlConn,
  dialControlServer,
  type DialOptions,
  serverAddress,
  writeAll,
} from "./control_dial.ts";
import { ControlProtocolError } from "./control_errors.ts";
import {
  formatRequest,
  type Http1ResponseHead,
  readResponseBody,
  readResponseHead,
} from "./http1_client.ts";

/** Path of the upgrade endpoint (§3.1). */
export const UPGRADE_PATH = "/ts2021";
/** Value of the `Upgrade` header, request and response (§3.1). */
export const UPGRADE_PROTOCOL = "tailscale-control-protocol";
/** Header carrying the base64 initiation (§3.1). */
export const HANDSHAKE_HEADER = "X-Tailscale-Handshake";

/** A connection that the server has switched to the Noise protocol. */
export interface UpgradedConn {
  /** The TCP or TLS connection, now carrying Noise bytes. */
  conn: ControlConn;
  /** Reader over `conn`; it may already hold bytes that followed the 101 head. */
  reader: ConnReader;
}

/** URL of `/ts2021` under a server URL (any path prefix is kept). */
export function upgradeURL(serverURL: URL): URL {
  const url = new URL(serverURL.href);
  url.pathname = url.pathname.replace(/\/+$/, "") + UPGRADE_PATH;
  url.search = "";
  url.hash = "";
  return url;
}

/** The upgrade request bytes for an initiation. */
export function upgradeRequest(url: URL, initiation: Uint8Array): Uint8Array {
  return formatRequest("POST", url.pathname, [
    ["Host", serverAddress(url).authority],
    ["User-Agent", "citadel"],
    ["Upgrade", UPGRADE_PROTOCOL],
    ["Connection", "upgrade"],
    [HANDSHAKE_HEADER, btoa(String.fromCharCode(...initiation))],
  ]);
}

/** Throws unless `head` is a 101 switching to the ts2021 protocol. */
export function checkUpgradeResponse(head: Http1ResponseHead, serverURL: string, body = ""): void {
  if (head.status !== 101) {
    const detail = body.trim() ? ` (${body.trim().slice(0, 200)})` : "";
    throw new ControlProtocolError(
      `POST ${UPGRADE_PATH} at ${serverURL} answered HTTP ${head.status}${detail}; is this a Headscale/Nexus URL?`,
      { serverURL, status: head.status },
    );
  }
  const upgrade = head.headers.get("upgrade");
  if (upgrade !== UPGRADE_PROTOCOL) {
    throw new ControlProtocolError(
      `POST ${UPGRADE_PATH} at ${serverURL} switched to ${
        JSON.stringify(upgrade ?? "")
      } instead of ${UPGRADE_PROTOCOL}`,
      { serverURL, status: head.status },
    );
  }
}

/**
 * Dials the server and performs the upgrade. On success the caller owns
 * the connection. Throws ControlUnreachableError, ControlTLSError or
 * {@link ControlProtocolError}, or the abort reason.
 */
export async function upgradeToNoise(
  serverURL: URL,
  initiation: Uint8Array,
  options: DialOptions = {},
): Promise<UpgradedConn> {
  const url = upgradeURL(serverURL);
  const origin = serverURL.origin;
  const conn = await dialControlServer(url, options);
  const onAbort = () => closeQuietly(conn);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await writeAll(conn, upgradeRequest(url, initiation));
    const reader = new ConnReader(conn);
    const head = await readResponseHead(reader);
    if (head.status !== 101) {
      const body = await readResponseBody(reader, head, 1024).catch(() => undefined);
      checkUpgradeResponse(head, origin, body ? new TextDecoder().decode(body.bytes) : "");
    }
    checkUpgradeResponse(head, origin);
    return { conn, reader };
  } catch (err) {
    closeQuietly(conn);
    if (options.signal?.aborted) throw options.signal.reason;
    throw classifyExchangeError(err, origin, `POST ${UPGRADE_PATH}`);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
}
