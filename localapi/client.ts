/**
 * The client side of the local API (the protocol is in localapi/protocol.ts):
 * how `citadel status` and `citadel ping` ask a running `citadel work`.
 *
 * "Not running" is: no socket file, or a socket file nobody listens on (left
 * by a process that died). A listener that accepts but does not answer within
 * the timeout is an error, not "not running": starting a second connection
 * next to a live but stuck worker would present the same node key twice.
 *
 * @module
 */
import type { PingResult } from "../network/mod.ts";
import { LocalApiError } from "./errors.ts";
import {
  LOCAL_API_ORIGIN,
  localApiSupported,
  type LocalStatusBody,
  PING_PATH,
  type PingRequest,
  type ProcessReport,
  STATUS_PATH,
} from "./protocol.ts";

/** How long `status` waits for a running worker by default. */
export const LOCAL_API_TIMEOUT_MS = 3_000;

/** Whether something accepts connections on the socket at `path`. */
export async function probeLocalApi(path: string): Promise<boolean> {
  if (!localApiSupported()) return false;
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (e) {
    if (
      e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused ||
      e instanceof Deno.errors.PermissionDenied
    ) {
      return false;
    }
    throw e;
  }
  conn.close();
  return true;
}

function isNodeStatus(value: unknown): value is LocalStatusBody {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.connected === "boolean" && typeof v.nexus === "string" &&
    Array.isArray(v.peers) &&
    (v.worker === undefined || v.worker === null || typeof v.worker === "object");
}

/** A plausible {@link ProcessReport}: a pid, a command, permissions and a count. */
function isProcessReport(value: unknown): value is ProcessReport {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.pid === "number" && typeof v.command === "string" &&
    typeof v.permissions === "object" && v.permissions !== null &&
    typeof v.unhandledRejections === "number";
}

/** Builds the error for a worker that is there but answered badly. */
type Failure = (why: string) => LocalApiError;

/**
 * One request to the worker serving `socketPath`: null when no worker runs
 * there, else what `read` makes of the answer (its status and body text).
 *
 * @throws {LocalApiError} when the request fails or takes longer than `waitMs`.
 */
async function exchange<T>(
  socketPath: string,
  route: string,
  init: RequestInit,
  waitMs: number,
  read: (response: Response, text: string, failure: Failure) => T,
): Promise<T | null> {
  if (!await probeLocalApi(socketPath)) return null;
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
  const failure: Failure = (why) =>
    new LocalApiError(`citadel work is running (${socketPath}) but ${why}`);
  try {
    let response: Response;
    try {
      response = await fetch(`${LOCAL_API_ORIGIN}${route}`, {
        ...init,
        client,
        signal: AbortSignal.timeout(waitMs),
      });
    } catch (e) {
      const name = e instanceof Error ? e.name : "";
      throw failure(
        name === "TimeoutError"
          ? `did not answer within ${waitMs} ms`
          : `the request failed (${e instanceof Error ? e.message : String(e)})`,
      );
    }
    return read(response, await response.text(), failure);
  } finally {
    client.close();
  }
}

/**
 * Asks the worker serving `path` for its status. Resolves null when no
 * worker is running there.
 *
 * @throws {LocalApiError} when a worker is there but does
 *   not answer properly in time.
 */
export function queryLocalStatus(
  path: string,
  timeoutMs = LOCAL_API_TIMEOUT_MS,
): Promise<LocalStatusBody | null> {
  return exchange<LocalStatusBody>(path, STATUS_PATH, {}, timeoutMs, (response, text, failure) => {
    if (!response.ok) throw failure(`answered HTTP ${response.status}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw failure("answered something that is not JSON");
    }
    if (!isNodeStatus(body)) throw failure("answered a status of the wrong shape");
    const status: LocalStatusBody = body;
    // A report of the wrong shape is left out rather than passed on.
    if ("process" in status && !isProcessReport(status.process)) delete status.process;
    return status;
  });
}

/** What a running worker said to `POST /ping`: the result, or the name and message of its error. */
export type LocalPingOutcome =
  | { ok: true; result: PingResult }
  | { ok: false; name: string; message: string };

function isPingResult(value: unknown): value is PingResult {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.ip === "string" && typeof v.nodeName === "string" &&
    typeof v.latencyMs === "number" && (v.path === "relay" || v.path === "direct");
}

/**
 * Asks the worker serving `path` to ping `target` (its own wait is
 * `timeoutMs`). Resolves null when no worker is running there, else the
 * worker's result or error (`PeerNotFoundError`, `PingTimeoutError`,
 * `DataPlaneNotStartedError`, …) by name.
 *
 * @throws {LocalApiError} when a worker is there but does not answer properly.
 */
export function queryLocalPing(
  path: string,
  target: string,
  timeoutMs: number,
): Promise<LocalPingOutcome | null> {
  const request: PingRequest = { target, timeoutMs };
  const init: RequestInit = {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
  };
  const waitMs = timeoutMs + LOCAL_API_TIMEOUT_MS;
  return exchange<LocalPingOutcome>(path, PING_PATH, init, waitMs, (response, text, failure) => {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw failure(`answered HTTP ${response.status} with something that is not JSON`);
    }
    if (response.ok) {
      if (!isPingResult(body)) throw failure("answered a ping result of the wrong shape");
      return { ok: true, result: body };
    }
    const error = (body ?? {}) as Record<string, unknown>;
    if (typeof error.name !== "string" || typeof error.error !== "string") {
      // An older worker without POST /ping answers 404 {"error":"not found"}.
      throw failure(`answered HTTP ${response.status} (${String(error.error ?? "")})`);
    }
    return { ok: false, name: error.name, message: error.error };
  });
}
