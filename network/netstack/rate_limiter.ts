/**
 * A token bucket: at most `burst` events at once and `perSecond` on
 * average, in the injected clock's time. Limits the ICMP errors the stack
 * sends (RFC 1812 §4.3.2.8, RFC 4443 §2.4 (f)) and its challenge ACKs
 * (RFC 5961 §7).
 *
 * @module
 */

/** A token bucket over millisecond timestamps. */
export class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  #tokens: number;
  #last: number | undefined;

  /** Allows `perSecond` events a second on average, `burst` at once. */
  constructor(perSecond: number, burst: number) {
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
  }

  /** Takes a token if one is there at `now` (ms); false when the limit is reached. */
  allow(now: number): boolean {
    if (this.#last !== undefined && now > this.#last) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#perMs);
    }
    if (this.#last === undefined || now > this.#last) this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
