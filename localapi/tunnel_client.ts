/**
 * The client side of `POST /dial` and `POST /expose` (localapi/tunnels.ts):
 * how `nc`, `proxy` and `expose` use a running `citadel work`'s mesh
 * connection instead of a second session with the same node key. Raw
 * HTTP/1.1 on the Unix socket, since after the 200 the same connection
 * carries the stream (`fetch` cannot hand a connection over).
 *
 * Resolves null when no work serves the socket; a work that answers with an
 * error throws it by its own name (`PeerNotFoundError`,
 * `ConnectionRefusedError`, …) as a `NamedRemoteError`, so callers handle it
 * as they would the in-process one.
 *
 * @module
 */
import { type MeshDialOptions, NamedRemoteError } from "../bridge/mesh_dialer.ts";
import type { ByteStream } from "../bridge/relay.ts";
import { LocalApiError } from "./errors.ts";
import {
  DIAL_PATH,
  type DialOutcome,
  type DialRequest,
  EXPOSE_PATH,
  type ExposeEvent,
  type ExposeRequest,
  LOCAL_API_DEFAULT_DIAL_TIMEOUT_MS,
  LOCAL_API_ORIGIN,
  localApiSupported,
} from "./protocol.ts";
import { LOCAL_API_TIMEOUT_MS } from "./client.ts";

/** Largest answer head taken. */
const MAX_HEAD = 16 * 1024;
/** Largest error body taken. */
const MAX_ERROR_BODY = 64 * 1024;

const encoder = new TextEncoder();

/** A Unix connection whose first bytes were read with the answer's head. */
class TunnelStream implements ByteStream {
  readonly #conn: Deno.Conn;
  #early: Uint8Array;
  readonly #socketPath: string;
  readonly #id: string | null;

  constructor(conn: Deno.Conn, early: Uint8Array, socketPath: string, id: string | null) {
    this.#conn = conn;
    this.#early = early;
    this.#socketPath = socketPath;
    this.#id = id;
  }

  /** Asks the work how the dial ended: the mesh connection's error, if it failed. */
  async failure(): Promise<Error | undefined> {
    if (this.#id === null) return undefined;
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: this.#socketPath } });
    try {
      const response = await fetch(`${LOCAL_API_ORIGIN}${DIAL_PATH}/${this.#id}`, {
        client,
        signal: AbortSignal.timeout(LOCAL_API_TIMEOUT_MS),
      });
      const body = await response.json() as Partial<DialOutcome>;
      const error = body.error;
      if (!response.ok || !error || typeof error.name !== "string") return undefined;
      return new NamedRemoteError(error.name, String(error.message));
    } catch {
      return undefined; // the work is gone: nothing more to learn
    } finally {
      client.close();
    }
  }

  read(p: Uint8Array): Promise<number | null> {
    if (this.#early.length > 0) {
      const n = Math.min(p.length, this.#early.length);
      p.set(this.#early.subarray(0, n));
      this.#early = this.#early.subarray(n);
      return Promise.resolve(n);
    }
    return this.#conn.read(p);
  }

  write(p: Uint8Array): Promise<number> {
    return this.#conn.write(p);
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}

function headEnd(bytes: Uint8Array, length: number): number {
  for (let i = 0; i + 3 < length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i + 4;
    }
  }
  return -1;
}

/**
 * Sends `body` to `route` and reads the answer's head: the connection (with
 * what came after the head) on 200, the error thrown otherwise, null when no
 * work is there.
 */
async function openTakeover(
  socketPath: string,
  route: string,
  body: unknown,
  waitMs: number,
  signal?: AbortSignal,
): Promise<TunnelStream | null> {
  if (!localApiSupported()) return null;
  signal?.throwIfAborted();
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socketPath });
  } catch (e) {
    if (
      e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused ||
      e instanceof Deno.errors.PermissionDenied
    ) {
      return null;
    }
    throw e;
  }
  const failure = (why: string) =>
    new LocalApiError(`citadel work is running (${socketPath}) but ${why}`);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, waitMs);
  const onAbort = () => conn.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  let handedOver = false;
  try {
    const payload = encoder.encode(JSON.stringify(body));
    const head = `POST ${route} HTTP/1.1\r\nhost: citadel\r\ncontent-type: application/json\r\n` +
      `content-length: ${payload.length}\r\n\r\n`;
    const request = new Uint8Array(head.length + payload.length);
    request.set(encoder.encode(head));
    request.set(payload, head.length);
    let offset = 0;
    while (offset < request.length) offset += await conn.write(request.subarray(offset));

    const buffer = new Uint8Array(MAX_HEAD + MAX_ERROR_BODY);
    let filled = 0;
    let end = -1;
    while (end === -1) {
      if (filled >= MAX_HEAD) throw failure("answered with an oversized head");
      const n = await conn.read(buffer.subarray(filled, MAX_HEAD));
      if (n === null) throw failure("closed the connection without an answer");
      filled += n;
      end = headEnd(buffer, filled);
    }
    const text = new TextDecoder().decode(buffer.subarray(0, end));
    const status = /^HTTP\/1\.[01] (\d{3}) /.exec(text);
    if (!status) throw failure("answered something that is not HTTP");
    if (status[1] === "200") {
      handedOver = true;
      const id = /\r\nx-citadel-dial-id: *([0-9a-f]{1,32})\r\n/i.exec(text)?.[1] ?? null;
      return new TunnelStream(conn, buffer.slice(end, filled), socketPath, id);
    }
    const length = Number(/\r\ncontent-length: *(\d+)\r\n/i.exec(text)?.[1] ?? "0");
    if (length > MAX_ERROR_BODY) throw failure(`answered HTTP ${status[1]} with an oversized body`);
    while (filled - end < length) {
      const n = await conn.read(buffer.subarray(filled, end + length));
      if (n === null) break;
      filled += n;
    }
    let error: { error?: unknown; name?: unknown } = {};
    try {
      error = JSON.parse(new TextDecoder().decode(buffer.subarray(end, end + length)));
    } catch {
      // Not JSON: reported by status below.
    }
    if (typeof error.name !== "string" || typeof error.error !== "string") {
      // A work without these endpoints answers 404 {"error":"not found"}.
      throw failure(`answered HTTP ${status[1]} (${String(error.error ?? "")})`);
    }
    throw new NamedRemoteError(error.name, error.error);
  } catch (e) {
    signal?.throwIfAborted();
    if (timedOut) throw failure(`did not answer within ${waitMs} ms`);
    if (e instanceof NamedRemoteError || e instanceof LocalApiError) throw e;
    throw failure(`the request failed (${e instanceof Error ? e.message : String(e)})`);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    if (!handedOver) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  }
}

