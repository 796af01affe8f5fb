/**
 * The local API's two endpoints that keep their connection: `POST /dial`
 * (a mesh TCP connection for a local client, carried raw on the same Unix
 * connection after the 200, as after HTTP CONNECT) and `POST /expose` (a
 * forward from a mesh port to a local service that lives exactly as long as
 * the client's connection, with one JSON line per event). Each is answered
 * with a {@link ConnectionTakeover}; the counts of both are bounded here.
 *
 * @module
 */
import type { ForwardEvent } from "../bridge/forwarder.ts";
import { parseAuthority } from "../bridge/http_connect.ts";
import { DIAL_FAILURE_STATUS, dialFailureKind, type MeshDialer } from "../bridge/mesh_dialer.ts";
import { relay } from "../bridge/relay.ts";
import type { ConnectionTakeover, TakenConnection } from "./http_server.ts";
import {
  type DialOutcome,
  type ErrorBody,
  type ExposeEvent,
  LOCAL_API_DEFAULT_DIAL_TIMEOUT_MS,
  LOCAL_API_MAX_DIAL_TIMEOUT_MS,
  LOCAL_API_MAX_EXPOSES,
  LOCAL_API_MAX_TUNNELS,
} from "./protocol.ts";

/** A forward the node runs for `POST /expose`. */
export interface ExposeHandle {
  /** Stops listening and closes its connections. */
  close(): Promise<void>;
}

/** Starts a forward of mesh `port` to `target`; throws `AddressInUseError` when the port is taken. */
export type ExposeStarter = (
  port: number,
  target: { hostname: string; port: number },
  onEvent: (event: ForwardEvent) => void,
) => ExposeHandle;

/** How many of each at once (protocol.ts has the defaults). */
export interface TunnelLimits {
  /** Dials, pending or relaying. */
  tunnels: number;
  /** Forwards. */
  exposes: number;
}

/** Finished dials whose outcome `GET /dial/<id>` still answers. */
const MAX_KEPT_OUTCOMES = 256;
/** How long `GET /dial/<id>` waits for a dial that is still ending. */
const OUTCOME_WAIT_MS = 2_000;

/** Lines an expose stream may hold unsent before it drops (and counts) them. */
const MAX_QUEUED_EVENTS = 64;

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function error(status: number, body: ErrorBody): Response {
  return json(status, body);
}

function badRequest(message: string): Response {
  return error(400, { error: message, name: "BadRequest" });
}

