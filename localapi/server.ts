/**
 * The local API that `citadel work` serves, so that other `citadel` commands
 * on the same machine ask the running node instead of starting a second
 * connection with the same identity (the Go original's quirk §8.2: every
 * command started its own mesh endpoint on the shared state).
 *
 * Protocol: HTTP/1.1 with JSON bodies over a Unix-domain socket,
 * `<state dir>/citadel.sock`, mode 0600, in the 0700 state directory:
 *
 * | Request       | Response                                                   |
 * |---------------|------------------------------------------------------------|
 * | `GET /status` | 200, the node's `NodeStatus` (as `citadel status --json`)  |
 * | `POST /ping`  | body `{"target","timeoutMs"}`: 200, the `PingResult`; or an  |
 * |               | error `{"error":message,"name":ErrorName}`: 400 bad body,  |
 * |               | 404 `PeerNotFoundError`, 504 `PingTimeoutError`, 503       |
 * |               | `DataPlaneNotStartedError`, 500 anything else              |
 * | other path    | 404 `{"error":"not found"}`                                |
 * | other method  | 405 `{"error":"method not allowed"}`, `Allow: GET` or `POST` |
 *
 * Access control is the file system's: only the directory's owner can reach
 * the socket. The server refuses to start in a directory that is not owned by
 * this user or that others can write to (they could swap the socket).
 *
 * Windows builds without Unix sockets get no local API; `citadel status`
 * then connects by itself.
 *
 * @module
 */
import type { NodeStatus, PingOptions, PingResult } from "../network/mod.ts";
import { localApiSocketPath, STATE_FILE_MODE } from "../state/mod.ts";
import { LocalApiError, probeLocalApi } from "./client.ts";

/** What the server reports and how. */
export interface LocalApiServerOptions {
  /** The state directory; the socket is created in it. */
  stateDir: string;
  /** The current status; null when the node has none (reported as disconnected). */
  status: () => NodeStatus | null;
  /** The Nexus URL, for a status when the node has none yet. */
  nexus: string;
  /** Pings a peer through the node's data plane; `POST /ping` answers 503 when absent. */
  ping?: (target: string, options: PingOptions) => Promise<PingResult>;
}

/** Longest ping wait a client may ask for, so a request cannot hold the server for long. */
export const LOCAL_API_MAX_PING_TIMEOUT_MS = 60_000;

/** HTTP status of a failed `POST /ping`, by error name. */
const PING_ERROR_STATUS: Record<string, number> = {
  PeerNotFoundError: 404,
  PingTimeoutError: 504,
  DataPlaneNotStartedError: 503,
};

/** A running local API server. */
export interface LocalApiServer {
  /** The socket's path. */
  readonly path: string;
  /** Stops serving and removes the socket file. */
  close(): Promise<void>;
}

/** Whether this runtime can serve and reach Unix-domain sockets. */
export function localApiSupported(): boolean {
  return Deno.build.os !== "windows";
}

function jsonResponse(status: number, body: unknown, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** The request handler, exported for tests. */
export function localApiHandler(
  options: Omit<LocalApiServerOptions, "stateDir">,
): (request: Request) => Promise<Response> {
  return async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (path === "/ping") {
      if (request.method !== "POST") {
        return jsonResponse(405, { error: "method not allowed" }, { allow: "POST" });
      }
      return await handlePing(request, options.ping);
    }
    if (path !== "/status") return jsonResponse(404, { error: "not found" });
    if (request.method !== "GET") {
      return jsonResponse(405, { error: "method not allowed" }, { allow: "GET" });
    }
    const status: NodeStatus = options.status() ?? {
      connected: false,
      nodeName: null,
      nodeIP: null,
      nodeIPv6: null,
      nexus: options.nexus,
      keyExpiry: null,
      peers: [],
    };
    return jsonResponse(200, status);
  };
}

async function handlePing(
  request: Request,
  ping: LocalApiServerOptions["ping"],
): Promise<Response> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return jsonResponse(400, { error: "the body is not JSON", name: "BadRequest" });
  }
  const { target, timeoutMs } = (body ?? {}) as Record<string, unknown>;
  if (typeof target !== "string" || target === "") {
    return jsonResponse(400, { error: "target must be a non-empty string", name: "BadRequest" });
  }
  if (
    typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0 ||
    timeoutMs > LOCAL_API_MAX_PING_TIMEOUT_MS
  ) {
    return jsonResponse(400, {
      error: `timeoutMs must be a number in (0, ${LOCAL_API_MAX_PING_TIMEOUT_MS}]`,
      name: "BadRequest",
    });
  }
  if (!ping) {
    return jsonResponse(503, {
      error: "this node has no data plane",
      name: "DataPlaneNotStartedError",
    });
  }
  try {
    // The client hanging up ends the wait early.
    return jsonResponse(200, await ping(target, { timeoutMs, signal: request.signal }));
  } catch (e) {
    const name = e instanceof Error ? e.name : "Error";
    const message = e instanceof Error ? e.message : String(e);
    return jsonResponse(PING_ERROR_STATUS[name] ?? 500, { error: message, name });
  }
}

async function checkDirectory(dir: string): Promise<void> {
  const info = await Deno.stat(dir);
  const uid = Deno.uid();
  if (!info.isDirectory) throw new LocalApiError(`${dir} is not a directory`);
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    throw new LocalApiError(
      `refusing to serve the local API: ${dir} belongs to uid ${info.uid}, not to this user`,
    );
  }
  if (info.mode !== null && (info.mode & 0o022) !== 0) {
    throw new LocalApiError(
      `refusing to serve the local API: others can write to ${dir} ` +
        `(mode ${(info.mode & 0o777).toString(8)})`,
    );
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!info.isSocket) {
    throw new LocalApiError(`refusing to replace ${path}: it exists and is not a socket`);
  }
  if (await probeLocalApi(path)) {
    throw new LocalApiError(`another process already serves the local API on ${path}`);
  }
  // A socket nobody listens on is left over from a process that died.
  await Deno.remove(path);
}

/**
 * Serves the local API on `<stateDir>/citadel.sock`; null where Unix sockets
 * are unavailable.
 *
 * @throws {LocalApiError} when the directory is not safe or a server already runs.
 */
export async function startLocalApi(
  options: LocalApiServerOptions,
): Promise<LocalApiServer | null> {
  if (!localApiSupported()) return null;
  const path = localApiSocketPath(options.stateDir);
  await checkDirectory(options.stateDir);
  await removeStaleSocket(path);
  const server = Deno.serve(
    { transport: "unix", path, onListen: () => {} },
    localApiHandler(options),
  );
  try {
    // The 0700 directory already keeps others out; this narrows the socket itself.
    await Deno.chmod(path, STATE_FILE_MODE);
  } catch (e) {
    await server.shutdown();
    throw e;
  }
  let closed = false;
  return {
    path,
    async close() {
      if (closed) return;
      closed = true;
      await server.shutdown();
      try {
        await Deno.remove(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    },
  };
}
