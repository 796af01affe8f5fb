/**
 * The ts2021 Noise transport (control protocol reference §5): records
 * `[0x04][len u16 BE][ChaCha20-Poly1305 ciphertext]` of at most 4096 bytes,
 * nonces of four zero bytes and a big-endian 64-bit counter (unlike the Noise
 * spec's little-endian one), writes split at 4077 plaintext bytes, empty
 * records skipped, and the first authentication failure fatal for the
 * reading side.
 *
 * {@link NoiseFrameWriter} and {@link NoiseFrameReader} do no I/O;
 * {@link NoiseConn} runs them over a byte stream as a `node:stream` Duplex,
 * which `node:http2`'s `connect({ createConnection })` accepts.
 */
import { Duplex } from "node:stream";
import { chachaOpen, chachaSealInto } from "../crypto/chacha20poly1305.ts";
import {
  HEADER_LENGTH,
  MAX_MESSAGE_SIZE,
  MAX_PLAINTEXT_SIZE,
  MSG_TYPE_RECORD,
  NoiseProtocolError,
  writeRecordHeader,
} from "./ts2021_messages.ts";

const TAG_LENGTH = 16;
const U32 = 0x1_0000_0000;

/** Thrown when a direction has used every nonce (§5: counter 2^64−1 is invalid). */
export class NonceExhaustedError extends Error {
  constructor() {
    super("Noise transport nonce space exhausted");
    this.name = "NonceExhaustedError";
  }
}

/** Thrown (and kept) once a received record fails authentication. */
export class NoiseDecryptError extends Error {
  constructor() {
    super("Noise transport record failed authentication");
    this.name = "NoiseDecryptError";
  }
}

/**
 * A 64-bit nonce counter kept as two u32 halves and written big-endian into
 * bytes 4–11 of a 12-byte nonce whose first four bytes stay zero.
 */
class NonceCounter {
  readonly nonce = new Uint8Array(12);
  #view = new DataView(this.nonce.buffer);
  #high: number;
  #low: number;

  constructor(initial: bigint) {
    if (initial < 0n || initial >= 1n << 64n) throw new RangeError("nonce out of range");
    this.#high = Number(initial >> 32n);
    this.#low = Number(initial & 0xffff_ffffn);
  }

  /** Writes the current counter into {@link nonce} and advances it. */
  next(): Uint8Array {
    if (this.#high === 0xffff_ffff && this.#low === 0xffff_ffff) throw new NonceExhaustedError();
    this.#view.setUint32(4, this.#high);
    this.#view.setUint32(8, this.#low);
    this.#low += 1;
    if (this.#low === U32) {
      this.#low = 0;
      this.#high += 1;
    }
    return this.nonce;
  }
}

/** Seals plaintext into transport records with the sending key. */
export class NoiseFrameWriter {
  #key: Uint8Array;
  #counter: NonceCounter;
  #failed: Error | null = null;

  /** `initialNonce` exists for tests of nonce exhaustion; real use starts at 0. */
  constructor(sendKey: Uint8Array, initialNonce = 0n) {
    this.#key = sendKey;
    this.#counter = new NonceCounter(initialNonce);
  }

  /**
   * Seals `plaintext` as one or more records (≤ 4077 plaintext bytes each),
   * returned back to back in one buffer. An empty input gives one empty
   * record. After an error every later call throws the same error.
   */
  seal(plaintext: Uint8Array): Uint8Array {
    if (this.#failed) throw this.#failed;
    const frames = Math.max(1, Math.ceil(plaintext.length / MAX_PLAINTEXT_SIZE));
    const out = new Uint8Array(plaintext.length + frames * (HEADER_LENGTH + TAG_LENGTH));
    let offset = 0;
    try {
      for (let start = 0, i = 0; i < frames; i++, start += MAX_PLAINTEXT_SIZE) {
        const chunk = plaintext.subarray(
          start,
          Math.min(plaintext.length, start + MAX_PLAINTEXT_SIZE),
        );
        const nonce = this.#counter.next();
        const sealed = chachaSealInto(
          out.subarray(offset + HEADER_LENGTH),
          this.#key,
          nonce,
          chunk,
        );
        writeRecordHeader(out, offset, sealed);
        offset += HEADER_LENGTH + sealed;
      }
    } catch (err) {
      this.#failed = err as Error;
      throw err;
    }
    return out;
  }
}

/**
 * Reassembles transport records from arbitrary chunks of the byte stream
 * and opens them. Complete records inside a chunk are opened in place;
 * only a record split across chunks is copied into a fixed 4096-byte buffer.
 */
export class NoiseFrameReader {
  #key: Uint8Array;
  #counter: NonceCounter;
  #partial = new Uint8Array(MAX_MESSAGE_SIZE);
  #partialLength = 0;
  #failed: Error | null = null;

