/**
 * A seeded random stream for differential tests, so that a failure can be
 * replayed: set CITADEL_TEST_SEED to the seed a failing assertion reports.
 */
import { chacha20 } from "@noble/ciphers/chacha.js";

/** Random bytes and integers drawn from one seeded ChaCha20 keystream. */
export interface SeededRandom {
  /** The seed, to quote in assertion messages. */
  readonly seed: number;
  /** `length` random bytes. */
  bytes(length: number): Uint8Array;
  /** A random integer in [0, bound). */
  below(bound: number): number;
}

/** The seed from CITADEL_TEST_SEED, or a fresh one. */
export function testSeed(): number {
  const text = Deno.env.get("CITADEL_TEST_SEED");
  return text ? Number(text) : Math.floor(Math.random() * 2 ** 32);
}

/** A stream keyed by `seed`: the same seed gives the same bytes. */
export function seededRandom(seed: number = testSeed()): SeededRandom {
  const key = new Uint8Array(32);
  new DataView(key.buffer).setUint32(0, seed >>> 0, true);
  const nonce = new Uint8Array(12);
  let pool = new Uint8Array(0);
  let offset = 0;
  let counter = 0;
  const bytes = (length: number): Uint8Array => {
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      if (offset === pool.length) {
        pool = chacha20(key, nonce, new Uint8Array(65536), undefined, counter);
        counter += 1024;
        offset = 0;
      }
      const n = Math.min(length - filled, pool.length - offset);
      out.set(pool.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
    }
    return out;
  };
  const below = (bound: number): number => {
    const v = new DataView(bytes(4).buffer).getUint32(0, true);
    return v % bound;
  };
  return { seed, bytes, below };
}
