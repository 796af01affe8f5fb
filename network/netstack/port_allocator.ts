/**
 * Ephemeral ports (RFC 6056): a random starting point in the range, then
 * the next free port (RFC 6056 §3.3.2, "Algorithm 2" with a random start
 * for each allocation), so that port numbers do not reveal how many
 * connections were made and an off-path attacker cannot guess them.
 *
 * @module
 */
import type { RandomSource } from "../crypto/random.ts";

/** The IANA dynamic range (RFC 6335 §6). */
export const EPHEMERAL_PORT_FIRST = 49152;
/** Last port of the dynamic range. */
export const EPHEMERAL_PORT_LAST = 65535;

/** Picks free ports from a range. */
export class PortAllocator {
  readonly #random: RandomSource;
  readonly #first: number;
  readonly #count: number;

  /** Allocates from [first, last]. */
  constructor(random: RandomSource, first = EPHEMERAL_PORT_FIRST, last = EPHEMERAL_PORT_LAST) {
    this.#random = random;
    this.#first = first;
    this.#count = last - first + 1;
  }

  /** A port for which `inUse` says false, or undefined when all are taken. */
  allocate(inUse: (port: number) => boolean): number | undefined {
    const r = this.#random(4);
    const start = (((r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]) >>> 0) % this.#count;
    for (let i = 0; i < this.#count; i++) {
      const port = this.#first + ((start + i) % this.#count);
      if (!inUse(port)) return port;
    }
    return undefined;
  }
}
