/**
 * The local API server that `citadel work` runs (the protocol is in
 * localapi/protocol.ts): it answers `GET /status` and `POST /ping` from the
 * running node, and carries `POST /dial` and `POST /expose` (tunnels.ts),
 * over the limited HTTP/1.1 transport of http_server.ts.
 *
 * The server refuses to start in a directory that is not owned by this user
 * or that others can read, write or enter (they could reach or swap the
 * socket), and replaces a socket file only when nobody listens on it (left
 * by a process that died).
 *
 * The socket is never reachable by another user, at any instant: it is bound
 * inside a fresh 0700 directory (so the process umask does not matter),
 * narrowed to 0600 there, and only then renamed into place.
 *
 * @module
 */
import * as nodePath from "node:path";
import type { NodeStatus, PingOptions, PingResult } from "../network/mod.ts";
import type { WorkerStatus } from "../worker/mod.ts";
import { STATE_FILE_MODE } from "../state/mod.ts";
import { probeLocalApi } from "./client.ts";
import { LocalApiError, UnsafeDirectoryError } from "./errors.ts";
import { type ConnectionTakeover, type HttpServerLimits, LocalHttpServer } from "./http_server.ts";
import type { MeshDialer } from "../bridge/mesh_dialer.ts";
import { type ExposeStarter, TunnelEndpoints, type TunnelLimits } from "./tunnels.ts";
import {
  DIAL_PATH,
  type ErrorBody,
  EXPOSE_PATH,
  LOCAL_API_HEADER_TIMEOUT_MS,
  LOCAL_API_MAX_BODY_BYTES,
  LOCAL_API_MAX_CONNECTIONS,
  LOCAL_API_MAX_HEAD_BYTES,
  LOCAL_API_MAX_PING_TIMEOUT_MS,
  LOCAL_API_MAX_PINGS_IN_FLIGHT,
  LOCAL_API_REQUEST_TIMEOUT_MS,
  localApiSocketPath,
  localApiSupported,
  type LocalStatusBody,
  PING_ERROR_STATUS,
  PING_PATH,
  type ProcessReport,
  STATUS_PATH,
} from "./protocol.ts";

/** The local API's transport limits (protocol.ts names each). */
export const LOCAL_API_LIMITS: HttpServerLimits = {
  maxConnections: LOCAL_API_MAX_CONNECTIONS,
  maxHeadBytes: LOCAL_API_MAX_HEAD_BYTES,
  maxHeaderFields: 64,
  maxBodyBytes: LOCAL_API_MAX_BODY_BYTES,
  headerTimeoutMs: LOCAL_API_HEADER_TIMEOUT_MS,
  requestTimeoutMs: LOCAL_API_REQUEST_TIMEOUT_MS,
  // The longest ping a client may ask for, and some slack.
  handlerTimeoutMs: LOCAL_API_MAX_PING_TIMEOUT_MS + 5_000,
  writeTimeoutMs: 10_000,
};

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
  /** Opens mesh TCP connections for `POST /dial`; it answers 503 when absent. */
  dial?: MeshDialer;
  /** Starts forwards for `POST /expose`; it answers 503 when absent. */
  expose?: ExposeStarter;
  /** The job loop's status, or null when `work` runs none (the default). */
  worker?: () => WorkerStatus | null;
  /** The serving process's report, added to `GET /status` as `process` when given. */
  process?: () => ProcessReport;
  /** Transport limits; {@link LOCAL_API_LIMITS} by default (tests shorten the deadlines). */
  limits?: HttpServerLimits;
  /** Dials and forwards at once; protocol.ts's limits by default (tests lower them). */
  tunnelLimits?: Partial<TunnelLimits>;
  /** The transport's open connections, reported in `GET /status` (set by {@link startLocalApi}). */
  transport?: () => { connections: number; takeovers: number };
}

