/**
 * The local API's HTTP/1.1 transport: one request per connection, read with
 * limits and deadlines, handed to a `(Request) => Promise<Response>` handler,
 * answered with `Connection: close`. `Deno.serve` is not used because it
 * offers no head deadline, no connection limit, and no way to refuse an
 * oversized body before reading it; a local client could exhaust it (issue
 * 11: a 300 MiB POST ran V8 out of memory, 1,100 idle connections ran the
 * process out of file descriptors).
 *
 * Limits ({@link HttpServerLimits}; the local API's are in protocol.ts):
 * - The head must arrive within `headerTimeoutMs`, and head plus body within
 *   `requestTimeoutMs`, from accept; else the connection is closed (408 when
 *   the head is complete enough to deserve an answer, silence otherwise).
 * - A head over `maxHeadBytes` is 431; a `Content-Length` over
 *   `maxBodyBytes` is 413, answered at once without reading the body.
 * - At most `maxConnections` at once. When a new one arrives at the limit,
 *   the oldest connection that is still sending its request (or not reading
 *   its answer) is closed to make room: a legitimate client sends its whole
 *   request at once and reads the answer at once, so idle and slow ones go
 *   first and a fresh `GET /status` still gets through. Only when every
 *   connection is in its handler is the newcomer refused (503).
 * - An accept that fails (file descriptors exhausted) is retried after a
 *   growing pause instead of ending the accept loop.
 * - The answer must be written within `writeTimeoutMs`, and the handler may
 *   take at most `handlerTimeoutMs` (its request's signal is aborted then,
 *   and when the client hangs up).
 *
 * Takeovers: a handler may answer with a {@link ConnectionTakeover} instead
 * of a `Response` (`POST /dial`, `POST /expose`): the server writes its
 * status line (no `Content-Length`: the body is the raw stream, until
 * either side closes, as after HTTP CONNECT's 2xx) and hands the connection
 * over. From then on it no longer counts towards `maxConnections` and is
 * never evicted: the handler that made the takeover bounds how many it
 * makes. Bytes the client sent after its request reach the takeover first.
 * Closing the server ends every takeover.
 *
 * Nothing here throws into the void: every promise is awaited or caught.
 *
 * @module
 */
import { findHeadEnd, HttpRequestError, parseRequestHead } from "./http_request_head.ts";

/** The raw connection a takeover gets: a `Deno.Conn`, after the bytes the client sent early. */
export interface TakenConnection {
  /** Reads into `p`: bytes read, or null at the end of the stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`. */
  write(p: Uint8Array): Promise<number>;
  /** Ends our writing. */
  closeWrite(): Promise<void>;
  /** Closes both ways. */
  close(): void;
}

/**
 * What a handler answers to hand the connection over after a status line
 * (`POST /dial`: a mesh connection; `POST /expose`: a forward that lives as
 * long as the connection). Exactly one of `run` and `abandon` is called.
 */
export interface ConnectionTakeover {
  /** The status line's code (2xx). */
  readonly status: number;
  /** Header fields to send with it. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Runs on the connection once the head is written; the connection is
   * closed when it settles. `signal` aborts when the server closes.
   */
  run(conn: TakenConnection, signal: AbortSignal): Promise<void>;
  /** Called instead of `run` when the connection went away first. */
  abandon(): void;
}

/** Whether a handler's answer is a takeover. */
function isTakeover(answer: Response | ConnectionTakeover): answer is ConnectionTakeover {
  return !(answer instanceof Response);
}

/** The limits of one {@link LocalHttpServer}. */
export interface HttpServerLimits {
  /** Connections open at once. */
  maxConnections: number;
  /** Largest request head (request line and header fields), in bytes. */
  maxHeadBytes: number;
  /** Most header fields. */
  maxHeaderFields: number;
  /** Largest request body, in bytes. */
  maxBodyBytes: number;
  /** From accept to the end of the head. */
  headerTimeoutMs: number;
  /** From accept to the end of the body. */
  requestTimeoutMs: number;
  /** Longest a handler may take. */
  handlerTimeoutMs: number;
  /** Longest writing the answer may take. */
  writeTimeoutMs: number;
}

