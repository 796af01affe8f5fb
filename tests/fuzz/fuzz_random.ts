/**
 * The fuzzer's random numbers: sfc32, small and fast, seeded per iteration
 * from (run seed, target name, iteration), so that any one input can be made
 * again from those three numbers alone.
 */

/** A deterministic stream of random numbers. */
export class FuzzRandom {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** A stream keyed by four 32-bit words. */
  constructor(a: number, b: number, c: number, d: number) {
    this.#a = a >>> 0;
    this.#b = b >>> 0;
    this.#c = c >>> 0;
    this.#d = d >>> 0 || 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** The stream for one iteration of one target in a run. */
  static forIteration(seed: number, target: string, iteration: number): FuzzRandom {
    return new FuzzRandom(seed, hashString(target), iteration, 0x9e3779b9);
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, bound). */
  below(bound: number): number {
    return bound <= 1 ? 0 : this.next() % bound;
  }

  /** True with probability 1/n. */
  oneIn(n: number): boolean {
    return this.below(n) === 0;
  }

  /** One element of a non-empty list. */
  pick<T>(list: readonly T[]): T {
    return list[this.below(list.length)];
  }

  /** `length` random bytes. */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i += 4) {
      const word = this.next();
      for (let j = 0; j < 4 && i + j < length; j++) out[i + j] = (word >>> (8 * j)) & 255;
    }
    return out;
  }
}

/** FNV-1a of a string, for seeding. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
