/**
 * `expose`'s engine: every connection a mesh listener accepts is forwarded
 * to a local TCP service (`--to host:port`) and relayed both ways with
 * half-close, as tailscaled forwards inbound connections to its host's
 * localhost in userspace mode. When the service cannot be reached the mesh
 * connection is reset, so the peer sees a failure rather than an empty
 * answer.
 *
 * Bounds: at most `maxConnections` forwarded at once (a connection past it
 * is reset at once). Closing the forwarder closes the listener and every
 * connection.
 *
 * @module
 */
import { type ByteStream, relay } from "./relay.ts";

/** A mesh connection as the forwarder uses it (a `TcpConn` is one). */
export interface ForwardedConn extends ByteStream {
  /** The peer's end, as text for logs. */
  readonly remoteAddr: { hostname: string; port: number };
  /** Aborts with a RST. */
  reset(): void;
}

/** Where connections go. */
export interface ForwardTarget {
  /** Host name or address of the local service. */
  hostname: string;
  /** Its port. */
  port: number;
}

/** Something the forwarder did, for logs. */
export type ForwardEvent =
  | { kind: "accepted"; from: string }
  | { kind: "target-failed"; from: string; message: string }
  | { kind: "closed"; from: string; sent: number; received: number; error?: string }
  | { kind: "over-limit"; from: string };

/** Counters of a forwarder. */
export interface ForwardCounters {
  /** Mesh connections accepted. */
  accepted: number;
  /** Forwarded to the service. */
  forwarded: number;
  /** The service could not be reached (the mesh connection was reset). */
  targetFailed: number;
  /** Reset for want of room. */
  overLimit: number;
}

/** Options of a {@link Forwarder}. */
export interface ForwarderOptions {
  /** Accepted mesh connections; the forwarder closes it when it closes. */
  listener: AsyncIterable<ForwardedConn> & { close(): void };
  /** The local service. */
  target: ForwardTarget;
  /** Connects to the service (default `Deno.connect` over TCP). */
  connect?: (target: ForwardTarget) => Promise<ByteStream>;
  /** Connections forwarded at once (default 256). */
  maxConnections?: number;
  /** Told what happens. */
  onEvent?: (event: ForwardEvent) => void;
}

/** A running forward from a mesh port to a local service. */
export class Forwarder {
  /** Counters. */
  readonly counters: ForwardCounters = {
    accepted: 0,
    forwarded: 0,
    targetFailed: 0,
    overLimit: 0,
  };
  /** Resolves when the listener has ended (closed). */
  readonly done: Promise<void>;
  readonly #options: ForwarderOptions;
  readonly #open = new Set<ForwardedConn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #stop = new AbortController();

  /** Starts forwarding at once. */
  constructor(options: ForwarderOptions) {
    this.#options = options;
    this.done = this.#accept();
  }

  /** Connections being forwarded now. */
  get openConnections(): number {
    return this.#open.size;
  }

  /** Closes the listener and every connection; resolves once all are done. */
  async close(): Promise<void> {
    if (!this.#stop.signal.aborted) {
      this.#stop.abort();
      try {
        this.#options.listener.close();
      } catch {
        // Already closed.
      }
    }
    await this.done;
    await Promise.allSettled([...this.#tasks]);
  }

  async #accept(): Promise<void> {
    const max = this.#options.maxConnections ?? 256;
    try {
      for await (const conn of this.#options.listener) {
        this.counters.accepted++;
        const from = `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`;
        if (this.#open.size >= max) {
          this.counters.overLimit++;
          this.#event({ kind: "over-limit", from });
          conn.reset();
          continue;
        }
        this.#open.add(conn);
        const task = this.#forward(conn, from).catch(() => {}).finally(() => {
          this.#open.delete(conn);
          this.#tasks.delete(task);
        });
        this.#tasks.add(task);
      }
    } catch {
      // The listener failed (the stack closed): the forward is over.
    }
  }

  async #forward(conn: ForwardedConn, from: string): Promise<void> {
    this.#event({ kind: "accepted", from });
    const connect = this.#options.connect ??
      ((t: ForwardTarget) => Deno.connect({ hostname: t.hostname, port: t.port }));
    let local: ByteStream;
    try {
      local = await connect(this.#options.target);
    } catch (error) {
      this.counters.targetFailed++;
      this.#event({
        kind: "target-failed",
        from,
        message: error instanceof Error ? error.message : String(error),
      });
      conn.reset();
      return;
    }
    this.counters.forwarded++;
    const result = await relay(conn, local, { signal: this.#stop.signal });
    this.#event({
      kind: "closed",
      from,
      sent: result.bToA,
      received: result.aToB,
      ...(result.error ? { error: result.error.message } : {}),
    });
  }

  #event(event: ForwardEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A listener's failure is not the forwarder's.
    }
  }
}
