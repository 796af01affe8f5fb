/**
 * A buffered reader over a connection, for the few exchanges before the
 * Noise transport starts: an HTTP/1.1 response head and body, then the
 * 51-byte handshake response. Whatever it has read beyond what was asked
 * for can be taken back with {@link ConnReader.takeBuffered}, so that bytes
 * arriving together with the 101 response are not lost (reference §3.1).
 */
import type { ByteStream } from "./ts2021_conn.ts";

/** Thrown when the connection ends before the expected bytes arrived. */
export class UnexpectedEOFError extends Error {
  /** Makes the error with what was missing. */
  constructor(message: string) {
    super(message);
    this.name = "UnexpectedEOFError";
  }
}

/** Buffered reads from a {@link ByteStream}. */
export class ConnReader {
  #stream: Pick<ByteStream, "read">;
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  #eof = false;

  /** Reads from `stream`; the buffer starts at `initialCapacity` bytes and grows. */
  constructor(stream: Pick<ByteStream, "read">, initialCapacity = 4096) {
    this.#stream = stream;
    this.#buffer = new Uint8Array(initialCapacity);
  }

  /** Number of bytes read from the connection but not yet consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Reads more bytes into the buffer; false at end of stream. */
  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    if (this.#start > 0 && this.#start === this.#end) {
      this.#start = this.#end = 0;
    }
    if (this.#end === this.#buffer.length) {
      const live = this.#end - this.#start;
      if (live * 2 > this.#buffer.length) {
        const next = new Uint8Array(this.#buffer.length * 2);
        next.set(this.#buffer.subarray(this.#start, this.#end), 0);
        this.#buffer = next;
      } else {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = live;
    }
    const n = await this.#stream.read(this.#buffer.subarray(this.#end));
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#end += n;
    return true;
  }

  /** Reads exactly `n` bytes; throws {@link UnexpectedEOFError} if the stream ends first. */
  async readExact(n: number): Promise<Uint8Array> {
    while (this.buffered < n) {
      if (!(await this.#fill())) {
        throw new UnexpectedEOFError(`connection closed after ${this.buffered} of ${n} bytes`);
      }
    }
    const out = this.#buffer.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /**
   * Reads through the first occurrence of `delimiter` and returns the bytes
   * before it (the delimiter is consumed). Throws when more than `maxLength`
   * bytes pass without it, or at end of stream.
   */
  async readUntil(delimiter: Uint8Array, maxLength: number): Promise<Uint8Array> {
    let searchFrom = this.#start;
    for (;;) {
      const at = indexOf(this.#buffer, delimiter, searchFrom, this.#end);
      if (at >= 0) {
        const out = this.#buffer.slice(this.#start, at);
        this.#start = at + delimiter.length;
        return out;
      }
      if (this.buffered > maxLength) {
        throw new RangeError(`no delimiter within ${maxLength} bytes`);
      }
      const consumedOffset = Math.max(0, this.#end - this.#start - delimiter.length + 1);
      if (!(await this.#fill())) {
        throw new UnexpectedEOFError(`connection closed after ${this.buffered} bytes`);
      }
      searchFrom = this.#start + consumedOffset;
    }
  }

  /** Reads up to `maxLength` bytes, or fewer if the stream ends first. */
  async readUpTo(maxLength: number): Promise<Uint8Array> {
    while (this.buffered < maxLength) {
      if (!(await this.#fill())) break;
    }
    const n = Math.min(maxLength, this.buffered);
    const out = this.#buffer.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** Whether the stream has ended and nothing is buffered. */
  async atEOF(): Promise<boolean> {
    if (this.buffered > 0) return false;
    return !(await this.#fill());
  }

  /** Hands back (and forgets) every buffered byte. */
  takeBuffered(): Uint8Array {
    const out = this.#buffer.slice(this.#start, this.#end);
    this.#start = this.#end = 0;
    return out;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number, to: number): number {
  const last = to - needle.length;
  outer: for (let i = from; i <= last; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