/** What the server has done, for tests and status. */
export interface HttpServerCounters {
  /** Connections accepted. */
  accepted: number;
  /** Connections closed to make room for a new one. */
  evicted: number;
  /** Connections refused at the limit (503). */
  refused: number;
  /** Connections closed by a deadline. */
  timedOut: number;
  /** Requests refused before their handler (400, 411, 413, 431, 505). */
  rejected: number;
  /** Requests answered by the handler. */
  handled: number;
  /** Connections handed over to a takeover. */
  takenOver: number;
  /** Failed accepts (retried). */
  acceptErrors: number;
}

/** The origin put in front of the request target to make the handler's `Request` URL. */
export const HANDLER_ORIGIN = "http://citadel";

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

const ACCEPT_RETRY_MIN_MS = 5;
const ACCEPT_RETRY_MAX_MS = 1_000;
const READ_CHUNK = 16 * 1024;
/** Bytes a client may send after its request before it counts as misbehaving. */
const MAX_TRAILING_BYTES = 4 * 1024;

const encoder = new TextEncoder();

/** A whole answer's bytes: status line, fields, `Connection: close`, body. */
export function serializeResponse(status: number, headers: Headers, body: Uint8Array): Uint8Array {
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Status"}\r\n`;
  for (const [name, value] of headers) {
    if (name === "content-length" || name === "connection" || name === "transfer-encoding") {
      continue;
    }
    head += `${name}: ${value}\r\n`;
  }
  head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  const headBytes = encoder.encode(head);
  const bytes = new Uint8Array(headBytes.length + body.length);
  bytes.set(headBytes);
  bytes.set(body, headBytes.length);
  return bytes;
}

function errorAnswer(status: number, message: string, name: string): Uint8Array {
  const headers = new Headers({ "content-type": "application/json" });
  return serializeResponse(
    status,
    headers,
    encoder.encode(JSON.stringify({ error: message, name })),
  );
}

type Phase = "reading" | "handling" | "writing" | "taken" | "closed";
type Timer = ReturnType<typeof setTimeout>;

/** One accepted connection and its deadlines. */
class Connection {
  readonly conn: Deno.Conn;
  readonly acceptedAt: number;
  phase: Phase = "reading";
  /** Aborted when the connection closes, whatever the reason. */
  readonly closed = new AbortController();
  /** Bytes the client sent after its request, read while its handler ran. */
  readonly early: Uint8Array[] = [];
  /** The hang-up watcher's read in progress: a takeover finishes it. */
  pendingRead: Promise<Uint8Array | null> | null = null;
  readonly #timers = new Set<Timer>();

  constructor(conn: Deno.Conn, acceptedAt: number) {
    this.conn = conn;
    this.acceptedAt = acceptedAt;
  }

  /** Whether it was closed (read through a getter, so TypeScript does not narrow it away). */
  get isClosed(): boolean {
    return this.phase === "closed";
  }

  /** Whether room may be made by closing it: it is not in its handler. */
  get evictable(): boolean {
    return this.phase === "reading" || this.phase === "writing";
  }

  deadline(ms: number, onExpiry: () => void): Timer {
    const id = setTimeout(() => {
      this.#timers.delete(id);
      onExpiry();
    }, ms);
    this.#timers.add(id);
    return id;
  }

  clear(id: Timer): void {
    clearTimeout(id);
    this.#timers.delete(id);
  }

