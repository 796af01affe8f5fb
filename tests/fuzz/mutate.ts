/**
 * Byte mutations of valid samples: bit flips, interesting bytes and
 * integers (lengths ± 1, all-ones, sign bits) in both byte orders,
 * truncation, extension, insertion, deletion, duplication, and splicing
 * with another sample. A few are stacked per input.
 */
import type { FuzzRandom } from "./fuzz_random.ts";

const INTERESTING_8 = [0x00, 0x01, 0x02, 0x03, 0x04, 0x7f, 0x80, 0x81, 0xfe, 0xff];
const INTERESTING_32 = [
  0,
  1,
  2,
  0x7f,
  0x80,
  0xff,
  0x100,
  0x3fff,
  0x4000,
  0x7fff,
  0x8000,
  0xffff,
  0x10000,
  0x7fffffff,
  0x80000000,
  0xfffffffe,
  0xffffffff,
];

/** One mutation, in place or returning a new array. */
type Mutation = (input: Uint8Array, rng: FuzzRandom, corpus: readonly Uint8Array[]) => Uint8Array;

function writeInt(input: Uint8Array, at: number, value: number, width: number, big: boolean) {
  for (let i = 0; i < width && at + i < input.length; i++) {
    const shift = 8 * (big ? width - 1 - i : i);
    input[at + i] = Math.floor(value / 2 ** shift) & 255;
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const MUTATIONS: Mutation[] = [
  // Flip one bit.
  (input, rng) => {
    if (input.length > 0) input[rng.below(input.length)] ^= 1 << rng.below(8);
    return input;
  },
  // An interesting byte.
  (input, rng) => {
    if (input.length > 0) input[rng.below(input.length)] = rng.pick(INTERESTING_8);
    return input;
  },
  // A random byte.
  (input, rng) => {
    if (input.length > 0) input[rng.below(input.length)] = rng.below(256);
    return input;
  },
  // An interesting or length-like integer, 2 or 4 bytes, either byte order.
  (input, rng) => {
    if (input.length === 0) return input;
    const width = rng.oneIn(2) ? 2 : 4;
    const values = [...INTERESTING_32, input.length, input.length - 1, input.length + 1];
    const value = rng.oneIn(4) ? rng.next() : rng.pick(values);
    writeInt(input, rng.below(input.length), value >>> 0, width, rng.oneIn(2));
    return input;
  },
  // Add or subtract a little from a byte (length fields off by a few).
  (input, rng) => {
    if (input.length > 0) {
      const at = rng.below(input.length);
      input[at] = (input[at] + rng.below(33) - 16) & 255;
    }
    return input;
  },
  // Truncate.
  (input, rng) => input.slice(0, rng.below(input.length + 1)),
  // Extend with random bytes.
  (input, rng) => concat(input, rng.bytes(1 + rng.below(rng.oneIn(8) ? 4096 : 64))),
  // Insert random bytes.
  (input, rng) => {
    const at = rng.below(input.length + 1);
    return concat(input.subarray(0, at), rng.bytes(1 + rng.below(32)), input.subarray(at));
  },
  // Delete a range.
  (input, rng) => {
    if (input.length === 0) return input;
    const at = rng.below(input.length);
    const n = 1 + rng.below(Math.min(64, input.length - at));
    return concat(input.subarray(0, at), input.subarray(at + n));
  },
  // Duplicate a range (repeated frames, records, attributes).
  (input, rng) => {
    if (input.length === 0) return input;
    const at = rng.below(input.length);
    const n = 1 + rng.below(Math.min(256, input.length - at));
    const piece = input.subarray(at, at + n);
    const times = 1 + rng.below(rng.oneIn(8) ? 64 : 3);
    return concat(input.subarray(0, at + n), ...Array(times).fill(piece), input.subarray(at + n));
  },
  // Splice: a prefix of this sample and a suffix of another.
  (input, rng, corpus) => {
    const other = rng.pick(corpus);
    return concat(
      input.subarray(0, rng.below(input.length + 1)),
      other.subarray(rng.below(other.length + 1)),
    );
  },
  // Overwrite a range with bytes of another sample.
  (input, rng, corpus) => {
    const other = rng.pick(corpus);
    if (input.length === 0 || other.length === 0) return input;
    const from = rng.below(other.length);
    const to = rng.below(input.length);
    const n = Math.min(1 + rng.below(64), other.length - from, input.length - to);
    input.set(other.subarray(from, from + n), to);
    return input;
  },
];

/**
 * A mutant of `sample`: 1 to 4 stacked mutations (sometimes up to 16), never
 * longer than `maxLength`. `sample` itself is not modified.
 */
export function mutateBytes(
  sample: Uint8Array,
  rng: FuzzRandom,
  corpus: readonly Uint8Array[],
  maxLength: number,
): Uint8Array {
  let out: Uint8Array = sample.slice();
  const count = rng.oneIn(8) ? 1 + rng.below(16) : 1 + rng.below(4);
  for (let i = 0; i < count; i++) {
    out = rng.pick(MUTATIONS)(out, rng, corpus);
    if (out.length > maxLength) out = out.slice(0, maxLength);
  }
  return out;
}
