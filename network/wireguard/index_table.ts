/**
 * Local session indices (whitepaper §5.4.2: "sender index"). Each handshake
 * and each keypair is known to the peer by a random 32-bit index of ours, so
 * that incoming responses, cookie replies and transport data find their
 * session without revealing which peer they belong to. Indices are drawn
 * from the injected random source and are unique within one table.
 */
import type { RandomSource } from "../crypto/random.ts";

/** Thrown when no free index is found (the table is absurdly full). */
export class IndexTableFullError extends Error {
  /** Builds the error. */
  constructor() {
    super("no free WireGuard session index");
    this.name = "IndexTableFullError";
  }
}

/** Maps our random u32 indices to what they name (a handshake or a keypair). */
export class IndexTable<T> {
  readonly #entries = new Map<number, T>();
  readonly #random: RandomSource;

  /** An empty table drawing indices from `random`. */
  constructor(random: RandomSource) {
    this.#random = random;
  }

  /** Number of indices in use. */
  get size(): number {
    return this.#entries.size;
  }

  /** A new random index, not in use, now naming `value`. */
  allocate(value: T): number {
    for (let attempt = 0; attempt < 1024; attempt++) {
      const bytes = this.#random(4);
      const index = (bytes[0] | bytes[1] << 8 | bytes[2] << 16 | bytes[3] << 24) >>> 0;
      if (!this.#entries.has(index)) {
        this.#entries.set(index, value);
        return index;
      }
    }
    throw new IndexTableFullError();
  }

  /** What `index` names, if it is in use. */
  get(index: number): T | undefined {
    return this.#entries.get(index);
  }

  /** Points an index in use at a new value (a handshake's index passing to its keypair). */
  replace(index: number, value: T): void {
    if (this.#entries.has(index)) this.#entries.set(index, value);
  }

  /** Frees `index`; unknown indices are ignored. */
  delete(index: number): void {
    this.#entries.delete(index);
  }
}