  /** Stops every deadline (a takeover lives by its own rules). */
  clearAll(): void {
    for (const id of this.#timers) clearTimeout(id);
    this.#timers.clear();
  }

  close(): void {
    if (this.isClosed) return;
    this.phase = "closed";
    this.clearAll();
    this.closed.abort();
    try {
      this.conn.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
  }
}

/** The connection as a takeover reads it: early bytes first, then the watcher's read, then the socket. */
class TakenConn implements TakenConnection {
  readonly #c: Connection;
  readonly #early: Uint8Array[];
  #pending: Promise<Uint8Array | null> | null;

  constructor(c: Connection) {
    this.#c = c;
    this.#early = c.early.splice(0);
    this.#pending = c.pendingRead;
    c.pendingRead = null;
  }

  async read(p: Uint8Array): Promise<number | null> {
    if (this.#early.length === 0 && this.#pending) {
      const pending = this.#pending;
      this.#pending = null;
      const chunk = await pending;
      if (chunk === null) return null;
      this.#early.push(chunk);
    }
    const first = this.#early[0];
    if (first) {
      const n = Math.min(first.length, p.length);
      p.set(first.subarray(0, n));
      if (n === first.length) this.#early.shift();
      else this.#early[0] = first.subarray(n);
      return n;
    }
    return await this.#c.conn.read(p);
  }

  write(p: Uint8Array): Promise<number> {
    return this.#c.conn.write(p);
  }

  closeWrite(): Promise<void> {
    return this.#c.conn.closeWrite();
  }

  close(): void {
    this.#c.close();
  }
}

/** Writes `bytes` fully, or gives up (closing) after `timeoutMs`. */
async function writeAll(c: Connection, bytes: Uint8Array, timeoutMs: number): Promise<void> {
  const timer = c.deadline(timeoutMs, () => c.close());
  try {
    let offset = 0;
    while (offset < bytes.length && !c.isClosed) {
      offset += await c.conn.write(bytes.subarray(offset));
    }
  } finally {
    c.clear(timer);
  }
}

/**
 * An HTTP/1.1 server on a listener, with the limits above.
 *
 * @example
 * ```ts
 * const listener = Deno.listen({ transport: "unix", path: "/run/x.sock" });
 * const server = new LocalHttpServer(listener, () => Promise.resolve(new Response("hi")), limits);
 * await server.close();
 * ```
 */
export class LocalHttpServer {
  readonly #listener: Deno.Listener;
  readonly #handler: (request: Request) => Promise<Response | ConnectionTakeover>;
  readonly #limits: HttpServerLimits;
  readonly #connections = new Set<Connection>();
  readonly #taken = new Set<Connection>();
  readonly #stopTakeovers = new AbortController();
  readonly #tasks = new Set<Promise<void>>();
  readonly #counters: HttpServerCounters = {
    accepted: 0,
    evicted: 0,
    refused: 0,
    timedOut: 0,
    rejected: 0,
    handled: 0,
    takenOver: 0,
    acceptErrors: 0,
  };
  #closing = false;
  readonly #acceptLoop: Promise<void>;

  /** Starts accepting on `listener` at once. */
  constructor(
    listener: Deno.Listener,
    handler: (request: Request) => Promise<Response | ConnectionTakeover>,
    limits: HttpServerLimits,
  ) {
    this.#listener = listener;
    this.#handler = handler;
    this.#limits = limits;
    this.#acceptLoop = this.#accept();
  }

  /** A copy of the counters. */
  get counters(): HttpServerCounters {
    return { ...this.#counters };
  }

  /** Connections open now (requests in progress; takeovers are counted apart). */
  get openConnections(): number {
    return this.#connections.size;
  }

  /** Connections handed over to takeovers and still open. */
  get openTakeovers(): number {
    return this.#taken.size;
  }

  /** Stops accepting, closes every connection, and waits for their tasks to end. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    for (const c of this.#connections) c.close();
    this.#stopTakeovers.abort();
    for (const c of this.#taken) c.close();
    await this.#acceptLoop;
    await Promise.allSettled([...this.#tasks]);
  }

  async #accept(): Promise<void> {
    let retryMs = 0;
    while (!this.#closing) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
        retryMs = 0;
      } catch {
        if (this.#closing) return;
        // Most likely EMFILE: wait for descriptors to be freed instead of
        // spinning or ending the loop.
        this.#counters.acceptErrors += 1;
        retryMs = Math.min(ACCEPT_RETRY_MAX_MS, Math.max(ACCEPT_RETRY_MIN_MS, retryMs * 2));
        await new Promise((resolve) => setTimeout(resolve, retryMs));
        continue;
      }
      if (this.#closing) {
        conn.close();
        return;
      }
      this.#counters.accepted += 1;
      if (this.#connections.size >= this.#limits.maxConnections && !this.#makeRoom()) {
        this.#counters.refused += 1;
        this.#refuse(conn);
        continue;
      }
      const c = new Connection(conn, performance.now());
      this.#connections.add(c);
      const task = this.#serve(c)
        .catch(() => {}) // #serve handles its own errors; this is a last guard.
        .finally(() => {
          c.close();
          this.#connections.delete(c);
          this.#tasks.delete(task);
        });
      this.#tasks.add(task);
    }
  }

  /** Closes the oldest evictable connection; false when none is. */
  #makeRoom(): boolean {
    let oldest: Connection | null = null;
    for (const c of this.#connections) {
      if (c.evictable && (oldest === null || c.acceptedAt < oldest.acceptedAt)) oldest = c;
    }
    if (oldest === null) return false;
    this.#counters.evicted += 1;
    oldest.close();
    this.#connections.delete(oldest);
    return true;
  }

  #refuse(conn: Deno.Conn): void {
    const c = new Connection(conn, performance.now());
    const task = writeAll(
      c,
      errorAnswer(503, "too many connections to the local API", "LocalApiBusy"),
      this.#limits.writeTimeoutMs,
    ).catch(() => {}).finally(() => {
      c.close();
      this.#tasks.delete(task);
    });
    this.#tasks.add(task);
  }

