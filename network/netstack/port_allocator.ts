/**
 * Ephemeral ports (RFC 6056). A connect's local port is chosen by
 * "Algorithm 3: Simple Hash-Based Port Selection" (§3.3.3): the port is
 * `first + (F(local, remote, remote port, secret) + next) mod count`, with
 * `next` incremented at every try. Connections to one destination so take
 * the ports in turn and a port comes back only after the whole range has
 * been used, while an off-path attacker, who does not know the keyed hash,
 * still cannot guess them. This matters against peers that keep TIME-WAIT
 * for the 4-tuple: gVisor, which tailscaled runs, does not let a new SYN
 * reuse a 4-tuple in TIME-WAIT (unlike Linux, RFC 6191), so a port picked
 * at random for each connection collides with one of the last thousand
 * connections a few times in a thousand, and each such connect hangs until
 * the peer's TIME-WAIT ends (measured against tailscaled: 17 of 1,000).
 *
 * A local port without a destination (a UDP bind to port 0) is "Algorithm
 * 2" with a random start (§3.3.2).
 *
 * @module
 */
import { blake2s } from "../crypto/blake2s.ts";
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
  readonly #secret: Uint8Array;
  #next: number;

  /** Allocates from [first, last]. */
  constructor(random: RandomSource, first = EPHEMERAL_PORT_FIRST, last = EPHEMERAL_PORT_LAST) {
    this.#random = random;
    this.#first = first;
    this.#count = last - first + 1;
    this.#secret = random(32);
    this.#next = this.#random32();
  }

  /**
   * A port for which `inUse` says false, or undefined when all are taken.
   * With `destination` (the remote address and port, in any fixed encoding)
   * the port follows RFC 6056 Algorithm 3; without, a random start.
   */
  allocate(inUse: (port: number) => boolean, destination?: Uint8Array): number | undefined {
    if (!destination) {
      const start = this.#random32() % this.#count;
      for (let i = 0; i < this.#count; i++) {
        const port = this.#first + ((start + i) % this.#count);
        if (!inUse(port)) return port;
      }
      return undefined;
    }
    const h = blake2s([this.#secret, destination], { outputLength: 4 });
    const offset = ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
    for (let i = 0; i < this.#count; i++) {
      const port = this.#first + ((offset + this.#next) % this.#count);
      this.#next = (this.#next + 1) >>> 0;
      if (!inUse(port)) return port;
    }
    return undefined;
  }

  #random32(): number {
    const r = this.#random(4);
    return ((r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]) >>> 0;
  }
}
