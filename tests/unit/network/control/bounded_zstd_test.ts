import assert from "node:assert/strict";
import {
  decompressZstdBounded,
  MAX_FRAMES,
  splitZstdFrames,
  windowLimit,
  ZstdError,
} from "../../../../network/control/bounded_zstd.ts";
import { zstdCompress } from "../../../../network/control/map_frame.ts";
import { residentBytes } from "../../process_memory.ts";
import { MiB, rleFrame, skippableFrame, zstdFrameHeader } from "./zstd_bombs.ts";

const encoder = new TextEncoder();
const FIXTURES = new URL("./fixtures/", import.meta.url);

function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function assertZstdError(fn: () => unknown, code: string): ZstdError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ZstdError, `expected ZstdError ${code}, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

Deno.test("bounded zstd: concatenated frames decode to the concatenation", () => {
  const a = encoder.encode('{"KeepAlive":');
  const b = encoder.encode("true}");
  const body = concat(zstdCompress(a), skippableFrame(7), zstdCompress(b));
  assert.equal(new TextDecoder().decode(decompressZstdBounded(body, 1024)), '{"KeepAlive":true}');
  assert.equal(splitZstdFrames(body).length, 2);
});

Deno.test("bounded zstd: frames without a size, with a checksum (zstd CLI) decode", () => {
  const body = Deno.readFileSync(new URL("peers_changed_600_no_size.zst", FIXTURES));
  const [frame] = splitZstdFrames(body);
  assert.equal(frame.contentSize, null);
  assert.equal(frame.length, body.length);
  assert.equal(decompressZstdBounded(body, 1 << 20).length, 291_671);
});

Deno.test("bounded zstd: the cap is exact, and counts every frame", () => {
  const one = rleFrame({ contentSize: 1000 }, 1000);
  const none = rleFrame({}, 1000);
  for (const frame of [one, none]) {
    assert.equal(decompressZstdBounded(new Uint8Array(frame), 1000).length, 1000);
    assertZstdError(() => decompressZstdBounded(new Uint8Array(frame), 999), "output-too-large");
    const two = concat(frame, frame);
    assert.equal(decompressZstdBounded(two, 2000).length, 2000);
    assertZstdError(() => decompressZstdBounded(two, 1999), "output-too-large");
  }
  // An honest empty frame first takes nothing from the budget.
  const body = concat(rleFrame({ contentSize: 0 }, 0), none);
  assert.equal(decompressZstdBounded(body, 1000).length, 1000);
});

Deno.test("bounded zstd: a frame that outgrows or falls short of its declared size is corrupt", () => {
  for (const [declared, actual] of [[0, 5000], [100, 5000], [5000, 100], [300, 301]]) {
    for (const bytes of [2, 4, 8] as const) {
      if (bytes === 2 && declared < 256) continue;
      const frame = new Uint8Array(
        rleFrame({ contentSize: declared, contentSizeBytes: bytes }, actual),
      );
      assertZstdError(() => decompressZstdBounded(frame, MiB), "corrupt");
    }
  }
  // Single-segment frames carry the size in one byte and have no window byte.
  const single = new Uint8Array(
    rleFrame({ contentSize: 200, contentSizeBytes: 1, singleSegment: true }, 200),
  );
  assert.equal(decompressZstdBounded(single, 200).length, 200);
  // The 2-byte form is offset by 256 (RFC 8878 §3.1.1.1.4).
  const twoByte = new Uint8Array(rleFrame({ contentSize: 300, contentSizeBytes: 2 }, 300));
  assert.equal(splitZstdFrames(twoByte)[0].contentSize, 300);
  assert.equal(decompressZstdBounded(twoByte, 300).length, 300);
});

Deno.test("bounded zstd: a declared size over what is left is refused before decoding", () => {
  const frame = new Uint8Array(rleFrame({ contentSize: 64 * MiB }, 10));
  assertZstdError(() => decompressZstdBounded(frame, MiB), "output-too-large");
});

Deno.test("bounded zstd: a window over the limit is refused from the header", () => {
  assert.equal(windowLimit(256 * MiB), 128 * MiB);
  assert.equal(windowLimit(100_000), 8 * MiB);
  assert.equal(windowLimit(4096 * MiB), 128 * MiB);
  // 2^28, and the largest descriptor (3.75 TiB): nothing is decoded or allocated.
  for (const [log, mantissa] of [[28, 0], [41, 7], [27, 1]]) {
    const frame = new Uint8Array(rleFrame({ windowLog: log, windowMantissa: mantissa }, 10));
    assertZstdError(() => decompressZstdBounded(frame, 256 * MiB), "window-too-large");
  }
  const atLimit = new Uint8Array(rleFrame({ windowLog: 27 }, 10));
  assert.equal(decompressZstdBounded(atLimit, 256 * MiB).length, 10);
  const overSmallCap = new Uint8Array(rleFrame({ windowLog: 24 }, 10));
  assertZstdError(() => decompressZstdBounded(overSmallCap, MiB), "window-too-large");
});

Deno.test("bounded zstd: dictionaries, reserved bits and blocks, truncation, trailing bytes", () => {
  const ok = rleFrame({}, 10);
  assertZstdError(
    () => decompressZstdBounded(new Uint8Array(rleFrame({ dictionaryId: 7 }, 10)), MiB),
    "dictionary",
  );
  // A zero dictionary ID means none.
  assert.equal(
    decompressZstdBounded(new Uint8Array(rleFrame({ dictionaryId: 0 }, 10)), MiB).length,
    10,
  );
  const reserved = new Uint8Array(ok);
  reserved[4] |= 0x08;
  assertZstdError(() => decompressZstdBounded(reserved, MiB), "corrupt");
  const badBlock = new Uint8Array([...zstdFrameHeader({}), 0x07, 0, 0]);
  assertZstdError(() => decompressZstdBounded(badBlock, MiB), "corrupt");
  const bigBlock = new Uint8Array([...zstdFrameHeader({}), 0x01 | (0x20001 << 3) & 0xff, 0, 0x10]);
  assertZstdError(() => decompressZstdBounded(bigBlock, MiB), "corrupt");
  for (let cut = 0; cut < ok.length; cut++) {
    assertZstdError(() => decompressZstdBounded(new Uint8Array(ok.slice(0, cut)), MiB), "corrupt");
  }
  for (const tail of [[0], [0x28, 0xb5, 0x2f], [1, 2, 3, 4, 5]]) {
    assertZstdError(() => decompressZstdBounded(concat(ok, tail), MiB), "corrupt");
  }
  const shortSkip = new Uint8Array([0x5a, 0x2a, 0x4d, 0x18, 0xff, 0xff, 0xff, 0xff]);
  assertZstdError(() => decompressZstdBounded(concat(ok, shortSkip), MiB), "corrupt");
});

Deno.test("bounded zstd: the number of frames is bounded", () => {
  const empty = rleFrame({ contentSize: 0 }, 0);
  const many = new Uint8Array(empty.length * (MAX_FRAMES + 1));
  for (let i = 0; i <= MAX_FRAMES; i++) many.set(empty, i * empty.length);
  assertZstdError(() => decompressZstdBounded(many, MiB), "too-many-frames");
  assert.equal(decompressZstdBounded(many.subarray(empty.length), MiB).length, 0);
});

Deno.test("bounded zstd: corrupt compressed blocks are refused with a typed error", () => {
  const body = zstdCompress(encoder.encode(JSON.stringify({ Domain: "z".repeat(3000), n: 1 })));
  for (let i = 6; i < body.length; i++) {
    const bad = body.slice();
    bad[i] ^= 0x55;
    try {
      decompressZstdBounded(bad, MiB);
    } catch (err) {
      assert.ok(err instanceof ZstdError, `byte ${i}: ${err}`);
    }
  }
});

Deno.test("bounded zstd: a corrupt frame's decoder is freed (the fuzzer's memory find)", async () => {
  // ./dev fuzz --target map-frame-zstd --seed 777 found the process growing past
  // 1.5 GiB: zstdDecompressSync never freed libzstd's context after a decode
  // error. 4 MiB of RLE output, then a compressed block of garbage.
  const garbage = 1 | (2 << 1) | (10 << 3);
  const frame = concat(
    zstdFrameHeader({ windowLog: 23 }),
    ...Array.from({ length: 32 }, () => {
      const h = (1 << 1) | (131072 << 3);
      return [h & 255, (h >> 8) & 255, (h >> 16) & 255, 0x20];
    }),
    [garbage & 255, (garbage >> 8) & 255, (garbage >> 16) & 255, ...new Array(10).fill(0xee)],
  );
  const before = residentBytes();
  for (let i = 0; i < 1500; i++) {
    assertZstdError(() => decompressZstdBounded(frame, 8 * MiB), "corrupt");
    // Let the runtime finish closing, as between two reads of a real stream.
    if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const growth = residentBytes() - before;
  // Leaking (zstdDecompressSync), 1,500 frames held 6.4 GiB; freed, the garbage stays near 100 MiB.
  assert.ok(growth < 256 * MiB, `RSS grew by ${(growth / MiB).toFixed(0)} MiB`);
});
