/**
 * RESP2, the Redis serialization protocol: a pure, incremental reply parser
 * and the command encoder (https://redis.io/docs/latest/develop/reference/protocol-spec/).
 *
 * Nothing read from the wire sizes an allocation unchecked:
 * - a bulk string longer than {@link RespLimits.maxBulkBytes} is not kept: its
 *   bytes are skipped as they arrive and the reply holds a {@link RespOversized}
 *   marker in its place, so the connection stays usable and the caller can
 *   record why (a huge job payload is dead-lettered, not buffered);
 * - an array longer than {@link RespLimits.maxArrayLength}, nesting deeper than
 *   {@link RespLimits.maxDepth}, or a header line longer than
 *   {@link RespLimits.maxLineBytes} is a {@link RespProtocolError}: the
 *   connection cannot be trusted past it and must be closed;
 * - arrays are filled as elements arrive, never preallocated from the length.
 *
 * Only RESP2 types are accepted (`+ - : $ *`): the client never sends `HELLO 3`,
 * so a RESP3 type byte is a protocol error.
 *
 * @module
 */

/** A server error reply (`-ERR …`): a value, not a thrown error; the connection turns it into one. */
export class RespErrorReply {
  /** The reply's text, e.g. `BUSYGROUP Consumer Group name already exists`. */
  readonly message: string;
  /** Builds the reply value. */
  constructor(message: string) {
    this.message = message;
  }
  /** The first word, e.g. `ERR`, `BUSYGROUP`, `NOGROUP`, `WRONGPASS`. */
  get code(): string {
    const space = this.message.indexOf(" ");
    return space < 0 ? this.message : this.message.slice(0, space);
  }
}

/** Stands in for a bulk string longer than the limit; its bytes were skipped. */
export class RespOversized {
  /** The length the server announced. */
  readonly length: number;
  /** Builds the marker. */
  constructor(length: number) {
    this.length = length;
  }
}

/**
 * One parsed reply: simple strings as `string`, integers as `number`, bulk
 * strings as `Uint8Array`, nil as `null`, arrays as arrays.
 */
export type RespValue =
  | string
  | number
  | null
  | Uint8Array
  | RespErrorReply
  | RespOversized
  | RespValue[];

/** Thrown for bytes that are not valid RESP2 or break a limit; close the connection. */
export class RespProtocolError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(`Redis protocol error: ${message}`);
    this.name = "RespProtocolError";
  }
}

/** Bounds on what the parser accepts. */
export interface RespLimits {
  /** Longest bulk string kept (longer ones become {@link RespOversized}). */
  maxBulkBytes: number;
  /** Most elements in one array. */
  maxArrayLength: number;
  /** Deepest array nesting. */
  maxDepth: number;
  /** Longest header line (`+…`, `-…`, `:…`, `$n`, `*n`) without its CRLF. */
  maxLineBytes: number;
}

/** Defaults: 16 MiB bulk strings, 1 Mi elements, depth 8, 64 KiB lines. */
export const DEFAULT_RESP_LIMITS: Readonly<RespLimits> = Object.freeze({
  maxBulkBytes: 16 * 1024 * 1024,
  maxArrayLength: 1024 * 1024,
  maxDepth: 8,
  maxLineBytes: 64 * 1024,
});

const CR = 0x0d;
const LF = 0x0a;
const utf8 = new TextDecoder();
const encoder = new TextEncoder();

interface ArrayFrame {
  items: RespValue[];
  remaining: number;
}

interface BulkState {
  /** Null while skipping an oversized string. */
  data: Uint8Array | null;
  length: number;
  /** Bytes consumed so far, counting the trailing CRLF (done at length + 2). */
  consumed: number;
}

/** Parses `-?[0-9]+` strictly into a safe integer, or throws. */
function parseInteger(line: Uint8Array, start: number, what: string): number {
  let i = start;
  let negative = false;
  if (line[i] === 0x2d) {
    negative = true;
    i++;
  }
  if (i >= line.length || line.length - i > 16) {
    throw new RespProtocolError(`bad ${what}`);
  }
  let value = 0;
  for (; i < line.length; i++) {
    const digit = line[i] - 0x30;
    if (digit < 0 || digit > 9) throw new RespProtocolError(`bad ${what}`);
    value = value * 10 + digit;
  }
  if (!Number.isSafeInteger(value)) throw new RespProtocolError(`${what} out of range`);
  return negative ? -value : value;
}