  /** `initialNonce` exists for tests of nonce exhaustion; real use starts at 0. */
  constructor(receiveKey: Uint8Array, initialNonce = 0n) {
    this.#key = receiveKey;
    this.#counter = new NonceCounter(initialNonce);
  }

  /** Whether bytes of an incomplete record are buffered. */
  get hasPartialRecord(): boolean {
    return this.#partialLength > 0;
  }

  /**
   * Consumes `chunk` and calls `onPlaintext` for every non-empty record it
   * completes, in order. Throws on the first bad record, and from then on
   * every call throws that error again (the stream is poisoned).
   */
  push(chunk: Uint8Array, onPlaintext: (plaintext: Uint8Array) => void): void {
    if (this.#failed) throw this.#failed;
    try {
      this.#consume(chunk, onPlaintext);
    } catch (err) {
      this.#failed = err as Error;
      throw err;
    }
  }

  #consume(chunk: Uint8Array, onPlaintext: (plaintext: Uint8Array) => void): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#partialLength > 0) {
        pos += this.#fillPartial(chunk, pos);
        const total = this.#partialTotal();
        if (total < 0 || this.#partialLength < total) continue;
        const record = this.#partial.subarray(0, total);
        this.#partialLength = 0;
        this.#open(record, onPlaintext);
        continue;
      }
      const remaining = chunk.length - pos;
      if (remaining >= HEADER_LENGTH) {
        const total = recordLength(chunk, pos);
        if (remaining >= total) {
          this.#open(chunk.subarray(pos, pos + total), onPlaintext);
          pos += total;
          continue;
        }
      }
      this.#partial.set(chunk.subarray(pos), 0);
      this.#partialLength = remaining;
      pos = chunk.length;
      // Validates the header as soon as it is complete.
      this.#partialTotal();
    }
  }

  /** Copies as much of `chunk` as the current partial record still needs. */
  #fillPartial(chunk: Uint8Array, pos: number): number {
    let need = this.#partialTotal();
    if (need < 0) need = HEADER_LENGTH;
    const take = Math.min(need - this.#partialLength, chunk.length - pos);
    this.#partial.set(chunk.subarray(pos, pos + take), this.#partialLength);
    this.#partialLength += take;
    return take;
  }

  /** Total length of the buffered record, or −1 while its header is incomplete. */
  #partialTotal(): number {
    if (this.#partialLength < HEADER_LENGTH) return -1;
    return recordLength(this.#partial, 0);
  }

  #open(record: Uint8Array, onPlaintext: (plaintext: Uint8Array) => void): void {
    const plaintext = chachaOpen(this.#key, this.#counter.next(), record.subarray(HEADER_LENGTH));
    if (plaintext === null) throw new NoiseDecryptError();
    if (plaintext.length > 0) onPlaintext(plaintext);
  }
}

/** Checks a record header at `pos` and returns the record's total length. */
function recordLength(bytes: Uint8Array, pos: number): number {
  if (bytes[pos] !== MSG_TYPE_RECORD) {
    throw new NoiseProtocolError(`unexpected Noise frame type ${bytes[pos]} after the handshake`);
  }
  const total = HEADER_LENGTH + ((bytes[pos + 1] << 8) | bytes[pos + 2]);
  if (total > MAX_MESSAGE_SIZE) {
    throw new NoiseProtocolError(`Noise frame of ${total} bytes exceeds ${MAX_MESSAGE_SIZE}`);
  }
  return total;
}

/** The subset of `Deno.Conn` the transport needs. */
export interface ByteStream {
  /** Reads into `buffer`; resolves to the byte count, or null at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `data`; resolves to the number of bytes written. */
  write(data: Uint8Array): Promise<number>;
  /** Closes both directions. */
  close(): void;
}

/** Options of {@link NoiseConn}. */
export interface NoiseConnOptions {
  /** Bytes already read from the stream after the handshake response. */
  initialBytes?: Uint8Array;
  /**
   * Sees every plaintext chunk before it is pushed to readers; returns the
   * bytes to pass on (null or empty to pass nothing). Used to strip the
   * early payload (§6).
   */
  readFilter?: (plaintext: Uint8Array) => Uint8Array | null;
  /** Size of the reused read buffer. */
  readBufferSize?: number;
}

/**
 * A Noise transport over a byte stream, as a Duplex of plaintext bytes.
 * Writes are sealed and written in order; reads are opened records. The
 * read loop pauses while the readable side is full (back-pressure reaches
 * the TCP connection). Destroying the Duplex closes the stream.
 */
export class NoiseConn extends Duplex {
  #stream: ByteStream;
  #writer: NoiseFrameWriter;
  #reader: NoiseFrameReader;
  #readFilter: ((plaintext: Uint8Array) => Uint8Array | null) | undefined;
  #readBuffer: Uint8Array;
  #wantRead = true;
  #wake: (() => void) | null = null;
  #pumping = false;
  #closed = false;

