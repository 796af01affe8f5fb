/**
 * A TCP connection as the application sees it, usable where a `Deno.Conn`
 * is: `read`/`write`/`close`/`closeWrite`, `readable`/`writable` web
 * streams, `localAddr`/`remoteAddr`. Backpressure runs end to end: a write
 * waits while the send buffer is full (it empties only as the peer
 * acknowledges), and received data waits in the bounded receive buffer
 * until read, which keeps the advertised window closed until then.
 *
 * Writing through `writable` and closing it half-closes the connection
 * (FIN), so `a.readable.pipeTo(b.writable)` forwards end of stream.
 *
 * @module
 */
import { AddrPort } from "../../netaddr/addr_port.ts";
import { formatIPAddress } from "../../netaddr/ip_address.ts";
import { SocketClosedError, WriteClosedError } from "../errors.ts";
import type { TcpConnection, TcpConnectionStats } from "../tcp/tcp_connection.ts";
import { TcpState, type TcpStateName } from "../tcp/tcp_state.ts";
import { close, closeWrite, receive, send, setKeepAlive, setNoDelay } from "../tcp/user_calls.ts";

/** An address in the shape of `Deno.NetAddr`. */
export interface NetAddr {
  /** "tcp" or "udp". */
  transport: "tcp" | "udp";
  /** The IP address as text. */
  hostname: string;
  /** The port. */
  port: number;
}

/** Chunk size of `readable` when the reader brings no buffer. */
const READ_CHUNK = 64 * 1024;

/** The application's handle on one TCP connection of a {@link NetStack}. */
export class TcpConn implements AsyncDisposable, Disposable {
  /** Our end, as `Deno.NetAddr`. */
  readonly localAddr: NetAddr;
  /** The peer's end, as `Deno.NetAddr`. */
  readonly remoteAddr: NetAddr;
  /** Our end. */
  readonly local: AddrPort;
  /** The peer's end. */
  readonly remote: AddrPort;
  /** Resolves once the connection is finished (closed, reset, timed out, or in TIME-WAIT). */
  readonly closed: Promise<void>;
  readonly #conn: TcpConnection;
  readonly #now: () => number;
  #readWaiters: (() => void)[] = [];
  #writeWaiters: (() => void)[] = [];
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;
  #resolveClosed!: () => void;
  #onConnected: (() => void) | undefined;

  /** Wraps a connection of the stack; applications get these from `connectTCP` or a listener. */
  constructor(conn: TcpConnection, now: () => number) {
    this.#conn = conn;
    this.#now = now;
    this.local = new AddrPort(conn.local, conn.localPort);
    this.remote = new AddrPort(conn.remote, conn.remotePort);
    this.localAddr = {
      transport: "tcp",
      hostname: formatIPAddress(conn.local),
      port: conn.localPort,
    };
    this.remoteAddr = {
      transport: "tcp",
      hostname: formatIPAddress(conn.remote),
      port: conn.remotePort,
    };
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    conn.events = {
      connected: () => this.#onConnected?.(),
      readable: () => this.#wake(this.#readWaiters),
      writable: () => this.#wake(this.#writeWaiters),
      closed: () => {
        this.#wake(this.#readWaiters);
        this.#wake(this.#writeWaiters);
        this.#onConnected?.();
        this.#resolveClosed();
      },
    };
    if (conn.state === TcpState.Closed) this.#resolveClosed();
  }

  /** The RFC 9293 state name. */
  get state(): TcpStateName {
    return this.#conn.state;
  }

  /** Why the connection failed, if it did. */
  get error(): Error | undefined {
    return this.#conn.error;
  }

  /** Counters of the connection. */
  get stats(): Readonly<TcpConnectionStats> {
    return this.#conn.stats;
  }

