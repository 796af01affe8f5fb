/**
 * Bulk data for transfer tests: a seeded byte stream written in chunks and
 * hashed (SHA-256) as it goes, and a reader that hashes what arrives.
 */
import { createHash } from "node:crypto";
import type { TcpConn } from "../../../../network/netstack/socket/tcp_conn.ts";
import { SeededPrng } from "./link_simulator.ts";

/** What a sender or receiver saw. */
export interface BulkResult {
  /** Bytes moved. */
  bytes: number;
  /** SHA-256 of them, hex. */
  sha256: string;
}

/** Writes `total` seeded bytes to `conn` in `chunk`-sized writes, then half-closes. */
export async function sendBulk(
  conn: TcpConn,
  total: number,
  seed: number,
  chunk = 64 * 1024,
): Promise<BulkResult> {
  const prng = new SeededPrng(seed);
  const hash = createHash("sha256");
  const buffer = new Uint8Array(chunk);
  let sent = 0;
  while (sent < total) {
    const n = Math.min(chunk, total - sent);
    const piece = prng.fill(buffer.subarray(0, n));
    hash.update(piece);
    await conn.writeAll(piece);
    sent += n;
  }
  await conn.closeWrite();
  return { bytes: sent, sha256: hash.digest("hex") };
}

/** Reads `conn` to its end. */
export async function receiveAll(conn: TcpConn, bufferSize = 64 * 1024): Promise<BulkResult> {
  const hash = createHash("sha256");
  const buffer = new Uint8Array(bufferSize);
  let bytes = 0;
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
    bytes += n;
  }
  return { bytes, sha256: hash.digest("hex") };
}
