/**
 * Framing of the map stream (reference §9.4): repeated
 * `[u32 little-endian length][body]`, where the body is one zstd frame holding
 * a JSON `MapResponse` (`Compress: "zstd"`) or the JSON itself. The decoder is
 * pure: it takes bytes in chunks of any size and returns whole messages.
 *
 * Bounds (issue 11): a frame's length prefix is checked against
 * `maxFrameBytes` before a byte of its body is buffered, and a zstd body is
 * decoded by `bounded_zstd.ts`, which stops at `maxMessageBytes` of output
 * across every frame in the body, whatever the frame headers declare.
 *
 * Integer range: every int64 in a `MapResponse` is an identifier (node, user
 * and region IDs, `Seq`) and is decoded as a JS number. Headscale's IDs are
 * small sequential integers; Tailscale SaaS nodes created before March 2023
 * may have IDs above 2^53 − 1. A rounded ID would silently address the wrong
 * node, so an integer literal beyond ±(2^53 − 1) in an ID field or an integer
 * list throws {@link MapFrameError} (`unsafe-integer`) instead. The check costs
 * nothing unless a 16-digit number appears in the text.
 *
 * @module
 */
import * as zlib from "node:zlib";
import { decompressZstdBounded, ZstdError } from "./bounded_zstd.ts";
import type { MapResponse } from "./map_response.ts";
import { checkMapResponseShape, MapShapeError } from "./map_response_shape.ts";

/** Default cap on one frame's body as sent (compressed), 64 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** Default cap on one decoded JSON message, 256 MiB (netmaps of big tailnets are megabytes). */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** Length of the frame header. */
const HEADER_BYTES = 4;
/** Fields holding int64 identifiers (reference §1.1 "Integer IDs"). */
const ID_FIELDS = new Set(["ID", "User", "Sharer", "NodeID", "Seq", "RegionID", "DERPRegion"]);
/**
 * Cheap pre-check for a bare number literal of 16 or more digits. The closing
 * `,` `}` `]` keeps digit runs inside strings (hex keys often start with 16
 * decimal digits) from sending big netmaps down the slow reviver path.
 */
const LONG_NUMBER = /[:,[]\s*-?\d{16,}\s*[,}\]]/;
const INTEGER_LITERAL = /^-?\d+$/;

/** Why a map frame was rejected. */
export type MapFrameErrorCode =
  | "empty-frame"
  | "frame-too-large"
  | "message-too-large"
  | "window-too-large"
  | "bad-zstd"
  | "bad-json"
  | "not-an-object"
  | "bad-field"
  | "unsafe-integer"
  | "truncated";

/**
 * A map-stream frame that cannot be decoded. The stream is unusable after it:
 * the decoder stays failed and rethrows the same error.
 */
export class MapFrameError extends Error {
  /** Machine-readable reason. */
  readonly code: MapFrameErrorCode;
  /** Creates the error with its reason code. */
  constructor(code: MapFrameErrorCode, message: string) {
    super(message);
    this.name = "MapFrameError";
    this.code = code;
  }
}

/** Options for {@link MapFrameDecoder} and {@link decodeMapBody}. */
export interface MapFrameOptions {
  /** Bodies are zstd frames (the request said `Compress: "zstd"`). */
  compressed: boolean;
  /** Cap on one frame body as sent; default {@link DEFAULT_MAX_FRAME_BYTES}. */
  maxFrameBytes?: number;
  /** Cap on one decoded JSON message; default {@link DEFAULT_MAX_MESSAGE_BYTES}. */
  maxMessageBytes?: number;
}

/**
 * Incremental decoder of the map stream. Feed it the response body in chunks
 * of any size; each {@link MapFrameDecoder.push} returns the messages that
 * became complete.
 *
 * @example
 * ```ts
 * const decoder = new MapFrameDecoder({ compressed: true });
 * for await (const chunk of body) {
 *   for (const message of decoder.push(chunk)) netmap.apply(message);
 * }
 * decoder.end();
 * ```
 */
export class MapFrameDecoder {
  readonly #compressed: boolean;
  readonly #maxFrameBytes: number;
  readonly #maxMessageBytes: number;
  #chunks: Uint8Array[] = [];
  /** Read offset into `#chunks[0]`. */
  #offset = 0;
  #buffered = 0;
  /** Body length of the frame being read, or -1 while reading a header. */
  #bodyLength = -1;
  #failure: MapFrameError | null = null;

