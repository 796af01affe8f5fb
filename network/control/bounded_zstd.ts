/**
 * zstd decoding bounded by what it produces, not by what the headers claim
 * (RFC 8878). A body is any number of zstd and skippable frames; the total
 * output is capped, every frame counts against what is left, and a frame is
 * refused as soon as its output passes the cap, whatever its header says.
 *
 * How the memory stays bounded (issue 11):
 * - The body is first walked frame by frame, reading only frame and block
 *   headers (no decoding), so every frame is seen and checked: reserved bits,
 *   dictionaries (none are ever loaded, so a frame needing one is refused),
 *   block types and sizes, and the number of frames.
 * - A frame that declares its content size, and declares at most what is
 *   left of the cap, is decoded in one pass into a buffer of exactly that
 *   size; libzstd refuses a frame whose output does not match its declared
 *   size (more or less), so a lying size costs at most the size it declared.
 * - A frame without a content size is decoded in streaming mode: output in
 *   64 KiB pieces, stopped the moment it passes what is left of the cap.
 *   Its window (the history the decoder keeps, allocated from the header) is
 *   bounded by {@link windowLimit}: at most half the cap, and never above
 *   libzstd's own default limit of 128 MiB. Peak memory for one body is then
 *   at most the cap plus one window, under 1.5× the cap for caps ≥ 16 MiB.
 *
 * The decoder is libzstd, reached through `node:zlib` (Deno's built-in);
 * it decodes only one frame per call, which is why frames are split here,
 * and its context is closed after every frame, failed or not (see
 * `decodeFrame`: a failed `zstdDecompressSync` leaks it).
 * `fzstd`, used before, could not be bounded: its one-shot `decompress`
 * decodes every frame before anything can stop it, and its streaming
 * `Decompress` allocates the window named by the header (up to 2 GiB) and
 * copies the whole window once per 128 KiB block, which costs 16 s of CPU
 * for a 19 KB body declaring a 128 MiB window.
 *
 * @module
 */
import * as zlib from "node:zlib";

/** libzstd's default decoder window limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT = 27). */
export const MAX_WINDOW_BYTES = 128 * 1024 * 1024;
/** Smallest window limit, whatever the cap: the size RFC 8878 §3.1.1.1.2 asks decoders to support. */
export const MIN_WINDOW_LIMIT_BYTES = 8 * 1024 * 1024;
/** Most frames (zstd and skippable) one body may hold; encoders send one. */
export const MAX_FRAMES = 1024;
/** Largest block (RFC 8878 §3.1.1.2.4). */
const BLOCK_MAX_BYTES = 128 * 1024;
/** Output piece size in streaming mode. */
const STREAM_CHUNK_BYTES = 64 * 1024;
const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** Why a zstd body was refused. */
export type ZstdErrorCode =
  | "output-too-large"
  | "window-too-large"
  | "too-many-frames"
  | "dictionary"
  | "corrupt";

/** A zstd body that could not be decoded within its bounds. */
export class ZstdError extends Error {
  /** Machine-readable reason. */
  readonly code: ZstdErrorCode;
  /** Creates the error with its reason code. */
  constructor(code: ZstdErrorCode, message: string) {
    super(message);
    this.name = "ZstdError";
    this.code = code;
  }
}

/** What a frame header says (RFC 8878 §3.1.1.1). */
export interface ZstdFrameInfo {
  /** Offset of the frame in the body. */
  offset: number;
  /** Length of the whole frame, header to checksum. */
  length: number;
  /** Frame_Content_Size, or null when not declared. */
  contentSize: number | null;
  /** Window size the decoder would keep (the content size for single-segment frames). */
  windowSize: number;
}

/** The window limit for an output cap: half the cap, within [8 MiB, 128 MiB]. */
export function windowLimit(maxOutputBytes: number): number {
  return Math.min(
    MAX_WINDOW_BYTES,
    Math.max(MIN_WINDOW_LIMIT_BYTES, Math.floor(maxOutputBytes / 2)),
  );
}

/**
 * Splits a body into its zstd frames (skippable frames are checked and
 * dropped) by reading headers only. Throws {@link ZstdError}.
 */