async function jsonBody(request: Request): Promise<Record<string, unknown> | null> {
  try {
    const body = await request.json();
    return typeof body === "object" && body !== null ? body as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

function validPort(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** The handlers of `POST /dial` and `POST /expose`, sharing their counts. */
export class TunnelEndpoints {
  readonly #dial: MeshDialer | undefined;
  readonly #expose: ExposeStarter | undefined;
  readonly #limits: TunnelLimits;
  #tunnels = 0;
  #exposes = 0;
  readonly #outcomes = new Map<string, { done: Promise<void>; outcome: DialOutcome }>();

  /** Endpoints over the node's dial and expose (503 when absent). */
  constructor(dial?: MeshDialer, expose?: ExposeStarter, limits: Partial<TunnelLimits> = {}) {
    this.#dial = dial;
    this.#expose = expose;
    this.#limits = {
      tunnels: limits.tunnels ?? LOCAL_API_MAX_TUNNELS,
      exposes: limits.exposes ?? LOCAL_API_MAX_EXPOSES,
    };
  }

  /** Dials and relays in progress. */
  get tunnels(): number {
    return this.#tunnels;
  }

  /** Forwards in progress. */
  get exposes(): number {
    return this.#exposes;
  }

  /** `POST /dial`. */
  async dial(request: Request): Promise<Response | ConnectionTakeover> {
    const body = await jsonBody(request);
    if (!body) return badRequest("the body is not a JSON object");
    const { host, port } = body;
    const timeoutMs = body.timeoutMs ?? LOCAL_API_DEFAULT_DIAL_TIMEOUT_MS;
    if (typeof host !== "string" || host === "" || host.length > 255) {
      return badRequest("host must be a non-empty string");
    }
    if (!validPort(port)) return badRequest("port must be a whole number from 1 to 65535");
    if (
      typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0 ||
      timeoutMs > LOCAL_API_MAX_DIAL_TIMEOUT_MS
    ) {
      return badRequest(`timeoutMs must be a number in (0, ${LOCAL_API_MAX_DIAL_TIMEOUT_MS}]`);
    }
    if (!this.#dial) {
      return error(503, { error: "this node has no data plane", name: "DataPlaneNotStartedError" });
    }
    if (this.#tunnels >= this.#limits.tunnels) {
      return error(503, {
        error: `more than ${this.#limits.tunnels} dials at once`,
        name: "LocalApiBusy",
      });
    }
    this.#tunnels++;
    let mesh;
    try {
      mesh = await this.#dial(host, port, { timeoutMs, signal: request.signal });
    } catch (e) {
      this.#tunnels--;
      const name = e instanceof Error ? e.name : "Error";
      const message = e instanceof Error ? e.message : String(e);
      return error(DIAL_FAILURE_STATUS[dialFailureKind(e)], { error: message, name });
    }
    let done = false;
    let ended!: () => void;
    const id = Array.from(
      crypto.getRandomValues(new Uint8Array(8)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const outcome: DialOutcome = { id, state: "open" };
    this.#keepOutcome(id, new Promise<void>((resolve) => ended = resolve), outcome);
    const finish = () => {
      if (done) return;
      done = true;
      this.#tunnels--;
      outcome.state = "ended";
      ended();
    };
    // Which side failed: the client's side ending is its own business, the mesh's is news.
    let meshError: Error | undefined;
    const watched = {
      read: (p: Uint8Array) => mesh.read(p).catch((e) => Promise.reject(meshError ??= e)),
      write: (p: Uint8Array) => mesh.write(p).catch((e) => Promise.reject(meshError ??= e)),
      closeWrite: () => mesh.closeWrite(),
      close: () => mesh.close(),
    };
    return {
      status: 200,
      headers: { "content-type": "application/octet-stream", "x-citadel-dial-id": id },
      run: async (client: TakenConnection, signal: AbortSignal) => {
        try {
          await relay(client, watched, { signal });
          if (meshError) outcome.error = { name: meshError.name, message: meshError.message };
        } finally {
          finish();
        }
      },
      abandon: () => {
        mesh.close();
        finish();
      },
    };
  }

  /** `GET /dial/<id>`: how that dial's stream ended (waiting briefly for one still ending). */
  async outcome(id: string): Promise<Response> {
    const kept = this.#outcomes.get(id);
    if (!kept) return error(404, { error: `no dial ${id}`, name: "NotFound" });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      kept.done,
      new Promise<void>((resolve) => timer = setTimeout(resolve, OUTCOME_WAIT_MS)),
    ]);
    clearTimeout(timer);
    return json(200, kept.outcome);
  }

  #keepOutcome(id: string, done: Promise<void>, outcome: DialOutcome): void {
    this.#outcomes.set(id, { done, outcome });
    for (const [old, entry] of this.#outcomes) {
      if (this.#outcomes.size <= MAX_KEPT_OUTCOMES) break;
      if (entry.outcome.state === "ended") this.#outcomes.delete(old);
      else if (this.#outcomes.size > MAX_KEPT_OUTCOMES + LOCAL_API_MAX_TUNNELS) {
        this.#outcomes.delete(old);
      }
    }
  }

  /** `POST /expose`. */
  async expose(request: Request): Promise<Response | ConnectionTakeover> {
    const body = await jsonBody(request);
    if (!body) return badRequest("the body is not a JSON object");
    const { port, to } = body;
    if (!validPort(port)) return badRequest("port must be a whole number from 1 to 65535");
    const target = typeof to === "string" ? parseAuthority(to) : null;
    if (!target) return badRequest('to must be "host:port"');
    if (!this.#expose) {
      return error(503, { error: "this node has no data plane", name: "DataPlaneNotStartedError" });
    }
    if (this.#exposes >= this.#limits.exposes) {
      return error(503, {
        error: `more than ${this.#limits.exposes} forwards at once`,
        name: "LocalApiBusy",
      });
    }
    const stream = new EventLines();
    let handle: ExposeHandle;
    try {
      handle = this.#expose(port, { hostname: target.host, port: target.port }, (event) => {
        const { kind, ...rest } = event;
        stream.push({ event: kind, ...rest } as ExposeEvent);
      });
    } catch (e) {
      const name = e instanceof Error ? e.name : "Error";
      const message = e instanceof Error ? e.message : String(e);
      return error(name === "AddressInUseError" ? 409 : 500, { error: message, name });
    }
    this.#exposes++;
    let done = false;
    const finish = async () => {
      if (done) return;
      done = true;
      this.#exposes--;
      await handle.close();
    };
    stream.push({ event: "ready", port, to: to as string });
    return {
      status: 200,
      headers: { "content-type": "application/x-ndjson" },
      run: async (client: TakenConnection, signal: AbortSignal) => {
        try {
          await stream.serve(client, signal);
        } finally {
          await finish();
        }
      },
      abandon: () => void finish(),
    };
  }
}

/** JSON lines written to a client as they come, dropping (and counting) past a small queue. */
class EventLines {
  #queue: ExposeEvent[] = [];
  #dropped = 0;
  #wake: (() => void) | null = null;

  push(event: ExposeEvent): void {
    if (this.#queue.length >= MAX_QUEUED_EVENTS) {
      this.#dropped++;
    } else {
      this.#queue.push(event);
    }
    this.#wake?.();
  }

  /** Writes lines until the client closes its side (or the connection fails) or `signal` aborts. */
  async serve(client: TakenConnection, signal: AbortSignal): Promise<void> {
    let ended = false;
    const end = () => {
      ended = true;
      this.#wake?.();
    };
    signal.addEventListener("abort", end, { once: true });
    // The client says nothing more; its end of stream (or a failure) ends the forward.
    const watching = (async () => {
      const scratch = new Uint8Array(256);
      try {
        while ((await client.read(scratch)) !== null) { /* ignored */ }
      } catch {
        // Gone.
      }
      end();
    })();
    const encoder = new TextEncoder();
    try {
      while (!ended) {
        if (this.#queue.length === 0 && this.#dropped === 0) {
          await new Promise<void>((resolve) => this.#wake = resolve);
          this.#wake = null;
          continue;
        }
        const lines = this.#queue.splice(0);
        if (this.#dropped > 0) {
          lines.push({ event: "dropped", count: this.#dropped });
          this.#dropped = 0;
        }
        const bytes = encoder.encode(lines.map((l) => JSON.stringify(l) + "\n").join(""));
        let offset = 0;
        while (offset < bytes.length) offset += await client.write(bytes.subarray(offset));
      }
    } catch {
      // The client is gone.
    } finally {
      signal.removeEventListener("abort", end);
      client.close();
      await watching;
    }
  }
}
