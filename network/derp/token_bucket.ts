/**
 * A token bucket for the send rate a DERP server may ask for in ServerInfo
 * (data-plane reference §3.5): tokens are bytes, refilled at a steady rate
 * up to a burst. Time comes from the injected clock.
 *
 * @module
 */
import type { Clock } from "../clock.ts";

/**
 * Bytes allowed per second with a burst allowance.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket(1_000_000, 64_000, systemClock);
 * if (bucket.take(1500)) send();
 * ```
 */
export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #last: number;

  /** Starts full: `burst` tokens, refilled at `bytesPerSecond`. */
  constructor(bytesPerSecond: number, burst: number, clock: Clock) {
    if (!(bytesPerSecond > 0) || !(burst > 0)) {
      throw new RangeError("token bucket rate and burst must be positive");
    }
    this.#ratePerMs = bytesPerSecond / 1000;
    this.#burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#last = clock.monotonic();
  }

  /** Takes `n` tokens if there are that many; false (and nothing taken) otherwise. */
  take(n: number): boolean {
    const now = this.#clock.monotonic();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#ratePerMs);
    this.#last = now;
    if (n > this.#tokens) return false;
    this.#tokens -= n;
    return true;
  }
}
