/**
 * What the mesh interop tests and benchmarks put around the peers: local TCP
 * services on 127.0.0.1 (a real tailscaled in userspace mode forwards the
 * connections for its mesh IP to them; `citadel expose` forwards to them),
 * byte streams of known content with their sha256, and a CitadelNode with
 * the data plane on loopback only.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { CitadelNode } from "../../network/node.ts";
import { MemoryStateStore } from "../../state/memory_store.ts";
import type { HeadscaleServer } from "./headscale.ts";

/** 1 MiB. */
export const MiB = 1024 * 1024;

/** A deterministic, fast pseudo-random byte source (xorshift32), chunk by chunk. */
export class PatternSource {
  #state: number;
  /** A source from a seed (never 0). */
  constructor(seed = 0x9e3779b9) {
    this.#state = seed >>> 0 || 1;
  }
  /** The next `n` bytes (a fresh array). */
  next(n: number): Uint8Array {
    const out = new Uint8Array(n);
    const words = new Uint32Array(out.buffer, 0, n >>> 2);
    let x = this.#state;
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x >>> 0;
    }
    for (let i = words.length * 4; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
    this.#state = x >>> 0;
    return out;
  }
}

/** The sha256 (hex) of `total` bytes of {@link PatternSource} with `seed`. */
export function patternSha256(total: number, seed?: number, chunk = MiB): string {
  const source = new PatternSource(seed);
  const hash = createHash("sha256");
  for (let sent = 0; sent < total; sent += chunk) {
    hash.update(source.next(Math.min(chunk, total - sent)));
  }
  return hash.digest("hex");
}

/** What a {@link startTcpService} records per connection. */
export interface ServedConnection {
  /** Bytes read from the client. */
  received: number;
  /** sha256 (hex) of them. */
  sha256: string;
  /** Bytes written to the client. */
  sent: number;
  /** ms from accept to the end of the client's stream (sinks). */
  elapsedMs: number;
}

/** A local TCP service's behaviour. */
export type ServiceKind =
  | { kind: "echo" }
  | { kind: "source"; bytes: number; seed?: number }
  | { kind: "sink" }
  | { kind: "hello" };

/** A running local service. */
export interface TcpService {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** What each finished connection did, in order. */
  readonly done: ServedConnection[];
  /** Connections open now. */
  readonly open: () => number;
  /** Stops it and closes every connection. */
  close(): Promise<void>;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/**
 * A TCP service on 127.0.0.1: `echo` sends back what it reads (then half-
 * closes after the client's end); `source` sends `bytes` of a pattern and
 * closes; `sink` reads to the end and answers `"<bytes> <sha256>\n"`;
 * `hello` writes `hello\n` and closes.
 */
export function startTcpService(spec: ServiceKind): TcpService {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done: ServedConnection[] = [];
  const conns = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    const started = performance.now();
    const record: ServedConnection = { received: 0, sha256: "", sent: 0, elapsedMs: 0 };
    const hash = createHash("sha256");
    const buffer = new Uint8Array(256 * 1024);
    try {
      if (spec.kind === "hello") {
        await writeAll(conn, new TextEncoder().encode("hello\n"));
        record.sent = 6;
      } else if (spec.kind === "source") {
        const source = new PatternSource(spec.seed);
        while (record.sent < spec.bytes) {
          const chunk = source.next(Math.min(256 * 1024, spec.bytes - record.sent));
          await writeAll(conn, chunk);
          record.sent += chunk.length;
        }
      } else {
        for (;;) {
          const n = await conn.read(buffer);
          if (n === null) break;
          record.received += n;
          const chunk = buffer.subarray(0, n);
          hash.update(chunk);
          if (spec.kind === "echo") {
            await writeAll(conn, chunk);
            record.sent += n;
          }
        }
        record.elapsedMs = performance.now() - started;
        record.sha256 = hash.digest("hex");
        if (spec.kind === "sink") {
          const answer = new TextEncoder().encode(`${record.received} ${record.sha256}\n`);
          await writeAll(conn, answer);
        }
      }
    } catch {
      // The client went away; recorded as far as it got.
    } finally {
      done.push(record);
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      void serve(conn);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    done,
    open: () => conns.size,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await accepting;
    },
  };
}

/**
 * A CitadelNode joined with `authKey`, its state in memory, the data plane
 * on (DERP, and direct UDP on 127.0.0.1 only).
 */
export async function startMeshNode(
  hs: HeadscaleServer,
  authKey: string,
  hostname: string,
): Promise<CitadelNode> {
  const node = new CitadelNode({
    controlURL: hs.url,
    store: new MemoryStateStore(),
    authKey,
    hostname,
    dataPlane: {
      plainHTTPDerp: !hs.url.startsWith("https:"),
      udp: { hostname: "127.0.0.1", port: 0, advertise: "all" },
    },
  });
  await node.start();
  return node;
}

/** Reads a stream to its end: bytes and sha256. */
export async function drain(
  read: (p: Uint8Array) => Promise<number | null>,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  const buffer = new Uint8Array(256 * 1024);
  let bytes = 0;
  for (;;) {
    const n = await read(buffer);
    if (n === null) break;
    bytes += n;
    hash.update(buffer.subarray(0, n));
  }
  return { bytes, sha256: hash.digest("hex") };
}