/**
 * Opens a TCP connection to `port` on `host` through the work serving
 * `socketPath`; null when no work runs there.
 *
 * @example
 * ```ts
 * const stream = await dialThroughWork(localApiSocketPath(dir), "db", 5432);
 * ```
 */
export function dialThroughWork(
  socketPath: string,
  host: string,
  port: number,
  options: MeshDialOptions = {},
): Promise<ByteStream | null> {
  const timeoutMs = options.timeoutMs ?? LOCAL_API_DEFAULT_DIAL_TIMEOUT_MS;
  const request: DialRequest = { host, port, timeoutMs };
  return openTakeover(
    socketPath,
    DIAL_PATH,
    request,
    timeoutMs + LOCAL_API_TIMEOUT_MS,
    options.signal,
  );
}

/** A forward a running work holds for us: its events, until {@link WorkExpose.close}. */
export interface WorkExpose {
  /** The forward's events, one per JSON line, until it ends. */
  events: AsyncIterable<ExposeEvent>;
  /** Ends the forward (closes the connection). */
  close(): void;
}

/**
 * Asks the work serving `socketPath` to forward mesh `port` to `to`
 * (`host:port`) while the returned handle is open; null when no work runs
 * there. Throws `AddressInUseError` (by name) when the port is taken.
 */
export async function exposeThroughWork(
  socketPath: string,
  port: number,
  to: string,
): Promise<WorkExpose | null> {
  const request: ExposeRequest = { port, to };
  const stream = await openTakeover(socketPath, EXPOSE_PATH, request, LOCAL_API_TIMEOUT_MS);
  if (!stream) return null;
  async function* events(): AsyncIterable<ExposeEvent> {
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(16 * 1024);
    let text = "";
    for (;;) {
      let n: number | null;
      try {
        n = await stream!.read(buffer);
      } catch {
        return;
      }
      if (n === null) return;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
      if (text.length > 1024 * 1024) return; // not lines from a work
      let newline: number;
      while ((newline = text.indexOf("\n")) !== -1) {
        const line = text.slice(0, newline);
        text = text.slice(newline + 1);
        try {
          yield JSON.parse(line) as ExposeEvent;
        } catch {
          // A line that is not JSON is skipped.
        }
      }
    }
  }
  return { events: events(), close: () => stream.close() };
}
