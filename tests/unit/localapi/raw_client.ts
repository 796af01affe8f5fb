/**
 * A raw client for the local API transport tests: bytes in, bytes out, over a
 * Unix socket, with the time it took, so tests can send what no HTTP client
 * would (half heads, lies about lengths, garbage) and see exactly when the
 * server hangs up.
 */

/** What came back on one connection. */
export interface RawExchange {
  /** Everything the server sent before it closed (or before `waitMs`). */
  text: string;
  /** The status code of the answer's status line, or null without one. */
  status: number | null;
  /** Whether the server closed the connection (false: we gave up after `waitMs`). */
  closedByServer: boolean;
  /** Milliseconds from connect to the server's close (or to giving up). */
  elapsedMs: number;
}

/** The status code in `text`'s status line, or null. */
export function statusOf(text: string): number | null {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(text);
  return match ? Number(match[1]) : null;
}

/** Reads until the server closes or `waitMs` passes; at most `maxBytes` are kept. */
export async function readUntilClose(
  conn: Deno.Conn,
  waitMs: number,
  maxBytes = 1 << 20,
): Promise<{ bytes: Uint8Array; closedByServer: boolean }> {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  const buffer = new Uint8Array(64 * 1024);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const giveUp = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), waitMs);
  });
  let closedByServer = false;
  try {
    for (;;) {
      const n = await Promise.race([conn.read(buffer).catch(() => null), giveUp]);
      if (n === "timeout") break;
      if (n === null) {
        closedByServer = true;
        break;
      }
      if (kept < maxBytes) {
        chunks.push(buffer.slice(0, n));
        kept += n;
      }
    }
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(kept);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { bytes, closedByServer };
}

/**
 * Connects to `path`, writes `request`, optionally half-closes, and reads the
 * answer until the server closes (or `waitMs`).
 */
export async function exchangeRaw(
  path: string,
  request: Uint8Array | string,
  options: { waitMs?: number; closeWrite?: boolean } = {},
): Promise<RawExchange> {
  const started = performance.now();
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    const bytes = typeof request === "string" ? new TextEncoder().encode(request) : request;
    try {
      let offset = 0;
      while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
      if (options.closeWrite) await conn.closeWrite();
    } catch {
      // The server may close before reading everything; its answer still counts.
    }
    const { bytes: answer, closedByServer } = await readUntilClose(conn, options.waitMs ?? 5_000);
    const text = new TextDecoder().decode(answer);
    return {
      text,
      status: statusOf(text),
      closedByServer,
      elapsedMs: performance.now() - started,
    };
  } finally {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  }
}