  async #serve(c: Connection): Promise<void> {
    const limits = this.#limits;
    let timedOut = false;
    const expire = (answer: boolean) => () => {
      timedOut = true;
      this.#counters.timedOut += 1;
      if (answer && c.phase === "reading") {
        // Best effort: the client may not be reading either.
        c.phase = "writing";
        writeAll(c, errorAnswer(408, "request timeout", "RequestTimeout"), 1_000)
          .catch(() => {})
          .finally(() => c.close());
      } else {
        c.close();
      }
    };
    const headTimer = c.deadline(limits.headerTimeoutMs, expire(false));
    const requestTimer = c.deadline(limits.requestTimeoutMs, expire(true));

    // The head, into a buffer that never grows past the limit.
    const headBuffer = new Uint8Array(limits.maxHeadBytes);
    let filled = 0;
    let headEnd = -1;
    while (headEnd === -1) {
      if (filled === headBuffer.length) {
        return await this.#reject(c, new HttpRequestError(431, "the request head is too large"));
      }
      const n = await this.#read(c, headBuffer.subarray(filled));
      // Closed by the client, a deadline or an eviction; or answered 408 already.
      if (n === null || timedOut) return;
      const before = filled;
      filled += n;
      headEnd = findHeadEnd(headBuffer, filled, before);
    }
    c.clear(headTimer);
    let head;
    try {
      head = parseRequestHead(headBuffer.subarray(0, headEnd), {
        maxBodyBytes: limits.maxBodyBytes,
        maxHeaderFields: limits.maxHeaderFields,
      });
    } catch (e) {
      if (e instanceof HttpRequestError) return await this.#reject(c, e);
      throw e;
    }

    // The body: at most maxBodyBytes, already checked against Content-Length.
    const body = new Uint8Array(head.contentLength);
    const already = Math.min(filled - headEnd, body.length);
    body.set(headBuffer.subarray(headEnd, headEnd + already));
    let received = already;
    while (received < body.length) {
      const n = await this.#read(c, body.subarray(received));
      if (n === null || timedOut) return;
      received += n;
    }
    c.clear(requestTimer);
    if (timedOut || c.isClosed) return;

    let request: Request;
    const abort = new AbortController();
    try {
      const hasBody = head.method !== "GET" && head.method !== "HEAD" && body.length > 0;
      request = new Request(`${HANDLER_ORIGIN}${head.target}`, {
        method: head.method,
        headers: head.headers,
        body: hasBody ? body : undefined,
        signal: abort.signal,
      });
    } catch {
      // Methods the Fetch standard forbids (CONNECT, TRACE, TRACK), odd targets.
      return await this.#reject(c, new HttpRequestError(400, "the request cannot be handled"));
    }

