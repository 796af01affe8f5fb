/**
 * Initial sequence numbers (RFC 6528 §3): ISN = M + F(localip, localport,
 * remoteip, remoteport, secretkey), where M is a timer ticking every 4 µs
 * and F a keyed hash; here keyed BLAKE2s with a 32-byte key drawn once from
 * the injected random source. The same hash gives each connection its
 * timestamp offset (RFC 7323 §5.4 recommends a random per-connection
 * offset, so TSval reveals neither uptime nor other connections' clocks).
 *
 * @module
 */
import { blake2s } from "../../crypto/blake2s.ts";
import type { RandomSource } from "../../crypto/random.ts";

/** What a new connection starts with. */
export interface InitialNumbers {
  /** The initial send sequence number. */
  iss: number;
  /** Added to the millisecond clock to form TSval. */
  timestampOffset: number;
}

/** Derives ISNs and timestamp offsets for one stack. */
export class IsnGenerator {
  readonly #key: Uint8Array;

  /** Draws the secret key from `random`. */
  constructor(random: RandomSource) {
    this.#key = random(32);
  }

  /** The numbers for the connection (local, remote) at monotonic time `nowMs`. */
  next(
    localIp: Uint8Array,
    localPort: number,
    remoteIp: Uint8Array,
    remotePort: number,
    nowMs: number,
  ): InitialNumbers {
    const ports = new Uint8Array([localPort >> 8, localPort, remotePort >> 8, remotePort]);
    const f = blake2s([localIp, remoteIp, ports], { key: this.#key, outputLength: 8 });
    const view = new DataView(f.buffer, f.byteOffset, 8);
    // M: a 4-microsecond tick (RFC 6528 §3), from the injected clock.
    const m = Math.floor(nowMs * 250) % 2 ** 32;
    return {
      iss: (m + view.getUint32(0)) >>> 0,
      timestampOffset: view.getUint32(4),
    };
  }
}
