/**
 * Learning the server's Noise public key: `GET {server}/key?v=<capver>`
 * (control protocol reference §2). This plain HTTP(S) fetch is what binds
 * the server's identity; everything after it is authenticated by Noise.
 */
import { MachinePublicKey } from "../crypto/keys.ts";
import { ConnReader } from "./conn_reader.ts";
import {
  classifyExchangeError,
  closeQuietly,
  dialControlServer,
  type DialOptions,
  serverAddress,
  writeAll,
} from "./control_dial.ts";
import { ControlProtocolError, UnsupportedVersionError } from "./control_errors.ts";
import { formatRequest, readResponseBody, readResponseHead } from "./http1_client.ts";

/** Largest `/key` response body read, as in the Go client (§2). */
export const MAX_KEY_RESPONSE_LENGTH = 64 * 1024;

/** Options of {@link fetchServerKey}. */
export interface KeyDiscoveryOptions extends DialOptions {
  /** Capability version sent as `v`. */
  capabilityVersion: number;
}

/** URL of `/key` under a server URL (any path prefix is kept). */
export function keyURL(serverURL: URL, capabilityVersion: number): URL {
  const url = new URL(serverURL.href);
  url.pathname = url.pathname.replace(/\/+$/, "") + "/key";
  url.search = `?v=${capabilityVersion}`;
  url.hash = "";
  return url;
}

/**
 * Fetches and parses the server's Noise key. Throws ControlUnreachableError,
 * ControlTLSError, {@link UnsupportedVersionError} or
 * {@link ControlProtocolError}.
 */
export async function fetchServerKey(
  serverURL: URL,
  options: KeyDiscoveryOptions,
): Promise<MachinePublicKey> {
  const url = keyURL(serverURL, options.capabilityVersion);
  const origin = serverURL.origin;
  const conn = await dialControlServer(url, options);
  const onAbort = () => closeQuietly(conn);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await writeAll(
      conn,
      formatRequest("GET", url.pathname + url.search, [
        ["Host", serverAddress(url).authority],
        ["User-Agent", "citadel"],
        ["Accept", "application/json"],
        ["Connection", "close"],
      ]),
    );
    const reader = new ConnReader(conn);
    const head = await readResponseHead(reader);
    const body = await readResponseBody(reader, head, MAX_KEY_RESPONSE_LENGTH);
    if (body.truncated) {
      throw new ControlProtocolError(
        `GET /key at ${origin} returned more than ${MAX_KEY_RESPONSE_LENGTH} bytes; is this a Headscale/Nexus URL?`,
        { serverURL: origin, status: head.status },
      );
    }
    return parseServerKeyResponse(
      head.status,
      new TextDecoder().decode(body.bytes),
      options.capabilityVersion,
      origin,
    );
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw classifyExchangeError(err, origin, "GET /key");
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    closeQuietly(conn);
  }
}

/**
 * Interprets a `/key` response (status and body text). Pure; throws the
 * same typed errors as {@link fetchServerKey}.
 */
export function parseServerKeyResponse(
  status: number,
  body: string,
  capabilityVersion: number,
  serverURL: string,
): MachinePublicKey {
  if (status === 400 && /unsupported client version/i.test(body)) {
    throw new UnsupportedVersionError(capabilityVersion, body.trim().slice(0, 200), { serverURL });
  }
  if (status !== 200) {
    throw new ControlProtocolError(
      `GET /key at ${serverURL} answered HTTP ${status}${
        body.trim() ? ` (${body.trim().slice(0, 200)})` : ""
      }; is this a Headscale/Nexus URL?`,
      { serverURL, status },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new ControlProtocolError(
      `GET /key at ${serverURL} did not return JSON; is this a Headscale/Nexus URL?`,
      { serverURL, status },
    );
  }
  const publicKey = (value as Record<string, unknown> | null)?.publicKey;
  if (typeof publicKey !== "string") {
    throw new ControlProtocolError(
      `GET /key at ${serverURL} returned no publicKey; is this a Headscale/Nexus URL?`,
      { serverURL, status },
    );
  }
  let key: MachinePublicKey;
  try {
    key = MachinePublicKey.parse(publicKey);
  } catch (err) {
    throw new ControlProtocolError(
      `GET /key at ${serverURL} returned a malformed publicKey: ${(err as Error).message}`,
      { serverURL, status, cause: err },
    );
  }
  if (key.isZero()) {
    throw new ControlProtocolError(
      `the control server at ${serverURL} is too old: it has no Noise key`,
      { serverURL, status },
    );
  }
  return key;
}
