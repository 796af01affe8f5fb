/**
 * In-memory byte streams for the bridge tests: {@link memoryPair} is two
 * connected ends with TCP's semantics as far as the relay uses them (data in
 * order, `closeWrite` gives the other end the end of its stream, `close`
 * makes the other end's reads end and its writes fail).
 */
import type { ByteStream } from "../../../bridge/relay.ts";

class Half {
  chunks: Uint8Array[] = [];
  ended = false;
  waiters: (() => void)[] = [];
  wake() {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** One end of a {@link memoryPair}. */
export class MemoryEnd implements ByteStream {
  closed = false;
  writeClosed = false;
  remoteAddr = { hostname: "100.64.0.9", port: 40000 };
  resets = 0;
  constructor(readonly inbox: Half, readonly outbox: Half, readonly peer: () => MemoryEnd) {}

  async read(p: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.closed) throw new Deno.errors.BadResource("closed");
      const chunk = this.inbox.chunks[0];
      if (chunk) {
        const n = Math.min(chunk.length, p.length);
        p.set(chunk.subarray(0, n));
        if (n === chunk.length) this.inbox.chunks.shift();
        else this.inbox.chunks[0] = chunk.subarray(n);
        return n;
      }
      if (this.inbox.ended) return null;
      await new Promise<void>((resolve) => this.inbox.waiters.push(resolve));
    }
  }

  write(p: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    if (this.writeClosed || this.peer().closed) {
      return Promise.reject(new Deno.errors.BrokenPipe("broken pipe"));
    }
    this.outbox.chunks.push(p.slice());
    this.outbox.wake();
    return Promise.resolve(p.length);
  }

  closeWrite(): Promise<void> {
    if (this.closed) return Promise.reject(new Deno.errors.NotConnected("closed"));
    this.writeClosed = true;
    this.outbox.ended = true;
    this.outbox.wake();
    return Promise.resolve();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.outbox.ended = true;
    this.inbox.ended = true;
    this.outbox.wake();
    this.inbox.wake();
  }

  reset(): void {
    this.resets++;
    this.close();
  }

  /** Reads to the end; the bytes. */
  async readAll(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await this.read(buf);
      if (n === null) break;
      parts.push(buf.slice(0, n));
    }
    const out = new Uint8Array(parts.reduce((s, c) => s + c.length, 0));
    let at = 0;
    for (const c of parts) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** Two connected ends. */
export function memoryPair(): [MemoryEnd, MemoryEnd] {
  const ab = new Half();
  const ba = new Half();
  // deno-lint-ignore prefer-const
  let a: MemoryEnd, b: MemoryEnd;
  a = new MemoryEnd(ba, ab, () => b);
  b = new MemoryEnd(ab, ba, () => a);
  return [a, b];
}

/** Text to bytes. */
export const bytes = (text: string) => new TextEncoder().encode(text);
/** Bytes to text. */
export const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A listener the test feeds connections into (a mesh `TcpListener` stand-in). */
export class MemoryListener {
  #queue: MemoryEnd[] = [];
  #wake: (() => void) | null = null;
  closed = false;
  /** Hands the listener's iterator a connection. */
  push(conn: MemoryEnd) {
    this.#queue.push(conn);
    this.#wake?.();
  }
  /** Ends the iteration. */
  close() {
    this.closed = true;
    this.#wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<MemoryEnd> {
    for (;;) {
      const next = this.#queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((r) => this.#wake = r);
      this.#wake = null;
    }
  }
}
