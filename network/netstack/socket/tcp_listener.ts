/**
 * A listening TCP port: an async iterable of accepted connections, as
 * `Deno.Listener`. Its queue is bounded by the backlog, which counts
 * half-open connections too (the stack refuses SYNs past it, so a SYN
 * flood fills a fixed number of slots and nothing more).
 *
 * @module
 */
import { SocketClosedError } from "../errors.ts";
import type { NetAddr, TcpConn } from "./tcp_conn.ts";

/** The stack's side of a listener. */
export interface ListenerOwner {
  /** Stops listening; called once by {@link TcpListener.close}. */
  unlisten(listener: TcpListener): void;
}

/** A listening port of a {@link NetStack}. */
export class TcpListener implements AsyncIterable<TcpConn>, Disposable {
  /** The port. */
  readonly port: number;
  /** The most connections queued or half-open at once. */
  readonly backlog: number;
  /** Listening address (the unspecified address: every mesh address of ours), as `Deno.NetAddr`. */
  readonly addr: NetAddr;
  /** Connections in SYN-RECEIVED for this port (kept by the stack). */
  halfOpen = 0;
  readonly #owner: ListenerOwner;
  #queue: TcpConn[] = [];
  #waiters: { resolve: (c: TcpConn) => void; reject: (e: Error) => void }[] = [];
  #closed = false;

  /** Made by the stack's `listenTCP`. */
  constructor(owner: ListenerOwner, port: number, backlog: number) {
    this.#owner = owner;
    this.port = port;
    this.backlog = backlog;
    this.addr = { transport: "tcp", hostname: "0.0.0.0", port };
  }

  /** Whether {@link TcpListener.close} was called. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Established connections waiting for accept. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Whether a new SYN may be taken: queue and half-open together below the backlog. */
  get hasRoom(): boolean {
    return !this.#closed && this.#queue.length + this.halfOpen < this.backlog;
  }

  /** Hands over a connection that completed its handshake (called by the stack). */
  enqueue(conn: TcpConn): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(conn);
    else this.#queue.push(conn);
  }

  /** The next connection; rejects with {@link SocketClosedError} once closed. */
  accept(): Promise<TcpConn> {
    const next = this.#queue.shift();
    if (next) return Promise.resolve(next);
    if (this.#closed) return Promise.reject(new SocketClosedError("listener closed"));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Stops listening; queued, unaccepted connections are reset. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#owner.unlisten(this);
    for (const conn of this.#queue.splice(0)) conn.reset();
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new SocketClosedError("listener closed"));
    }
  }

  /** Accepts connections until the listener closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<TcpConn> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (error) {
        if (error instanceof SocketClosedError && this.#closed) return;
        throw error;
      }
    }
  }

  /** Closes the listener. */
  [Symbol.dispose](): void {
    this.close();
  }
}
