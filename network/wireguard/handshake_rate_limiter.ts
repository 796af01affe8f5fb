/**
 * Under load, a valid MAC2 proves only that the sender can receive at its
 * source address; a sender that does can still flood with MAC2. As
 * wireguard-go's ratelimiter does, each source gets a token bucket
 * (20 initiations per second, a burst of 5); and since a source here is
 * whatever bytes the caller names (an address and port, a DERP sender's
 * key), which one host can vary, all sources together are held to a total
 * budget as well, so that the X25519 work under load stays bounded.
 *
 * @module
 */
import { UNDER_LOAD_INITIATION_RATE } from "./handshake_load.ts";

/** Initiations per second one source may have answered under load (wireguard-go's packetsPerSecond). */
export const INITIATIONS_PER_SOURCE_PER_SECOND = 20;
/** The burst one source may use at once (wireguard-go's packetsBurstable). */
export const INITIATIONS_PER_SOURCE_BURST = 5;
/** Sources tracked at most; a new source beyond this is refused until old ones go idle. */
export const MAX_RATE_LIMITED_SOURCES = 4_096;

interface Bucket {
  tokens: number;
  last: number;
}

/**
 * Per-source and total token buckets over monotonic milliseconds.
 *
 * @example
 * ```ts
 * const limiter = new HandshakeRateLimiter();
 * if (limiter.allow(sourceBytes, now)) answer();
 * ```
 */
export class HandshakeRateLimiter {
  readonly #sources = new Map<string, Bucket>();
  readonly #total: Bucket;
  readonly #totalPerSecond: number;
  #lastSweep = -Infinity;

  /** All sources together get `totalPerSecond` (with that as their burst too). */
  constructor(totalPerSecond: number = UNDER_LOAD_INITIATION_RATE) {
    this.#totalPerSecond = totalPerSecond;
    this.#total = { tokens: totalPerSecond, last: -Infinity };
  }

  /** Sources tracked now. */
  get size(): number {
    return this.#sources.size;
  }

  /** Takes one initiation's worth for `source` at `now`; false when it or the total is spent. */
  allow(source: Uint8Array, now: number): boolean {
    const key = sourceKey(source);
    let bucket = this.#sources.get(key);
    if (!bucket) {
      // A full table is swept at most once a second, so a stream of new sources costs no more.
      if (this.#sources.size >= MAX_RATE_LIMITED_SOURCES && now - this.#lastSweep >= 1000) {
        this.#sweep(now);
      }
      if (this.#sources.size >= MAX_RATE_LIMITED_SOURCES) return false;
      bucket = { tokens: INITIATIONS_PER_SOURCE_BURST, last: now };
      this.#sources.set(key, bucket);
    }
    refill(bucket, now, INITIATIONS_PER_SOURCE_PER_SECOND, INITIATIONS_PER_SOURCE_BURST);
    refill(this.#total, now, this.#totalPerSecond, this.#totalPerSecond);
    if (bucket.tokens < 1 || this.#total.tokens < 1) return false;
    bucket.tokens--;
    this.#total.tokens--;
    return true;
  }

  /** Forgets the sources whose buckets have refilled (they would start full anyway). */
  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [key, bucket] of this.#sources) {
      refill(bucket, now, INITIATIONS_PER_SOURCE_PER_SECOND, INITIATIONS_PER_SOURCE_BURST);
      if (bucket.tokens >= INITIATIONS_PER_SOURCE_BURST) this.#sources.delete(key);
    }
  }
}

function refill(bucket: Bucket, now: number, perSecond: number, burst: number): void {
  const elapsed = now - bucket.last;
  if (elapsed > 0) bucket.tokens = Math.min(burst, bucket.tokens + (elapsed * perSecond) / 1000);
  bucket.last = Math.max(bucket.last, now);
}

function sourceKey(source: Uint8Array): string {
  let key = "";
  for (const byte of source) key += String.fromCharCode(byte);
  return key;
}