export function splitZstdFrames(body: Uint8Array): ZstdFrameInfo[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const frames: ZstdFrameInfo[] = [];
  let at = 0;
  let count = 0;
  if (body.length === 0) throw new ZstdError("corrupt", "empty zstd body");
  while (at < body.length) {
    if (++count > MAX_FRAMES) {
      throw new ZstdError("too-many-frames", `more than ${MAX_FRAMES} frames in one zstd body`);
    }
    if (body.length - at < 4) throw corrupt("trailing bytes after the last frame", at);
    const magic = view.getUint32(at, true);
    if ((magic & 0xfffffff0) === SKIPPABLE_MAGIC) {
      if (body.length - at < 8) throw corrupt("truncated skippable frame header", at);
      const size = view.getUint32(at + 4, true);
      if (size > body.length - at - 8) throw corrupt("truncated skippable frame", at);
      at += 8 + size;
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw corrupt("not a zstd frame", at);
    const frame = readFrame(body, at);
    frames.push(frame);
    at += frame.length;
  }
  return frames;
}

function readFrame(body: Uint8Array, start: number): ZstdFrameInfo {
  let at = start + 4;
  if (at >= body.length) throw corrupt("truncated frame header", start);
  const descriptor = body[at++];
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const checksum = (descriptor >> 2) & 1;
  const dictBytes = [0, 1, 2, 4][descriptor & 3];
  if (descriptor & 0x08) throw corrupt("reserved bit set in the frame header", start);
  const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
  const headerEnd = at + (singleSegment ? 0 : 1) + dictBytes + fcsBytes;
  if (headerEnd > body.length) throw corrupt("truncated frame header", start);
  let windowSize = 0;
  if (!singleSegment) {
    const wd = body[at++];
    const base = 2 ** (10 + (wd >> 3));
    windowSize = base + (base / 8) * (wd & 7);
  }
  let dictionaryId = 0;
  for (let i = dictBytes - 1; i >= 0; i--) dictionaryId = dictionaryId * 256 + body[at + i];
  at += dictBytes;
  if (dictionaryId !== 0) {
    throw new ZstdError("dictionary", `zstd frame needs dictionary ${dictionaryId}`);
  }
  let contentSize: number | null = null;
  if (fcsBytes > 0) {
    let size = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + body[at + i];
    contentSize = fcsBytes === 2 ? size + 256 : size;
    at += fcsBytes;
  }
  if (singleSegment) windowSize = contentSize ?? 0;
  for (;;) {
    if (at + 3 > body.length) throw corrupt("truncated block header", start);
    const header = body[at] | (body[at + 1] << 8) | (body[at + 2] << 16);
    at += 3;
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) throw corrupt("reserved block type", start);
    if (size > BLOCK_MAX_BYTES) throw corrupt(`block of ${size} bytes`, start);
    at += type === 1 ? 1 : size;
    if (at > body.length) throw corrupt("truncated block", start);
    if (last) break;
  }
  if (checksum) {
    at += 4;
    if (at > body.length) throw corrupt("truncated checksum", start);
  }
  return { offset: start, length: at - start, contentSize, windowSize };
}

function corrupt(what: string, offset: number): ZstdError {
  return new ZstdError("corrupt", `bad zstd body: ${what} (frame at byte ${offset})`);
}

function tooLarge(total: number | string, maxOutputBytes: number): ZstdError {
  return new ZstdError(
    "output-too-large",
    `zstd output of ${total} bytes exceeds the cap of ${maxOutputBytes}`,
  );
}

/**
 * Decodes every frame of `body`, stopping as soon as the output passes
 * `maxOutputBytes` in total. Throws {@link ZstdError}.
 *
 * @example
 * ```ts
 * const json = decompressZstdBounded(body, 256 * 1024 * 1024);
 * ```
 */
export function decompressZstdBounded(body: Uint8Array, maxOutputBytes: number): Uint8Array {
  const frames = splitZstdFrames(body);
  const maxWindow = windowLimit(maxOutputBytes);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const frame of frames) {
    const left = maxOutputBytes - total;
    if (frame.contentSize !== null && frame.contentSize > left) {
      throw tooLarge(`at least ${total + frame.contentSize}`, maxOutputBytes);
    }
    if (frame.contentSize === null && frame.windowSize > maxWindow) {
      throw new ZstdError(
        "window-too-large",
        `zstd frame asks for a ${frame.windowSize}-byte window, over the limit of ${maxWindow}`,
      );
    }
    const bytes = body.subarray(frame.offset, frame.offset + frame.length);
    const out = decodeFrame(bytes, frame.contentSize, left, maxWindow, maxOutputBytes, total);
    if (frame.contentSize !== null && out.length !== frame.contentSize) {
      throw new ZstdError(
        "corrupt",
        `zstd frame declared ${frame.contentSize} bytes and produced ${out.length}`,
      );
    }
    total += out.length;
    if (total > maxOutputBytes) throw tooLarge(total, maxOutputBytes);
    if (out.length > 0) parts.push(out);
  }
  if (parts.length === 1) return parts[0];
  const joined = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}

function decodeFrame(
  frame: Uint8Array,
  contentSize: number | null,
  left: number,
  maxWindow: number,
  maxOutputBytes: number,
  total: number,
): Uint8Array {
  // A declared size: one pass into one buffer of that size (libzstd takes its
  // single-pass path when the output room covers the declared size).
  // Otherwise: streaming, 64 KiB at a time, stopped past `left`.
  const options = {
    chunkSize: contentSize === null ? STREAM_CHUNK_BYTES : Math.max(64, contentSize),
    maxOutputLength: Math.max(1, contentSize ?? left),
    params: { [zlib.constants.ZSTD_d_windowLogMax]: Math.ceil(Math.log2(maxWindow)) },
  } as zlib.ZstdOptions;
  // Not zstdDecompressSync: on a decode error it leaves the native context
  // (and the window it filled) allocated for good: 1,500 corrupt frames that
  // each fill 4 MiB kept 6.4 GiB (found by `./dev fuzz`, memory). The engine is closed by hand;
  // `_processChunk` without a callback is the synchronous path that
  // zstdDecompressSync itself takes.
  const engine = zlib.createZstdDecompress(options) as unknown as SyncZstdEngine;
  try {
    const out = engine._processChunk(frame, zlib.constants.ZSTD_e_end);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw tooLarge(`more than ${total + left}`, maxOutputBytes);
    }
    const declared = contentSize === null ? "" : ` (declared content size ${contentSize})`;
    throw new ZstdError("corrupt", `bad zstd frame${declared}: ${(err as Error).message}`);
  } finally {
    engine.close();
  }
}

/** The synchronous side of a `node:zlib` engine (its internal `_processChunk`, as Node's own sync helpers use). */
interface SyncZstdEngine {
  _processChunk(chunk: Uint8Array, flushFlag: number): Uint8Array;
  close(): void;
}
