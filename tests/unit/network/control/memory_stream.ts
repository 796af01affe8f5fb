/**
 * An in-memory byte stream pair with the `Deno.Conn` read/write/close shape
 * (network/control/noise_conn.ts `ByteStream`), for transport tests.
 */
import type { ByteStream } from "../../../../network/control/ts2021_conn.ts";

/** One end of an in-memory pipe. Reads return whatever was written, in order. */
export class MemoryStream implements ByteStream {
  peer!: MemoryStream;
  #queue: Uint8Array[] = [];
  #waiter: (() => void) | null = null;
  #eof = false;
  closed = false;
  /** Every byte written by this end, for inspection. */
  written: Uint8Array[] = [];
  /** Largest read size offered; smaller values force partial records. */
  maxReadChunk = Infinity;

  /** Makes two connected ends. */
  static pair(): [MemoryStream, MemoryStream] {
    const a = new MemoryStream();
    const b = new MemoryStream();
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  /** Delivers bytes to this end's reader as if the peer wrote them. */
  inject(bytes: Uint8Array): void {
    this.#queue.push(bytes.slice());
    this.#wake();
  }

  /** Ends this end's input (the peer half-closed). */
  injectEOF(): void {
    this.#eof = true;
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#queue.length === 0) {
      if (this.#eof || this.closed) {
        if (this.closed) throw new Deno.errors.BadResource("closed");
        return null;
      }
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
    const head = this.#queue[0];
    const n = Math.min(buffer.length, head.length, this.maxReadChunk);
    buffer.set(head.subarray(0, n));
    if (n === head.length) this.#queue.shift();
    else this.#queue[0] = head.subarray(n);
    return n;
  }

  write(data: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Deno.errors.BrokenPipe("closed"));
    this.written.push(data.slice());
    this.peer.inject(data);
    return Promise.resolve(data.length);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#wake();
    this.peer.injectEOF();
  }
}
