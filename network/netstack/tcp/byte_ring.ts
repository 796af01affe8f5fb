/**
 * A bounded byte ring that grows on demand: the send buffer and the receive
 * buffer of a TCP connection. Its ceiling is fixed when it is made; its
 * allocation starts empty and doubles as data arrives, so an idle
 * connection holds almost nothing. Past the committed bytes it accepts
 * writes at an offset, which is where out-of-order segments wait for the
 * hole before them to fill (the approach of smoltcp's assembler: the data
 * sits where it belongs, a separate list says which ranges are present).
 *
 * @module
 */

const MIN_ALLOCATION = 4096;

/** A byte ring with at most `capacity` bytes, committed ones first. */
export class ByteRing {
  /** The most bytes the ring holds, committed or written ahead. */
  readonly capacity: number;
  #buffer = new Uint8Array(0);
  #head = 0;
  #length = 0;

  /** An empty ring that never holds more than `capacity` bytes. */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`ring capacity ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** Committed bytes (readable, or queued to send). */
  get length(): number {
    return this.#length;
  }

  /** Room left for committed bytes. */
  get free(): number {
    return this.capacity - this.#length;
  }

  /** Bytes allocated now. */
  get allocated(): number {
    return this.#buffer.length;
  }

  /** Appends as much of `data` as fits and commits it; returns the bytes taken. */
  append(data: Uint8Array): number {
    const n = Math.min(data.length, this.free);
    if (n === 0) return 0;
    this.writeAt(0, n === data.length ? data : data.subarray(0, n));
    this.#length += n;
    return n;
  }

  /**
   * Writes `data` at `offset` bytes past the committed ones, without
   * committing it. Throws a RangeError when it would pass the capacity.
   */
  writeAt(offset: number, data: Uint8Array): void {
    const end = this.#length + offset + data.length;
    if (offset < 0 || end > this.capacity) {
      throw new RangeError(`write of ${data.length} at +${offset} passes the ring's capacity`);
    }
    if (data.length === 0) return;
    this.#ensure(end);
    const size = this.#buffer.length;
    let at = (this.#head + this.#length + offset) % size;
    const first = Math.min(data.length, size - at);
    this.#buffer.set(first === data.length ? data : data.subarray(0, first), at);
    if (first < data.length) {
      at = 0;
      this.#buffer.set(data.subarray(first), at);
    }
  }

  /** Commits `n` bytes that {@link ByteRing.writeAt} put right after the committed ones. */
  commit(n: number): void {
    if (n < 0 || this.#length + n > Math.min(this.capacity, this.#buffer.length)) {
      throw new RangeError(`commit of ${n} past the written bytes`);
    }
    this.#length += n;
  }

  /** Copies committed bytes starting `offset` bytes in into `out` (all of it must exist). */
  peek(offset: number, out: Uint8Array): void {
    if (offset < 0 || offset + out.length > this.#length) {
      throw new RangeError(`peek of ${out.length} at ${offset} past ${this.#length} bytes`);
    }
    if (out.length === 0) return;
    const size = this.#buffer.length;
    const at = (this.#head + offset) % size;
    const first = Math.min(out.length, size - at);
    out.set(this.#buffer.subarray(at, at + first));
    if (first < out.length) out.set(this.#buffer.subarray(0, out.length - first), first);
  }

  /** Copies up to `out.length` committed bytes into `out` and drops them; returns the count. */
  read(out: Uint8Array): number {
    const n = Math.min(out.length, this.#length);
    if (n === 0) return 0;
    this.peek(0, n === out.length ? out : out.subarray(0, n));
    this.consume(n);
    return n;
  }

  /** Drops `n` committed bytes from the front. */
  consume(n: number): void {
    if (n < 0 || n > this.#length) throw new RangeError(`consume ${n} of ${this.#length}`);
    if (n === 0) return;
    this.#length -= n;
    // The head moves even when nothing stays committed: written-ahead bytes keep their place.
    this.#head = (this.#head + n) % this.#buffer.length;
  }

  /**
   * Frees the allocation when nothing is committed, unless it is no larger
   * than `keep` bytes (then it stays, for the next data). Written-ahead
   * bytes are dropped too, so a receiver calls it only with no out-of-order
   * data held.
   */
  release(keep = 0): void {
    if (this.#length !== 0) return;
    if (this.#buffer.length > keep) this.#buffer = new Uint8Array(0);
    this.#head = 0;
  }

  // Grows the allocation to hold `needed` bytes from the head, keeping the bytes in order.
  #ensure(needed: number): void {
    const size = this.#buffer.length;
    if (needed <= size) return;
    let next = Math.max(MIN_ALLOCATION, size);
    while (next < needed) next *= 2;
    next = Math.min(next, this.capacity);
    const grown = new Uint8Array(next);
    if (size > 0) {
      // Everything from the head to the end of the old allocation, then the wrapped part:
      // written-ahead bytes past the committed ones move with them.
      const tail = this.#buffer.subarray(this.#head);
      grown.set(tail);
      grown.set(this.#buffer.subarray(0, this.#head), tail.length);
    }
    this.#buffer = grown;
    this.#head = 0;
  }
}
