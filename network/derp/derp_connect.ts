/**
 * Opening a DERP connection (data-plane reference §3.1): dial (derp_dial.ts:
 * TCP or TLS, through an HTTP proxy or not), `GET /derp` with
 * `Upgrade: DERP` (or fast start when the server key is known), then the
 * handshake of derp_handshake.ts up to ServerInfo. derp_client.ts wraps
 * what comes out in a {@link DerpClient}.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { concatBytes } from "../concat_bytes.ts";
import { ConnReader, UnexpectedEOFError } from "../control/conn_reader.ts";
import { closeQuietly, type ControlConn, writeAll } from "../control/control_dial.ts";
import { formatRequest, readResponseBody, readResponseHead } from "../control/http1_client.ts";
import { NodePublicKey } from "../crypto/keys.ts";
import type { RandomSource } from "../crypto/random.ts";
import { ProxyError } from "../proxy/proxy_errors.ts";
import type { DerpConnectOptions } from "./derp_client_types.ts";
import { dialDerpServer } from "./derp_dial.ts";
import {
  DerpConnectError,
  DerpError,
  DerpHandshakeError,
  DerpRefusedError,
  DerpTimeoutError,
} from "./derp_errors.ts";
import { type DerpFrame, FRAME_HEADER_LENGTH, parseFrame, parseFrameHeader } from "./derp_frame.ts";
import { DerpClientHandshake, type DerpServerInfo } from "./derp_handshake.ts";

/** Path of the DERP endpoint (§3.1). */
export const DERP_PATH = "/derp";
/** Header that asks the server to skip the 101 response (§3.1). */
export const FAST_START_HEADER = "Derp-Fast-Start";
/** Header naming the region's first node when we connect to another (§3.1). */
export const IDEAL_NODE_HEADER = "Ideal-Node";
/** Whole-connect limit: dial, TLS, upgrade and handshake (§3.6). */
export const DERP_CONNECT_TIMEOUT_MS = 10_000;

/** A connection past the handshake, ready for frames. */
export interface OpenedDerpConnection {
  conn: ControlConn;
  reader: ConnReader;
  /** The server's public key (from the ServerKey frame, checked against `Derp-Public-Key`). */
  serverKey: NodePublicKey;
  serverInfo: DerpServerInfo;
  /** The URL dialled (origin and path). */
  url: string;
}

/**
 * Connects, upgrades and completes the handshake. Throws
 * {@link DerpConnectError} (dial, TLS, HTTP status), {@link DerpRefusedError}
 * (the server closed the connection instead of admitting our key),
 * {@link DerpHandshakeError}, `DerpFrameError`, {@link DerpTimeoutError},
 * a `ProxyError`, or the signal's reason.
 */