/**
 * An incremental RESP2 reply parser: feed it chunks as they arrive, get back
 * every reply they complete.
 *
 * @example
 * ```ts
 * const parser = new RespParser();
 * parser.feed(new TextEncoder().encode("+OK\r\n:4"));  // ["OK"]
 * parser.feed(new TextEncoder().encode("2\r\n"));      // [42]
 * ```
 */
export class RespParser {
  readonly #limits: RespLimits;
  #buf: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #stack: ArrayFrame[] = [];
  #bulk: BulkState | null = null;
  #failed: RespProtocolError | null = null;

  /** A parser with the given limits (defaults: {@link DEFAULT_RESP_LIMITS}). */
  constructor(limits: Partial<RespLimits> = {}) {
    this.#limits = { ...DEFAULT_RESP_LIMITS, ...limits };
  }

  /**
   * Takes the next chunk (the parser may keep a reference to it) and returns
   * the replies completed so far, in order. Throws {@link RespProtocolError};
   * after that every call throws the same error.
   */
  feed(chunk: Uint8Array): RespValue[] {
    if (this.#failed) throw this.#failed;
    try {
      return this.#feed(chunk);
    } catch (e) {
      if (e instanceof RespProtocolError) this.#failed = e;
      throw e;
    }
  }

  /** Bytes held for an incomplete line (bulk bodies are copied out as they arrive). */
  get bufferedBytes(): number {
    return this.#buf.length - this.#pos;
  }

  #feed(chunk: Uint8Array): RespValue[] {
    if (this.#pos >= this.#buf.length) {
      this.#buf = chunk;
    } else {
      const rest = this.#buf.subarray(this.#pos);
      const joined = new Uint8Array(rest.length + chunk.length);
      joined.set(rest, 0);
      joined.set(chunk, rest.length);
      this.#buf = joined;
    }
    this.#pos = 0;
    const out: RespValue[] = [];
    for (;;) {
      if (this.#bulk) {
        if (!this.#consumeBulk(out)) break;
        continue;
      }
      const lineEnd = this.#findCRLF();
      if (lineEnd < 0) {
        if (this.#buf.length - this.#pos > this.#limits.maxLineBytes + 1) {
          throw new RespProtocolError("header line too long");
        }
        break;
      }
      const line = this.#buf.subarray(this.#pos, lineEnd);
      this.#pos = lineEnd + 2;
      if (line.length > this.#limits.maxLineBytes) {
        throw new RespProtocolError("header line too long");
      }
      this.#header(line, out);
    }
    if (this.#pos >= this.#buf.length) {
      this.#buf = new Uint8Array(0);
      this.#pos = 0;
    }
    return out;
  }

  #findCRLF(): number {
    const buf = this.#buf;
    const cr = buf.indexOf(CR, this.#pos);
    if (cr < 0 || cr + 1 >= buf.length) return -1;
    if (buf[cr + 1] === LF) return cr;
    // A bare CR inside a line: RESP2 headers never contain one.
    throw new RespProtocolError("CR without LF in a header line");
  }

  #header(line: Uint8Array, out: RespValue[]): void {
    if (line.length === 0) throw new RespProtocolError("empty header line");
    switch (line[0]) {
      case 0x2b: // '+'
        this.#emit(utf8.decode(line.subarray(1)), out);
        return;
      case 0x2d: // '-'
        this.#emit(new RespErrorReply(utf8.decode(line.subarray(1))), out);
        return;
      case 0x3a: // ':'
        this.#emit(parseInteger(line, 1, "integer"), out);
        return;
      case 0x24: { // '$'
        const length = parseInteger(line, 1, "bulk length");
        if (length === -1) return this.#emit(null, out);
        if (length < 0) throw new RespProtocolError("negative bulk length");
        const keep = length <= this.#limits.maxBulkBytes;
        this.#bulk = { data: keep ? new Uint8Array(length) : null, length, consumed: 0 };
        return;
      }
      case 0x2a: { // '*'
        const length = parseInteger(line, 1, "array length");
        if (length === -1) return this.#emit(null, out);
        if (length < 0) throw new RespProtocolError("negative array length");
        if (length > this.#limits.maxArrayLength) {
          throw new RespProtocolError(
            `array of ${length} elements (limit ${this.#limits.maxArrayLength})`,
          );
        }
        if (length === 0) return this.#emit([], out);
        if (this.#stack.length >= this.#limits.maxDepth) {
          throw new RespProtocolError(`arrays nested deeper than ${this.#limits.maxDepth}`);
        }
        this.#stack.push({ items: [], remaining: length });
        return;
      }
      default:
        throw new RespProtocolError(`unknown type byte 0x${line[0].toString(16)}`);
    }
  }