  /** A decoder at the start of a stream. */
  constructor(options: MapFrameOptions) {
    this.#compressed = options.compressed;
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Bytes received but not yet part of a returned message. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Adds received bytes and returns every message completed by them, in
   * order. Throws {@link MapFrameError} on a bad frame; the bytes are not
   * retained by reference beyond the frame they belong to.
   */
  push(chunk: Uint8Array): MapResponse[] {
    if (this.#failure) throw this.#failure;
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const out: MapResponse[] = [];
    try {
      for (;;) {
        if (this.#bodyLength < 0) {
          if (this.#buffered < HEADER_BYTES) break;
          const header = this.#take(HEADER_BYTES);
          const length = (header[0] | (header[1] << 8) | (header[2] << 16) | (header[3] << 24)) >>>
            0;
          this.#checkFrameLength(length);
          this.#bodyLength = length;
        }
        if (this.#buffered < this.#bodyLength) break;
        const body = this.#take(this.#bodyLength);
        this.#bodyLength = -1;
        out.push(decodeMapBody(body, this.#options()));
      }
    } catch (err) {
      this.#failure = err instanceof MapFrameError
        ? err
        : new MapFrameError("bad-json", String(err));
      this.#chunks = [];
      this.#buffered = 0;
      throw this.#failure;
    }
    return out;
  }

  /**
   * Declares the end of the stream. Throws {@link MapFrameError}
   * (`truncated`) when a partial frame is left over.
   */
  end(): void {
    if (this.#failure) throw this.#failure;
    if (this.#buffered > 0 || this.#bodyLength >= 0) {
      this.#failure = new MapFrameError(
        "truncated",
        `map stream ended inside a frame (${this.#buffered} bytes buffered)`,
      );
      throw this.#failure;
    }
  }

  #options(): MapFrameOptions {
    return {
      compressed: this.#compressed,
      maxFrameBytes: this.#maxFrameBytes,
      maxMessageBytes: this.#maxMessageBytes,
    };
  }

  #checkFrameLength(length: number): void {
    if (length === 0) throw new MapFrameError("empty-frame", "zero-length map frame");
    if (length > this.#maxFrameBytes) {
      throw new MapFrameError(
        "frame-too-large",
        `map frame of ${length} bytes exceeds the cap of ${this.#maxFrameBytes}`,
      );
    }
    if (!this.#compressed && length > this.#maxMessageBytes) {
      throw new MapFrameError(
        "message-too-large",
        `map message of ${length} bytes exceeds the cap of ${this.#maxMessageBytes}`,
      );
    }
  }

  /** Removes `n` buffered bytes (n ≤ buffered); copies only when they span chunks. */
  #take(n: number): Uint8Array {
    const first = this.#chunks[0];
    let out: Uint8Array;
    if (first.length - this.#offset >= n) {
      out = first.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
      if (this.#offset === first.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    } else {
      out = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        const head = this.#chunks[0];
        const count = Math.min(head.length - this.#offset, n - filled);
        out.set(head.subarray(this.#offset, this.#offset + count), filled);
        filled += count;
        this.#offset += count;
        if (this.#offset === head.length) {
          this.#chunks.shift();
          this.#offset = 0;
        }
      }
    }
    this.#buffered -= n;
    return out;
  }
}

/**
 * Decodes one frame body (without its length header) to a `MapResponse`.
 * Throws {@link MapFrameError}.
 */
export function decodeMapBody(body: Uint8Array, options: MapFrameOptions): MapResponse {
  const maxMessage = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (body.length === 0) throw new MapFrameError("empty-frame", "zero-length map frame");
  const json = options.compressed ? zstdDecompress(body, maxMessage) : body;
  if (json.length > maxMessage) {
    throw new MapFrameError(
      "message-too-large",
      `map message of ${json.length} bytes exceeds the cap of ${maxMessage}`,
    );
  }
  return parseMapResponseJSON(new TextDecoder().decode(json));
}

/**
 * Parses the JSON text of one `MapResponse`, rejecting non-objects,
 * identifiers beyond the safe-integer range (see the module note) and
 * fields of the wrong JSON type (map_response_shape.ts, `bad-field`).
 */
export function parseMapResponseJSON(text: string): MapResponse {
  let value: unknown;
  try {
    value = LONG_NUMBER.test(text) ? JSON.parse(text, guardUnsafeIntegers) : JSON.parse(text);
  } catch (err) {
    if (err instanceof MapFrameError) throw err;
    throw new MapFrameError("bad-json", `map message is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new MapFrameError("not-an-object", "map message is not a JSON object");
  }
  try {
    checkMapResponseShape(value as Record<string, unknown>);
  } catch (err) {
    if (err instanceof MapShapeError) {
      throw new MapFrameError("bad-field", `map message field ${err.message}`);
    }
    throw err;
  }
  return value as MapResponse;
}

/** JSON.parse reviver (with source text access) that refuses rounded identifiers. */
function guardUnsafeIntegers(
  this: unknown,
  key: string,
  value: unknown,
  context?: { source?: string },
): unknown {
  if (
    typeof value === "number" && !Number.isSafeInteger(value) &&
    context?.source !== undefined && INTEGER_LITERAL.test(context.source) &&
    (ID_FIELDS.has(key) || Array.isArray(this))
  ) {
    throw new MapFrameError(
      "unsafe-integer",
      `integer ${context.source} in "${key}" is beyond 2^53-1 and cannot be kept exactly`,
    );
  }
  return value;
}

function zstdDecompress(body: Uint8Array, maxMessage: number): Uint8Array {
  try {
    return decompressZstdBounded(body, maxMessage);
  } catch (err) {
    if (!(err instanceof ZstdError)) throw err;
    const code = err.code === "output-too-large"
      ? "message-too-large"
      : err.code === "window-too-large"
      ? "window-too-large"
      : "bad-zstd";
    throw new MapFrameError(code, err.message);
  }
}

/** Prefixes a body with its u32 little-endian length. */
export function frameMapBody(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, body.length, true);
  out.set(body, HEADER_BYTES);
  return out;
}

/** Options for {@link encodeMapFrame}. */
export interface EncodeMapFrameOptions {
  /** zstd-compress the body, as a server does for `Compress: "zstd"`. */
  compressed: boolean;
}

/**
 * Encodes one message as a complete frame, the way a server sends it (for
 * tests and the in-process fake server). Compression is one zstd frame at a
 * fast level with the content size declared, like Go's `EncodeAll`.
 */
export function encodeMapFrame(
  response: MapResponse,
  options: EncodeMapFrameOptions,
): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(response));
  return frameMapBody(options.compressed ? zstdCompress(json) : json);
}

/** One zstd frame of `data`, from the libzstd encoder in Deno's `node:zlib`. */
export function zstdCompress(data: Uint8Array): Uint8Array {
  // pledgedSrcSize (known to the runtime, not to its typings) makes the frame declare its size.
  const options = {
    params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 },
    pledgedSrcSize: data.length,
  } as zlib.ZstdOptions;
  const out = zlib.zstdCompressSync(data, options);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