  /** Resolves when the handshake completes; rejects with the error if it fails (for connectTCP). */
  established(): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const c = this.#conn;
        if (c.error) reject(c.error);
        else if (c.state === TcpState.SynSent || c.state === TcpState.SynReceived) return false;
        else if (c.state === TcpState.Closed) reject(new SocketClosedError("connection closed"));
        else resolve();
        return true;
      };
      if (!check()) this.#onConnected = () => void check();
    });
  }

  /**
   * Reads into `p`: the number of bytes read, or null at end of stream.
   * Rejects with the connection's error after a reset or timeout.
   */
  async read(p: Uint8Array): Promise<number | null> {
    for (;;) {
      const c = this.#conn;
      const n = receive(c, p, this.#now());
      if (n > 0 || p.length === 0) return n;
      if (c.readEnded) return null;
      if (c.error) throw c.error;
      if (c.state === TcpState.Closed) return null;
      await new Promise<void>((resolve) => this.#readWaiters.push(resolve));
    }
  }

  /**
   * Queues bytes of `p` to send, waiting while the send buffer is full;
   * resolves with how many were taken (at least one, unless `p` is empty).
   */
  async write(p: Uint8Array): Promise<number> {
    for (;;) {
      const c = this.#conn;
      if (c.error) throw c.error;
      if (!c.canWrite) {
        throw c.state === TcpState.Closed
          ? new SocketClosedError("connection closed")
          : new WriteClosedError();
      }
      const n = send(c, p, this.#now());
      if (n > 0 || p.length === 0) return n;
      await new Promise<void>((resolve) => this.#writeWaiters.push(resolve));
    }
  }

  /** Writes all of `p`, waiting for buffer space as needed. */
  async writeAll(p: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < p.length) offset += await this.write(p.subarray(offset));
  }

  /** Shuts down writing: the peer reads end of stream after the queued data. */
  closeWrite(): Promise<void> {
    closeWrite(this.#conn, this.#now());
    return Promise.resolve();
  }

  /**
   * Closes the connection both ways. Queued data is still delivered (the
   * stack finishes the close in the background), unless unread received
   * data makes it a reset.
   */
  close(): void {
    close(this.#conn, this.#now());
    this.#wake(this.#readWaiters);
    this.#wake(this.#writeWaiters);
  }

  /** Aborts with a RST: queued data is dropped. */
  reset(): void {
    this.#conn.abort(this.#now(), new SocketClosedError("connection reset locally"));
  }

  /** Turns Nagle's algorithm off (default on), as `Deno.Conn.setNoDelay`. */
  setNoDelay(noDelay = true): void {
    setNoDelay(this.#conn, noDelay, this.#now());
  }

  /** Turns keepalive on (default off), as `Deno.Conn.setKeepAlive`. */
  setKeepAlive(keepAlive = true): void {
    setKeepAlive(this.#conn, keepAlive, this.#now());
  }

  /** No effect: the stack's timers never keep the process alive on their own. */
  ref(): void {}

  /** No effect (see {@link TcpConn.ref}). */
  unref(): void {}

  /** The received bytes as a stream; cancelling it closes the connection. */
  get readable(): ReadableStream<Uint8Array> {
    this.#readable ??= new ReadableStream({
      type: "bytes",
      pull: async (controller) => {
        const byob = controller.byobRequest;
        if (byob?.view) {
          const view = new Uint8Array(byob.view.buffer, byob.view.byteOffset, byob.view.byteLength);
          const n = await this.read(view);
          if (n === null) {
            controller.close();
            byob.respond(0);
          } else {
            byob.respond(n);
          }
          return;
        }
        const buffer = new Uint8Array(
          Math.max(4096, Math.min(READ_CHUNK, this.#conn.readableBytes)),
        );
        const n = await this.read(buffer);
        if (n === null) controller.close();
        else controller.enqueue(buffer.subarray(0, n));
      },
      cancel: () => this.close(),
    }, { highWaterMark: 0 });
    return this.#readable;
  }

  /** A stream that sends what is written to it; closing it half-closes (FIN), aborting resets. */
  get writable(): WritableStream<Uint8Array> {
    this.#writable ??= new WritableStream<Uint8Array>({
      write: (chunk) => this.writeAll(chunk),
      close: () => this.closeWrite(),
      abort: () => this.reset(),
    });
    return this.#writable;
  }

  /** Closes the connection. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes the connection. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  #wake(waiters: (() => void)[]): void {
    if (waiters.length === 0) return;
    const all = waiters.splice(0);
    for (const resolve of all) resolve();
  }
}