  /** Copies bulk bytes from the buffer; true when the string (and its CRLF) is complete. */
  #consumeBulk(out: RespValue[]): boolean {
    const bulk = this.#bulk!;
    const buf = this.#buf;
    while (bulk.consumed < bulk.length && this.#pos < buf.length) {
      const take = Math.min(bulk.length - bulk.consumed, buf.length - this.#pos);
      bulk.data?.set(buf.subarray(this.#pos, this.#pos + take), bulk.consumed);
      bulk.consumed += take;
      this.#pos += take;
    }
    while (bulk.consumed < bulk.length + 2 && this.#pos < buf.length) {
      const expected = bulk.consumed === bulk.length ? CR : LF;
      if (buf[this.#pos] !== expected) throw new RespProtocolError("bulk string not ended by CRLF");
      bulk.consumed++;
      this.#pos++;
    }
    if (bulk.consumed < bulk.length + 2) return false;
    this.#bulk = null;
    this.#emit(bulk.data ?? new RespOversized(bulk.length), out);
    return true;
  }

  #emit(value: RespValue, out: RespValue[]): void {
    for (;;) {
      const top = this.#stack[this.#stack.length - 1];
      if (!top) {
        out.push(value);
        return;
      }
      top.items.push(value);
      if (--top.remaining > 0) return;
      this.#stack.pop();
      value = top.items;
    }
  }
}

/** One command argument: text (sent as UTF-8), raw bytes, or a number (sent as its decimal text). */
export type RespArgument = string | Uint8Array | number;

/**
 * Encodes a command as a RESP array of bulk strings.
 *
 * @example
 * ```ts
 * encodeCommand(["XACK", "jobs", "workers", "1-0"]);
 * ```
 */
export function encodeCommand(args: readonly RespArgument[]): Uint8Array {
  const parts: Uint8Array[] = [encoder.encode(`*${args.length}\r\n`)];
  let total = parts[0].length;
  for (const arg of args) {
    const bytes = arg instanceof Uint8Array ? arg : encoder.encode(String(arg));
    const header = encoder.encode(`$${bytes.length}\r\n`);
    parts.push(header, bytes, CRLF_BYTES);
    total += header.length + bytes.length + 2;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const CRLF_BYTES = new Uint8Array([CR, LF]);

/**
 * Encodes a reply value as a server would (for tests and fakes). Simple
 * strings must not contain CR or LF. A {@link RespOversized} cannot be encoded.
 */
export function encodeReply(value: RespValue): Uint8Array {
  const chunks: Uint8Array[] = [];
  const write = (v: RespValue): void => {
    if (v === null) chunks.push(encoder.encode("$-1\r\n"));
    else if (typeof v === "string") {
      if (/[\r\n]/.test(v)) throw new RangeError("a simple string cannot hold CR or LF");
      chunks.push(encoder.encode(`+${v}\r\n`));
    } else if (typeof v === "number") {
      if (!Number.isSafeInteger(v)) throw new RangeError("RESP integers are whole numbers");
      chunks.push(encoder.encode(`:${v}\r\n`));
    } else if (v instanceof Uint8Array) {
      chunks.push(encoder.encode(`$${v.length}\r\n`), v, CRLF_BYTES);
    } else if (v instanceof RespErrorReply) {
      chunks.push(encoder.encode(`-${v.message}\r\n`));
    } else if (v instanceof RespOversized) {
      throw new RangeError("an oversized marker has no bytes to encode");
    } else {
      chunks.push(encoder.encode(`*${v.length}\r\n`));
      for (const item of v) write(item);
    }
  };
  write(value);
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