export async function openDerpConnection(
  options: DerpConnectOptions & { clock: Clock; random: RandomSource },
): Promise<OpenedDerpConnection> {
  const url = derpURL(options.url);
  const { clock, random } = options;
  const timeoutMs = options.connectTimeoutMs ?? DERP_CONNECT_TIMEOUT_MS;
  const limit = new AbortController();
  const timer = clock.setTimeout(
    () => limit.abort(new DerpTimeoutError(`connect to ${url.href} took over ${timeoutMs} ms`)),
    timeoutMs,
  );
  const signal = options.signal ? AbortSignal.any([options.signal, limit.signal]) : limit.signal;
  let conn: ControlConn | undefined;
  const onAbort = () => conn && closeQuietly(conn);
  signal.addEventListener("abort", onAbort, { once: true });
  const shortKey = options.nodeKey.publicKey().toShortString();
  let phase: "dial" | "upgrade" | "handshake" = "dial";
  let handshake: DerpClientHandshake | undefined;
  try {
    signal.throwIfAborted();
    conn = await dialDerpServer(url, {
      caCerts: options.caCerts,
      proxy: options.proxy,
      dialHostname: options.dialHostname,
      tlsServerName: options.tlsServerName,
      signal,
    });
    phase = "upgrade";
    const headers: [string, string][] = [
      ["Host", url.host],
      ["User-Agent", "citadel"],
      ["Upgrade", "DERP"],
      ["Connection", "Upgrade"],
    ];
    if (options.idealNode) headers.push([IDEAL_NODE_HEADER, options.idealNode]);
    if (options.serverKey) headers.push([FAST_START_HEADER, "1"]);
    handshake = new DerpClientHandshake({
      nodeKey: options.nodeKey,
      random,
      preferred: options.preferred,
      serverKey: options.serverKey,
      info: {
        canAckPings: options.canAckPings ?? true,
        meshKey: options.meshKey,
        isProber: options.isProber,
        appName: options.appName,
      },
    });
    const request = formatRequest("GET", url.pathname, headers);
    const first = handshake.start().send;
    await writeAll(conn, first ? concatBytes([request, first]) : request);
    const reader = new ConnReader(conn);
    let headerKey: NodePublicKey | undefined;
    if (!options.serverKey) {
      const head = await readResponseHead(reader);
      if (head.status !== 101) {
        const body = await readResponseBody(reader, head, 512).catch(() => undefined);
        const text = body ? new TextDecoder().decode(body.bytes).trim() : "";
        throw new DerpConnectError(
          `GET ${url.pathname} at ${url.origin} answered HTTP ${head.status}${
            text ? ` (${text.slice(0, 200)})` : ""
          }; is this a DERP server?`,
          { status: head.status },
        );
      }
      const upgrade = head.headers.get("upgrade") ?? "";
      if (upgrade.toLowerCase() !== "derp") {
        throw new DerpConnectError(
          `GET ${url.pathname} at ${url.origin} switched to ${JSON.stringify(upgrade)}, not DERP`,
          { status: head.status },
        );
      }
      // derper sends bare hex, Headscale the `nodekey:` text form.
      const keyHex = head.headers.get("derp-public-key")?.replace(/^nodekey:/i, "");
      if (keyHex && /^[0-9a-f]{64}$/i.test(keyHex)) {
        headerKey = NodePublicKey.parse(NodePublicKey.PREFIX + keyHex.toLowerCase());
      }
    }
    phase = "handshake";
    let serverInfo: DerpServerInfo | undefined;
    while (!serverInfo) {
      const frame = await readFrame(reader);
      const step = handshake.receive(frame);
      if (step.send) await writeAll(conn, step.send);
      serverInfo = step.serverInfo;
    }
    const serverKey = handshake.serverKey!;
    if (headerKey && !headerKey.equals(serverKey)) {
      throw new DerpHandshakeError(
        `Derp-Public-Key ${headerKey.toShortString()} differs from the ServerKey frame's ${serverKey.toShortString()}`,
      );
    }
    return { conn, reader, serverKey, serverInfo, url: url.href };
  } catch (error) {
    if (conn) closeQuietly(conn);
    if (signal.aborted) throw signal.reason;
    if (error instanceof DerpError || error instanceof ProxyError) throw error;
    const ended = isConnectionEnd(error);
    if (ended && phase === "handshake" && handshake?.serverKey) {
      throw new DerpRefusedError(
        `DERP server ${url.origin} closed the connection after our ClientInfo: it does not admit node key ${shortKey}`,
        { cause: error },
      );
    }
    throw new DerpConnectError(
      `DERP ${phase} with ${url.origin} failed: ${
        ended ? "connection closed" : (error as Error).message
      }`,
      { cause: error },
    );
  } finally {
    clock.clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

/** The URL to dial: http(s) only, `/derp` when the path is empty. */
export function derpURL(input: string | URL): URL {
  const url = new URL(typeof input === "string" ? input : input.href);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`DERP server URL must be http or https, not ${url.protocol}`);
  }
  if (url.pathname === "" || url.pathname === "/") url.pathname = DERP_PATH;
  url.search = "";
  url.hash = "";
  return url;
}

async function readFrame(reader: ConnReader): Promise<DerpFrame> {
  const header = parseFrameHeader(await reader.readExact(FRAME_HEADER_LENGTH));
  return parseFrame(header.frameType, await reader.readExact(header.length));
}

/** Whether `error` means the server (or the network) ended the connection. */
export function isConnectionEnd(error: unknown): boolean {
  return error instanceof UnexpectedEOFError || error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted;
}