    c.phase = "handling";
    // The client hanging up aborts the request's signal (a ping stops
    // waiting) and its answer is still tried; a closed connection or the
    // handler deadline stops waiting for the handler at all.
    let giveUp: (reason: unknown) => void = () => {};
    const givenUp = new Promise<never>((_, reject) => giveUp = reject);
    c.closed.signal.addEventListener("abort", () => {
      abort.abort();
      giveUp(new Error("connection closed"));
    }, { once: true });
    this.#watchHangUp(c, abort, headBuffer.subarray(headEnd + already, filled));
    const handlerTimer = c.deadline(limits.handlerTimeoutMs, () => {
      this.#counters.timedOut += 1;
      const reason = new DOMException("the handler took too long", "TimeoutError");
      abort.abort(reason);
      giveUp(reason);
    });
    let status: number;
    let headers: Headers;
    let answer: Uint8Array;
    try {
      const handled = this.#handler(request);
      const response = await Promise.race([handled, givenUp]).catch((e) => {
        // A takeover that lost the race to a hang-up is never run.
        handled.then((late) => isTakeover(late) && late.abandon(), () => {});
        throw e;
      });
      if (isTakeover(response)) {
        c.clear(handlerTimer);
        return await this.#takeOver(c, response);
      }
      status = response.status;
      headers = response.headers;
      answer = new Uint8Array(await response.arrayBuffer());
    } catch {
      if (c.isClosed) return;
      status = 500;
      headers = new Headers({ "content-type": "application/json" });
      answer = encoder.encode(JSON.stringify({ error: "the request failed", name: "Error" }));
    } finally {
      c.clear(handlerTimer);
    }
    if (c.isClosed) return;
    c.phase = "writing";
    this.#counters.handled += 1;
    await writeAll(c, serializeResponse(status, headers, answer), limits.writeTimeoutMs);
  }

  /** Writes the takeover's head and hands it the connection until it is done. */
  async #takeOver(c: Connection, takeover: ConnectionTakeover): Promise<void> {
    if (c.isClosed || this.#closing) {
      takeover.abandon();
      return;
    }
    this.#counters.takenOver += 1;
    this.#counters.handled += 1;
    c.phase = "taken";
    c.clearAll();
    this.#connections.delete(c);
    this.#taken.add(c);
    try {
      let head = `HTTP/1.1 ${takeover.status} ${REASONS[takeover.status] ?? "Status"}\r\n`;
      for (const [name, value] of Object.entries(takeover.headers ?? {})) {
        head += `${name}: ${value}\r\n`;
      }
      head += "connection: close\r\n\r\n";
      try {
        await writeAll(c, encoder.encode(head), this.#limits.writeTimeoutMs);
      } catch {
        c.close();
      }
      if (c.isClosed) {
        takeover.abandon();
        return;
      }
      await takeover.run(new TakenConn(c), this.#stopTakeovers.signal).catch(() => {});
    } finally {
      c.close();
      this.#taken.delete(c);
    }
  }

  async #reject(c: Connection, error: HttpRequestError): Promise<void> {
    this.#counters.rejected += 1;
    c.phase = "writing";
    // Answered at once: the rest of the request (a 300 MiB body, say) is never read.
    await writeAll(
      c,
      errorAnswer(error.status, error.message, "BadRequest"),
      this.#limits.writeTimeoutMs,
    );
  }

  /** Reads into `into`; null at end of stream or once the connection is closed. */
  async #read(c: Connection, into: Uint8Array): Promise<number | null> {
    if (c.isClosed) return null;
    try {
      const n = await c.conn.read(into.subarray(0, Math.min(into.length, READ_CHUNK)));
      return c.isClosed ? null : n;
    } catch {
      return null;
    }
  }

  /**
   * Aborts the handler when the client hangs up (a `ping` then stops
   * waiting), or sends more than a few bytes past its request.
   */
  #watchHangUp(
    c: Connection,
    abort: AbortController,
    trailing: Uint8Array,
  ): void {
    if (trailing.length > 0) c.early.push(trailing.slice());
    const task = (async () => {
      let extra = trailing.length;
      while (c.phase === "handling" && extra <= MAX_TRAILING_BYTES) {
        const read = this.#readChunk(c);
        c.pendingRead = read;
        const chunk = await read;
        // A takeover took this read over: the bytes are its now.
        if (c.pendingRead !== read) return;
        c.pendingRead = null;
        if (chunk === null) break;
        c.early.push(chunk);
        extra += chunk.length;
      }
      if (c.phase === "handling") abort.abort();
    })().catch(() => {}).finally(() => this.#tasks.delete(task));
    this.#tasks.add(task);
  }

  /** One read of up to 1 KiB, as its own bytes; null at the end or once closed. */
  async #readChunk(c: Connection): Promise<Uint8Array | null> {
    const scratch = new Uint8Array(1024);
    const n = await this.#read(c, scratch);
    return n === null ? null : scratch.slice(0, n);
  }
}
