/**
 * How the Redis client reaches a server: an injected dial function that
 * returns a byte stream. `citadel work` gives the mesh netstack's TCP dial (so
 * `redis://peer-name:6379` goes through WireGuard); tests and a Redis on this
 * machine use {@link dialTcp}.
 *
 * @module
 */

/** A bidirectional byte stream, such as a `Deno.Conn` or a mesh TCP connection. */
export interface RedisDuplex {
  /** Bytes from the server. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the server. */
  writable: WritableStream<Uint8Array>;
  /** Closes both directions; safe to call more than once. */
  close(): void | Promise<void>;
  /** How the stream goes, for logs and status: `mesh 100.64.0.2:6379`, `direct 127.0.0.1:6379`. */
  route?: string;
}

/** Opens a byte stream to `host:port`; rejects when it cannot (or when `signal` aborts). */
export type RedisDial = (host: string, port: number, signal?: AbortSignal) => Promise<RedisDuplex>;

/**
 * Plain TCP with `Deno.connect` (needs `--allow-net`).
 *
 * @example
 * ```ts
 * const stream = await dialTcp("127.0.0.1", 6379);
 * ```
 */
export async function dialTcp(
  host: string,
  port: number,
  signal?: AbortSignal,
): Promise<RedisDuplex> {
  signal?.throwIfAborted();
  const conn = await Deno.connect({ hostname: host, port, transport: "tcp" });
  if (signal?.aborted) {
    conn.close();
    signal.throwIfAborted();
  }
  conn.setNoDelay(true);
  let closed = false;
  const remote = conn.remoteAddr as Deno.NetAddr;
  return {
    route: `direct ${
      remote.hostname.includes(":") ? `[${remote.hostname}]` : remote.hostname
    }:${remote.port}`,
    readable: conn.readable,
    writable: conn.writable,
    close: () => {
      if (closed) return;
      closed = true;
      try {
        conn.close();
      } catch {
        // Already closed by the streams.
      }
    },
  };
}
