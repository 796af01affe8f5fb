/**
 * Reconnect backoff with jitter. The n-th consecutive failure waits a random
 * time between d/2 and min(3d/2, max), where d = min(base·2^(n-1), max), so
 * that many nodes that lost Nexus together do not come back in lockstep, and
 * `max` is a real cap: no wait is longer (the window shrinks below it rather
 * than piling waits up on it).
 *
 * The Go client caps its wait at 30 s; we cap at 5 s by default because a node
 * must be back online within seconds of Nexus returning, and one map-poll
 * attempt every few seconds per node is cheap for the server.
 */
import type { RandomSource } from "../crypto/random.ts";
import { systemRandom } from "../crypto/random.ts";

/** Options for {@link Backoff}. */
export interface BackoffOptions {
  /** Wait after the first failure, before jitter. */
  baseMs?: number;
  /** Largest wait, jitter included. */
  maxMs?: number;
  /** Source of jitter. */
  random?: RandomSource;
}

/** Counts consecutive failures and says how long to wait before the next try. */
export class Backoff {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #random: RandomSource;
  #failures = 0;

  /** A backoff with no failures yet. */
  constructor(options: BackoffOptions = {}) {
    this.#baseMs = options.baseMs ?? 250;
    this.#maxMs = options.maxMs ?? 5_000;
    this.#random = options.random ?? systemRandom;
  }

  /** Consecutive failures so far. */
  get failures(): number {
    return this.#failures;
  }

  /** Records a failure and returns the wait in milliseconds before the next attempt. */
  nextDelayMs(): number {
    this.#failures++;
    const exponent = Math.min(this.#failures - 1, 30);
    const unjittered = Math.min(this.#baseMs * 2 ** exponent, this.#maxMs);
    const bytes = this.#random(4);
    const unit = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) / 2 ** 32;
    const low = unjittered / 2;
    const high = Math.min(unjittered * 1.5, this.#maxMs);
    return Math.floor(low + unit * (high - low));
  }

  /** Records a success: the next failure waits the base time again. */
  reset(): void {
    this.#failures = 0;
  }
}
