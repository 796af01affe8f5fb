/**
 * The responder's "under load" state (whitepaper §5.3): while it holds, an
 * initiation earns handshake work only with a valid MAC2, and everything
 * else gets a cookie reply. wireguard-go declares load when its handshake
 * queue is at least 1/8 full and keeps it for UnderLoadAfterTime (1 s)
 * after; our device has no queue (each datagram is handled as it arrives),
 * so load is measured as a rate instead: initiations with a valid MAC1 in
 * the last second.
 *
 * @module
 */

/**
 * Initiations (valid MAC1) per second at which the device is under load.
 *
 * Why 128: one initiation costs the responder ~0.45 ms in
 * `consumeInitiation` (two X25519 with @noble/curves) and ~1.2 ms for a
 * complete answer (five X25519 and a new peer) on the 2-core CI machine, so
 * one core saturates at ~800–2,200 initiations per second. 128 per second
 * caps what a MAC1-valid flood can cost at ~6–15 % of one core, yet is far
 * above honest demand: a peer sends at most one initiation per
 * REKEY_TIMEOUT (5 s) and rekeys every 2 min, so even 500 peers all
 * handshaking at once stay near the threshold, and those refused complete
 * on their next retry with MAC2. It is also wireguard-go's number (1/8 of
 * its 1,024-entry handshake queue), as a rate instead of a depth.
 */
export const UNDER_LOAD_INITIATION_RATE = 128;

/** How long load lasts after the rate last reached the threshold (wireguard-go's UnderLoadAfterTime). */
export const UNDER_LOAD_AFTER_TIME = 1_000;

/** The window the rate is counted over. */
const RATE_WINDOW = 1_000;

/**
 * A sliding count of initiations per second and the load state it implies.
 * Memory is one timestamp per unit of threshold, whatever the flood.
 *
 * @example
 * ```ts
 * const load = new HandshakeLoad();
 * if (load.noteInitiation(now) && !validMac2) sendCookieReply();
 * ```
 */
export class HandshakeLoad {
  readonly #arrivals: Float64Array;
  #next = 0;
  #count = 0;
  #loadedUntil = -Infinity;

  /** Under load at `threshold` initiations within one second, for `holdMs` after. */
  constructor(
    readonly threshold: number = UNDER_LOAD_INITIATION_RATE,
    readonly holdMs: number = UNDER_LOAD_AFTER_TIME,
  ) {
    if (!Number.isInteger(threshold) || threshold < 1) {
      throw new RangeError(`load threshold must be a positive integer, not ${threshold}`);
    }
    this.#arrivals = new Float64Array(threshold);
  }

  /**
   * Records one initiation arriving at monotonic `now`; returns whether the
   * device is under load once it is counted.
   */
  noteInitiation(now: number): boolean {
    this.#arrivals[this.#next] = now;
    this.#next = (this.#next + 1) % this.threshold;
    if (this.#count < this.threshold) this.#count++;
    // The slot written next holds the oldest of the last `threshold` arrivals.
    if (this.#count === this.threshold && now - this.#arrivals[this.#next] < RATE_WINDOW) {
      this.#loadedUntil = now + this.holdMs;
    }
    return this.underLoad(now);
  }

  /** Whether the device is under load at monotonic `now`. */
  underLoad(now: number): boolean {
    return now < this.#loadedUntil;
  }
}
