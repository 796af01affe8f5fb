/**
 * Hand-built zstd bodies (RFC 8878) that expand far beyond their size: frames
 * of RLE blocks, each 4 bytes on the wire for up to 128 KiB of output, with
 * headers that tell the truth, lie, or say nothing. Used by the map-frame
 * bomb tests and the fuzz corpus.
 */

/** One MiB. */
export const MiB = 1024 * 1024;
/** The largest zstd block (RFC 8878 §3.1.1.2.4). */
const BLOCK_MAX = 128 * 1024;

/** How a hand-built frame header describes its frame. */
export interface ZstdHeaderShape {
  /** Frame_Content_Size to declare; omitted for none. */
  contentSize?: number;
  /** Bytes of the FCS field (1 only with `singleSegment`); default 8 when `contentSize` is set. */
  contentSizeBytes?: 1 | 2 | 4 | 8;
  /** Window_Log (10..41) for the window descriptor; ignored when `singleSegment`. */
  windowLog?: number;
  /** Window mantissa (0..7). */
  windowMantissa?: number;
  /** Single_Segment_flag: no window descriptor, the window is the content size. */
  singleSegment?: boolean;
  /** Dictionary_ID to declare (4 bytes), when set. */
  dictionaryId?: number;
}

/** A zstd frame header (magic, descriptor, window, dictionary, FCS). */
export function zstdFrameHeader(shape: ZstdHeaderShape): number[] {
  const out = [0x28, 0xb5, 0x2f, 0xfd];
  const fcsBytes = shape.contentSize === undefined
    ? (shape.singleSegment ? 1 : 0)
    : shape.contentSizeBytes ?? 8;
  const fcsFlag = fcsBytes === 8 ? 3 : fcsBytes === 4 ? 2 : fcsBytes === 2 ? 1 : 0;
  const dictFlag = shape.dictionaryId === undefined ? 0 : 3;
  out.push((fcsFlag << 6) | ((shape.singleSegment ? 1 : 0) << 5) | dictFlag);
  if (!shape.singleSegment) {
    out.push((((shape.windowLog ?? 17) - 10) << 3) | (shape.windowMantissa ?? 0));
  }
  if (shape.dictionaryId !== undefined) {
    for (let i = 0; i < 4; i++) out.push((shape.dictionaryId >>> (8 * i)) & 255);
  }
  let size = (shape.contentSize ?? 0) - (fcsBytes === 2 ? 256 : 0);
  for (let i = 0; i < fcsBytes; i++) {
    out.push(size % 256);
    size = Math.floor(size / 256);
  }
  return out;
}

/** RLE blocks producing `total` copies of `byte`, the last one flagged last. */
export function rleBlocks(total: number, byte = 0x20): number[] {
  const out: number[] = [];
  do {
    const n = Math.min(total, BLOCK_MAX);
    total -= n;
    const header = (total === 0 ? 1 : 0) | (1 << 1) | (n << 3);
    out.push(header & 255, (header >> 8) & 255, (header >> 16) & 255, byte);
  } while (total > 0);
  return out;
}

/** A frame of RLE blocks: `output` bytes of `byte` behind the given header. */
export function rleFrame(shape: ZstdHeaderShape, output: number, byte = 0x20): number[] {
  return [...zstdFrameHeader(shape), ...rleBlocks(output, byte)];
}

/** A zstd skippable frame (RFC 8878 §3.1.2) carrying `payload` bytes. */
export function skippableFrame(payload: number): number[] {
  return [0x50, 0x2a, 0x4d, 0x18, payload & 255, (payload >> 8) & 255, 0, 0, ...new Array(payload)];
}

/** The three map-stream bombs of issue 11, each a few KiB expanding to ≥ 600 MiB. */
export const ZSTD_BOMBS = {
  /** An empty frame (content size 0, told truly) followed by a 600 MiB frame without a size. */
  "concatenated": (): Uint8Array =>
    new Uint8Array([...rleFrame({ contentSize: 0 }, 0), ...rleFrame({}, 600 * MiB)]),
  /** One frame declaring content size 0 that expands to 2 GiB. */
  "content size 0": (): Uint8Array =>
    new Uint8Array(rleFrame({ contentSize: 0, contentSizeBytes: 4 }, 2048 * MiB)),
  /** One frame without a content size, 600 MiB. */
  "no content size": (): Uint8Array => new Uint8Array(rleFrame({}, 600 * MiB)),
  /** Without a size and with the largest window the decoder accepts (128 MiB), 600 MiB. */
  "no content size, 128 MiB window": (): Uint8Array =>
    new Uint8Array(rleFrame({ windowLog: 27 }, 600 * MiB)),
  /** 600 truthful 1 MiB frames: each one small, the sum over the cap. */
  "600 honest 1 MiB frames": (): Uint8Array => {
    const frame = rleFrame({ contentSize: MiB }, MiB);
    const out = new Uint8Array(frame.length * 600);
    for (let i = 0; i < 600; i++) out.set(frame, i * frame.length);
    return out;
  },
} as const;

/** Name of one of {@link ZSTD_BOMBS}. */
export type ZstdBombName = keyof typeof ZSTD_BOMBS;
