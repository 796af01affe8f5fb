/**
 * The local API's protocol: how other `citadel` commands on the same machine
 * ask the running `citadel work` instead of starting a second connection with
 * the same identity (the Go original's quirk §8.2: every command started its
 * own mesh endpoint on the shared state). The server is localapi/server.ts,
 * the client localapi/client.ts.
 *
 * HTTP/1.1 with JSON bodies over a Unix-domain socket,
 * `<state dir>/citadel.sock` ({@link localApiSocketPath}), mode 0600, in the
 * 0700 state directory:
 *
 * | Request       | Response                                                   |
 * |---------------|------------------------------------------------------------|
 * | `GET /status` | 200, {@link LocalStatus}: the node's `NodeStatus` and its  |
 * |               | job loop's `worker` (as `citadel status --json`)           |
 * | `POST /ping`  | body {@link PingRequest}: 200, the `PingResult`; or an     |
 * |               | {@link ErrorBody}: 400 bad body, 404 `PeerNotFoundError`,  |
 * |               | 504 `PingTimeoutError`, 503 `DataPlaneNotStartedError`,    |
 * |               | 500 anything else                                          |
 * | `POST /dial`  | body {@link DialRequest}: 200 and then the raw TCP stream  |
 * |               | to the peer, both ways, until either side closes (as     |
 * |               | after HTTP CONNECT; half-close carried); or an error:     |
 * |               | 400, 404 `PeerNotFoundError`, 403                         |
 * |               | `ConnectionForbiddenError`, 502 `ConnectionRefusedError`, |
 * |               | 504 `ConnectionTimedOutError`, 503 busy or no data plane  |
 * |               | The 200 carries `x-citadel-dial-id`; once the stream has  |
 * |               | ended, `GET /dial/<id>` says how (a `DialOutcome`: the    |
 * |               | mesh connection's error, if it failed), since both ends   |
 * |               | of a Unix stream look alike to its reader                 |
 * | `POST /expose`| body {@link ExposeRequest}: 200 and then one JSON line    |
 * |               | per {@link ExposeEvent}; the forward lives as long as the |
 * |               | connection (the client closing it ends the forward); 409  |
 * |               | `AddressInUseError` when the port is taken                |
 * | other path    | 404 `{"error":"not found"}`                                |
 * | other method  | 405 `{"error":"method not allowed"}`, `Allow: GET` or `POST` |
 *
 * Access control is the file system's: only the directory's owner can reach
 * the socket. docs/cli.md documents the same table for users.
 *
 * Limits (a local client must not be able to exhaust the node): bodies up to
 * {@link LOCAL_API_MAX_BODY_BYTES} (413 past it, without reading on), heads
 * up to {@link LOCAL_API_MAX_HEAD_BYTES} (431), the head within
 * {@link LOCAL_API_HEADER_TIMEOUT_MS} and the whole request within
 * {@link LOCAL_API_REQUEST_TIMEOUT_MS}, {@link LOCAL_API_MAX_CONNECTIONS}
 * connections (idle ones make room for new ones), one request per
 * connection, {@link LOCAL_API_MAX_PINGS_IN_FLIGHT} pings at once (503
 * `LocalApiBusy` past it), {@link LOCAL_API_MAX_TUNNELS} dials (pending or
 * relaying) and {@link LOCAL_API_MAX_EXPOSES} forwards at once (503 past
 * them); a taken-over connection counts towards these, not towards
 * {@link LOCAL_API_MAX_CONNECTIONS}.
 *
 * @module
 */
import type { NodeStatus } from "../network/mod.ts";
import type { WorkerStatus } from "../worker/mod.ts";

/**
 * The socket's path in a state directory. The file name is state/'s
 * (`LOCAL_API_SOCKET_NAME`), because the state store removes the socket
 * with the rest of the node's files when it clears them.
 */
export { localApiSocketPath } from "../state/mod.ts";

/**
 * The body of `GET /status`: the node's status and, when `work` runs a job
 * loop (`--redis`), the loop's `worker` status (null without one; absent
 * from a server older than the job loop).
 */
export interface LocalStatus extends NodeStatus {
  /** The job loop's status, or null when `work` runs none. */
  worker?: WorkerStatus | null;
}

/** `GET`: the node's status. */
export const STATUS_PATH = "/status";
/** `POST` with a {@link PingRequest}: ping a peer through the node's data plane. */
export const PING_PATH = "/ping";
/** `POST` with a {@link DialRequest}: a TCP connection to a peer, carried on this connection. */
export const DIAL_PATH = "/dial";
/** `POST` with an {@link ExposeRequest}: forward a mesh port while this connection lasts. */
export const EXPOSE_PATH = "/expose";
/** The origin clients put in request URLs; the socket, not the host name, picks the server. */
export const LOCAL_API_ORIGIN = "http://citadel";

/** Longest ping wait a client may ask for, so a request cannot hold the server for long. */
export const LOCAL_API_MAX_PING_TIMEOUT_MS = 60_000;

