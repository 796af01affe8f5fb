/**
 * Carries bytes both ways between two byte streams (a mesh `TcpConn`, a
 * `Deno.Conn` to a local service or a local API client, stdin/stdout), with
 * half-close: the end of one side's stream becomes a `closeWrite` on the
 * other, so a peer that shuts down its writing still gets the answer. A
 * `Deno.Conn` and a `TcpConn` are both a {@link ByteStream}.
 *
 * The relay ends when both directions have ended, or at once when either
 * fails (a reset, a write to a closed peer) or `signal` aborts; then both
 * streams are closed, so nothing of the pair outlives it, and the relay
 * does not wait for a read that closing cannot end (a terminal's stdin).
 * Memory is one buffer per direction.
 *
 * @module
 */

/** What the relay needs of a stream: `Deno.Conn` and the mesh `TcpConn` have it. */
export interface ByteStream {
  /** Reads into `p`: bytes read, or null at the end of the stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves with how many bytes were taken. */
  write(p: Uint8Array): Promise<number>;
  /** Ends our writing (the other side reads the end of the stream). */
  closeWrite(): Promise<void>;
  /** Closes both ways. */
  close(): void;
  /**
   * Why the stream ended, when its end of stream may hide a failure further
   * on (a work's dial carried over a Unix socket ends the same whether the
   * mesh connection closed or was reset); undefined for a clean end.
   */
  failure?(): Promise<Error | undefined>;
}

/** How a relay ended. */
export interface RelayResult {
  /** Bytes carried from `a` to `b`. */
  aToB: number;
  /** Bytes carried from `b` to `a`. */
  bToA: number;
  /** The first error of either direction (a reset, a broken pipe), if any. */
  error?: Error;
}

/** Options of {@link relay}. */
export interface RelayOptions {
  /** Ends the relay (both streams are closed). */
  signal?: AbortSignal;
  /** Bytes of each direction's buffer (default 64 KiB). */
  bufferSize?: number;
  /** Bytes already read from `a` (after a handshake), written to `b` first. */
  aPrefix?: Uint8Array;
  /** Bytes already read from `b`, written to `a` first. */
  bPrefix?: Uint8Array;
}

const DEFAULT_BUFFER = 64 * 1024;

async function writeAll(stream: ByteStream, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await stream.write(bytes.subarray(offset));
}

function closeQuietly(stream: ByteStream): void {
  try {
    stream.close();
  } catch {
    // Already closed.
  }
}

/**
 * Relays `a` ↔ `b` until both directions end; resolves (never rejects) with
 * the byte counts and the first error. Both streams are closed when it
 * resolves.
 *
 * @example
 * ```ts
 * const mesh = await node.dial("db", 5432);
 * const local = await Deno.connect({ port: 15432 });
 * const { aToB, bToA } = await relay(local, mesh);
 * ```
 */
export async function relay(
  a: ByteStream,
  b: ByteStream,
  options: RelayOptions = {},
): Promise<RelayResult> {
  const result: RelayResult = { aToB: 0, bToA: 0 };
  let finished = false;
  let failed!: () => void;
  const failure = new Promise<void>((resolve) => failed = resolve);
  const fail = (error: unknown) => {
    if (finished) return;
    result.error ??= error instanceof Error ? error : new Error(String(error));
    // Closing both ends wakes the other direction, whatever it waits on.
    finished = true;
    closeQuietly(a);
    closeQuietly(b);
    failed();
  };
  const onAbort = () => fail(options.signal?.reason ?? new Error("relay aborted"));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const size = options.bufferSize ?? DEFAULT_BUFFER;
  const pump = async (
    from: ByteStream,
    to: ByteStream,
    prefix: Uint8Array | undefined,
    count: (n: number) => void,
  ) => {
    try {
      if (prefix && prefix.length > 0) {
        await writeAll(to, prefix);
        count(prefix.length);
      }
      const buffer = new Uint8Array(size);
      for (;;) {
        const n = await from.read(buffer);
        if (n === null || finished) break;
        await writeAll(to, buffer.subarray(0, n));
        count(n);
      }
      if (!finished) await to.closeWrite();
    } catch (error) {
      fail(error);
    }
  };
  try {
    await Promise.race([
      Promise.all([
        pump(a, b, options.aPrefix, (n) => result.aToB += n),
        pump(b, a, options.bPrefix, (n) => result.bToA += n),
      ]),
      failure,
    ]);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    finished = true;
    closeQuietly(a);
    closeQuietly(b);
  }
  return result;
}
