/**
 * The local API server that `citadel work` runs (the protocol is in
 * localapi/protocol.ts): it answers `GET /status` and `POST /ping` from the
 * running node.
 *
 * The server refuses to start in a directory that is not owned by this user
 * or that others can write to (they could swap the socket), and replaces a
 * socket file only when nobody listens on it (left by a process that died).
 *
 * @module
 */
import type { NodeStatus, PingOptions, PingResult } from "../network/mod.ts";
import type { WorkerStatus } from "../worker/mod.ts";
import { STATE_FILE_MODE } from "../state/mod.ts";
import { probeLocalApi } from "./client.ts";
import { LocalApiError } from "./errors.ts";
import {
  type ErrorBody,
  LOCAL_API_MAX_PING_TIMEOUT_MS,
  localApiSocketPath,
  localApiSupported,
  type LocalStatus,
  PING_ERROR_STATUS,
  PING_PATH,
  STATUS_PATH,
} from "./protocol.ts";

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
  /** The job loop's status, or null when `work` runs none (the default). */
  worker?: () => WorkerStatus | null;
}

/** A running local API server. */
export interface LocalApiServer {
  /** The socket's path. */
  readonly path: string;
  /** Stops serving and removes the socket file. */
  close(): Promise<void>;
}

function jsonResponse(status: number, body: unknown, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function errorResponse(status: number, body: ErrorBody, headers: HeadersInit = {}): Response {
  return jsonResponse(status, body, headers);
}

/** The request handler, exported for tests. */
export function localApiHandler(
  options: Omit<LocalApiServerOptions, "stateDir">,
): (request: Request) => Promise<Response> {
  return async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (path === PING_PATH) {
      if (request.method !== "POST") {
        return errorResponse(405, { error: "method not allowed" }, { allow: "POST" });
      }
      return await handlePing(request, options.ping);
    }
    if (path !== STATUS_PATH) return errorResponse(404, { error: "not found" });
    if (request.method !== "GET") {
      return errorResponse(405, { error: "method not allowed" }, { allow: "GET" });
    }
    const status: NodeStatus = options.status() ?? {
      connected: false,
      nodeName: null,
      nodeId: null,
      nodeIP: null,
      nodeIPv6: null,
      nexus: options.nexus,
      keyExpiry: null,
      peers: [],
    };
    const body: LocalStatus = { ...status, worker: options.worker?.() ?? null };
    return jsonResponse(200, body);
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
    return errorResponse(400, { error: "the body is not JSON", name: "BadRequest" });
  }
  const { target, timeoutMs } = (body ?? {}) as Record<string, unknown>;
  if (typeof target !== "string" || target === "") {
    return errorResponse(400, { error: "target must be a non-empty string", name: "BadRequest" });
  }
  if (
    typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0 ||
    timeoutMs > LOCAL_API_MAX_PING_TIMEOUT_MS
  ) {
    return errorResponse(400, {
      error: `timeoutMs must be a number in (0, ${LOCAL_API_MAX_PING_TIMEOUT_MS}]`,
      name: "BadRequest",
    });
  }
  if (!ping) {
    return errorResponse(503, {
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
    return errorResponse(PING_ERROR_STATUS[name] ?? 500, { error: message, name });
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