/** Largest request body; a bigger `Content-Length` is answered 413 without reading on. */
export const LOCAL_API_MAX_BODY_BYTES = 64 * 1024;
/** Largest request head (request line and header fields); more is 431. */
export const LOCAL_API_MAX_HEAD_BYTES = 8 * 1024;
/** The request head must arrive within this long of connecting. */
export const LOCAL_API_HEADER_TIMEOUT_MS = 5_000;
/** The whole request (head and body) must arrive within this long of connecting. */
export const LOCAL_API_REQUEST_TIMEOUT_MS = 10_000;
/** Connections served at once; past it the idle and slow ones are closed first (server.ts). */
export const LOCAL_API_MAX_CONNECTIONS = 64;
/** `POST /ping`s waiting at once; more are answered 503, so pings cannot fill every connection. */
export const LOCAL_API_MAX_PINGS_IN_FLIGHT = 16;
/** `POST /dial`s at once, dialling or relaying (a local proxy's connections go through here). */
export const LOCAL_API_MAX_TUNNELS = 256;
/** `POST /expose` forwards at once. */
export const LOCAL_API_MAX_EXPOSES = 32;
/** Longest dial wait a client may ask for. */
export const LOCAL_API_MAX_DIAL_TIMEOUT_MS = 60_000;
/** The dial wait when the client names none. */
export const LOCAL_API_DEFAULT_DIAL_TIMEOUT_MS = 15_000;

/** The body of `POST /dial`. */
export interface DialRequest {
  /** The peer: mesh IP, name, hostname or MagicDNS name. */
  host: string;
  /** The TCP port, 1–65535. */
  port: number;
  /** How long the handshake may take, in (0, {@link LOCAL_API_MAX_DIAL_TIMEOUT_MS}]. */
  timeoutMs?: number;
}

/** How a dial's stream ended, as `GET /dial/<id>` answers it. */
export interface DialOutcome {
  /** The dial's id (the `x-citadel-dial-id` of its answer). */
  id: string;
  /** `"open"` while it relays, `"ended"` after. */
  state: "open" | "ended";
  /** Why it ended, when the mesh connection failed (a reset, a timeout, the peer gone). */
  error?: { name: string; message: string };
}

/** The body of `POST /expose`. */
export interface ExposeRequest {
  /** The mesh TCP port to listen on, 1–65535. */
  port: number;
  /** Where connections go: `host:port` (or `[v6]:port`) of a service this machine reaches. */
  to: string;
}

/** One line of a `POST /expose` stream. */
export type ExposeEvent =
  | { event: "ready"; port: number; to: string }
  | { event: "accepted"; from: string }
  | { event: "closed"; from: string; sent: number; received: number; error?: string }
  | { event: "target-failed"; from: string; message: string }
  | { event: "over-limit"; from: string }
  | { event: "dropped"; count: number };

/**
 * The Deno permissions a process still holds (cli/permissions.ts reads them):
 * each whole permission, and for `env` and `sys` the names or kinds still
 * granted, or `"all"` when the process was started with the whole of it
 * (a development run with `-A`).
 */
export interface HeldPermissions {
  /** Network access (also needed for the Unix socket). */
  net: boolean;
  /** File reads. */
  read: boolean;
  /** File writes. */
  write: boolean;
  /** Starting programs (and signalling processes). */
  run: boolean;
  /** Foreign libraries; never granted. */
  ffi: boolean;
  /** Environment variables still readable. */
  env: string[] | "all";
  /** System information still readable (`hostname`, `uid`, …). */
  sys: string[] | "all";
}

/**
 * One `citadel` process's own account of itself: what it may still do, and
 * how many promise rejections nobody handled (each one is a bug, logged and
 * counted instead of ending the process).
 */
export interface ProcessReport {
  /** The process id. */
  pid: number;
  /** The command it runs (`work`, `status`, …). */
  command: string;
  /** What it still holds. */
  permissions: HeldPermissions;
  /** Promise rejections nobody handled, caught by the process-level handler. */
  unhandledRejections: number;
}

/** What `GET /status` answers: the node's status and, when known, the serving process's report. */
export type LocalStatusBody = LocalStatus & {
  /** The running `citadel work` process (absent from a server started without a report). */
  process?: ProcessReport;
  /**
   * The local API's own connections: requests in progress (this one
   * included) and connections handed over to `/dial` and `/expose`.
   */
  localApi?: { connections: number; takeovers: number };
};

/** The body of `POST /ping`. */
export interface PingRequest {
  /** The peer: mesh IP, name or hostname. */
  target: string;
  /** How long to wait for the reply, in (0, {@link LOCAL_API_MAX_PING_TIMEOUT_MS}]. */
  timeoutMs: number;
}

/** The body of every error answer. */
export interface ErrorBody {
  /** What went wrong, one line. */
  error: string;
  /** The error's name (`PeerNotFoundError`, `BadRequest`, …); absent on 404/405 for a route. */
  name?: string;
}

/** HTTP status of a failed `POST /ping`, by error name; any other name is 500 (`/dial`'s are bridge/'s `DIAL_FAILURE_STATUS`). */
export const PING_ERROR_STATUS: Readonly<Record<string, number>> = {
  PeerNotFoundError: 404,
  PingTimeoutError: 504,
  DataPlaneNotStartedError: 503,
};

/**
 * Whether this runtime can serve and reach Unix-domain sockets. Windows
 * builds have none: there is no local API, and `citadel status` connects by
 * itself.
 */
export function localApiSupported(): boolean {
  return Deno.build.os !== "windows";
}