  /** Wraps `stream`, which has just completed the handshake that produced `keys`. */
  constructor(
    stream: ByteStream,
    keys: { sendKey: Uint8Array; receiveKey: Uint8Array },
    options: NoiseConnOptions = {},
  ) {
    super({ allowHalfOpen: false });
    this.#stream = stream;
    this.#writer = new NoiseFrameWriter(keys.sendKey);
    this.#reader = new NoiseFrameReader(keys.receiveKey);
    this.#readFilter = options.readFilter;
    this.#readBuffer = new Uint8Array(options.readBufferSize ?? 32 * 1024);
    if (options.initialBytes && options.initialBytes.length > 0) {
      try {
        this.#reader.push(options.initialBytes, (p) => this.#deliver(p));
      } catch (err) {
        queueMicrotask(() => this.destroy(err as Error));
      }
    }
  }

  // Socket-like no-ops that HTTP/2 clients may call on their transport.
  /** No-op; present because HTTP/2 sessions call it on sockets. */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }
  /** No-op; present because HTTP/2 sessions call it on sockets. */
  setKeepAlive(_enable?: boolean, _delay?: number): this {
    return this;
  }
  /** No-op; present because HTTP/2 sessions call it on sockets. */
  setTimeout(_ms: number, _callback?: () => void): this {
    return this;
  }
  /** No-op; present because HTTP/2 sessions call it on sockets. */
  ref(): this {
    return this;
  }
  /** No-op; present because HTTP/2 sessions call it on sockets. */
  unref(): this {
    return this;
  }

  #deliver(plaintext: Uint8Array): void {
    const out = this.#readFilter ? this.#readFilter(plaintext) : plaintext;
    if (out && out.length > 0 && !this.push(out)) this.#wantRead = false;
  }

  /** Resumes the read loop (Readable contract). */
  override _read(): void {
    this.#wantRead = true;
    if (this.#wake) {
      const wake = this.#wake;
      this.#wake = null;
      wake();
    }
    if (!this.#pumping) {
      this.#pumping = true;
      this.#pump();
    }
  }

  async #pump(): Promise<void> {
    try {
      while (!this.#closed) {
        if (!this.#wantRead) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          continue;
        }
        const n = await this.#stream.read(this.#readBuffer);
        if (this.#closed) return;
        if (n === null) {
          if (this.#reader.hasPartialRecord) {
            throw new NoiseProtocolError("connection closed in the middle of a Noise frame");
          }
          this.push(null);
          return;
        }
        this.#reader.push(this.#readBuffer.subarray(0, n), (p) => this.#deliver(p));
      }
    } catch (err) {
      if (!this.#closed) this.destroy(err as Error);
    }
  }

  /** Seals and writes one chunk (Writable contract). */
  override _write(
    chunk: Uint8Array,
    _encoding: string,
    callback: (error?: Error | null) => void,
  ): void {
    let frames: Uint8Array;
    try {
      frames = this.#writer.seal(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    this.#writeAll(frames).then(() => callback(), (err) => callback(err as Error));
  }

  /** Seals and writes several chunks as one (Writable contract). */
  override _writev(
    chunks: Array<{ chunk: Uint8Array; encoding: string }>,
    callback: (error?: Error | null) => void,
  ): void {
    let total = 0;
    for (const { chunk } of chunks) total += chunk.length;
    const joined = new Uint8Array(total);
    let offset = 0;
    for (const { chunk } of chunks) {
      joined.set(chunk, offset);
      offset += chunk.length;
    }
    this._write(joined, "buffer", callback);
  }

  async #writeAll(data: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < data.length) {
      offset += await this.#stream.write(data.subarray(offset));
    }
  }

  /** Ends the writable side (Writable contract). */
  override _final(callback: (error?: Error | null) => void): void {
    // ts2021 has no half-close; the stream closes when the Duplex is destroyed.
    callback();
  }

  /** Closes the byte stream (Duplex contract). */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#closed = true;
    if (this.#wake) {
      const wake = this.#wake;
      this.#wake = null;
      wake();
    }
    try {
      this.#stream.close();
    } catch {
      // Already closed.
    }
    callback(error);
  }
}