/** A running local API server. */
export interface LocalApiServer {
  /** The socket's path. */
  readonly path: string;
  /** The transport, for its counters. */
  readonly http: LocalHttpServer;
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
  options: Omit<LocalApiServerOptions, "stateDir" | "limits">,
): (request: Request) => Promise<Response | ConnectionTakeover> {
  let pingsInFlight = 0;
  const tunnels = new TunnelEndpoints(options.dial, options.expose, options.tunnelLimits);
  return async (request: Request): Promise<Response | ConnectionTakeover> => {
    const path = new URL(request.url).pathname;
    if (path.startsWith(`${DIAL_PATH}/`)) {
      if (request.method !== "GET") {
        return errorResponse(405, { error: "method not allowed" }, { allow: "GET" });
      }
      return await tunnels.outcome(path.slice(DIAL_PATH.length + 1));
    }
    if (path === DIAL_PATH || path === EXPOSE_PATH) {
      if (request.method !== "POST") {
        return errorResponse(405, { error: "method not allowed" }, { allow: "POST" });
      }
      return path === DIAL_PATH ? await tunnels.dial(request) : await tunnels.expose(request);
    }
    if (path === PING_PATH) {
      if (request.method !== "POST") {
        return errorResponse(405, { error: "method not allowed" }, { allow: "POST" });
      }
      if (pingsInFlight >= LOCAL_API_MAX_PINGS_IN_FLIGHT) {
        return errorResponse(503, {
          error: `more than ${LOCAL_API_MAX_PINGS_IN_FLIGHT} pings in flight`,
          name: "LocalApiBusy",
        });
      }
      pingsInFlight += 1;
      try {
        return await handlePing(request, options.ping);
      } finally {
        pingsInFlight -= 1;
      }
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
    const body: LocalStatusBody = {
      ...status,
      worker: options.worker?.() ?? null,
      ...(options.process ? { process: options.process() } : {}),
      ...(options.transport ? { localApi: options.transport() } : {}),
    };
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

/**
 * Refuses a directory another user owns or may read, write or enter: the
 * socket in it must be reachable by this user only. `uid` is this process's
 * (a parameter for tests).
 *
 * @throws {UnsafeDirectoryError} naming the fix.
 */
export async function checkSocketDirectory(
  dir: string,
  uid: number | null = Deno.uid(),
): Promise<void> {
  const info = await Deno.stat(dir);
  if (!info.isDirectory) throw new LocalApiError(`${dir} is not a directory`);
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    throw new UnsafeDirectoryError(
      dir,
      `it belongs to uid ${info.uid}, not to this user (uid ${uid})`,
      `Run citadel as the directory's owner, or give it a state directory of its own (--state-dir).`,
    );
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(3, "0");
    throw new UnsafeDirectoryError(
      dir,
      `other users can reach it (mode ${mode})`,
      `Make it private: chmod 700 ${dir}`,
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
  await checkSocketDirectory(options.stateDir);
  await removeStaleSocket(path);
  const listener = await listenPrivately(options.stateDir, path);
  let http: LocalHttpServer | null = null;
  const transport = () => ({
    connections: http?.openConnections ?? 0,
    takeovers: http?.openTakeovers ?? 0,
  });
  http = new LocalHttpServer(
    listener,
    localApiHandler({ ...options, transport }),
    options.limits ?? LOCAL_API_LIMITS,
  );
  let closed = false;
  const server = http;
  return {
    path,
    http: server,
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      try {
        await Deno.remove(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    },
  };
}

/**
 * Binds the socket in a fresh 0700 directory next to `path`, narrows it to
 * 0600, then renames it to `path`: no other user can reach it at any
 * instant, whatever the umask (Deno.listen creates the socket with the
 * umask's mode, and has no umask of its own).
 *
 * The staging path (`<dir>/.<8 hex>/s`) is one byte shorter than
 * `<dir>/citadel.sock`, so any state directory whose socket path fits a
 * Unix socket address (about 108 bytes) can be staged too.
 */
async function listenPrivately(dir: string, path: string): Promise<Deno.Listener> {
  const privateDir = await makePrivateDir(dir);
  const staging = nodePath.join(privateDir, "s");
  let listener: Deno.Listener | null = null;
  try {
    listener = Deno.listen({ transport: "unix", path: staging });
    await Deno.chmod(staging, STATE_FILE_MODE);
    await Deno.rename(staging, path);
    return listener;
  } catch (e) {
    listener?.close();
    throw e;
  } finally {
    await Deno.remove(privateDir, { recursive: true }).catch(() => {});
  }
}

/** A new directory `<dir>/.<8 hex>`, mode 0700 (a umask can only narrow that). */
async function makePrivateDir(dir: string): Promise<string> {
  for (let attempt = 0;; attempt++) {
    const name = `.${
      Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0"))
        .join("")
    }`;
    const candidate = nodePath.join(dir, name);
    try {
      await Deno.mkdir(candidate, { mode: 0o700 });
      return candidate;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists) || attempt >= 8) throw e;
    }
  }
}
