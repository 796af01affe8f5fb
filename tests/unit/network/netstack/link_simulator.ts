/**
 * A simulated link between two netstacks, in virtual time: one-way delay,
 * a bottleneck rate with a drop-tail queue, and seeded random loss,
 * reordering (extra delay for a fraction of packets) and duplication. The
 * same seed gives the same run.
 */
import type { VirtualClock } from "./virtual_time.ts";

/** How a link misbehaves. */
export interface LinkConditions {
  /** One-way propagation delay, ms. */
  delay: number;
  /** Bottleneck rate, bytes per ms (default: unlimited). */
  rate?: number;
  /** Queue at the bottleneck, bytes (default 256 KiB). */
  queueBytes?: number;
  /** Probability of losing a packet. */
  loss?: number;
  /** Probability of delaying a packet past later ones. */
  reorder?: number;
  /** Extra delay of a reordered packet, ms (default 2 × delay + 1). */
  reorderDelay?: number;
  /** Probability of duplicating a packet. */
  duplicate?: number;
}

/** Counters of one direction. */
export interface LinkStats {
  /** Packets offered. */
  sent: number;
  /** Packets delivered (duplicates included). */
  delivered: number;
  /** Lost at random. */
  lost: number;
  /** Dropped at the full queue. */
  queueDrops: number;
  /** Delayed out of order. */
  reordered: number;
  /** Duplicated. */
  duplicated: number;
}

/** A deterministic PRNG (xorshift128+ over a 32-bit seed). */
export class SeededPrng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /** Seeds the generator. */
  constructor(seed: number) {
    this.#s0 = seed >>> 0 || 1;
    this.#s1 = 0x9e3779b9;
    this.#s2 = 0x243f6a88;
    this.#s3 = 0xb7e15162;
    for (let i = 0; i < 16; i++) this.next();
  }

  /** A uniform 32-bit unsigned integer (xoshiro128**). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    return this.nextU32() / 2 ** 32;
  }

  /** Fills `out` with pseudo-random bytes. */
  fill(out: Uint8Array): Uint8Array {
    let i = 0;
    for (; i + 4 <= out.length; i += 4) {
      const v = this.nextU32();
      out[i] = v;
      out[i + 1] = v >>> 8;
      out[i + 2] = v >>> 16;
      out[i + 3] = v >>> 24;
    }
    for (; i < out.length; i++) out[i] = this.nextU32();
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** One direction of the link. */
export class LinkDirection {
  /** Counters. */
  readonly stats: LinkStats = {
    sent: 0,
    delivered: 0,
    lost: 0,
    queueDrops: 0,
    reordered: 0,
    duplicated: 0,
  };
  /** Conditions; may be changed during a run. */
  conditions: LinkConditions;
  /** Drops every packet while set (a cut cable). */
  down = false;
  /** Sees (and may rewrite or drop, by returning null) every packet. */
  tap: ((packet: Uint8Array) => Uint8Array | null) | undefined;
  readonly #clock: VirtualClock;
  readonly #prng: SeededPrng;
  readonly #deliver: (packet: Uint8Array) => void;
  #busyUntil = 0;

  /** Packets go to `deliver` after the conditions apply. */
  constructor(
    clock: VirtualClock,
    prng: SeededPrng,
    conditions: LinkConditions,
    deliver: (packet: Uint8Array) => void,
  ) {
    this.#clock = clock;
    this.#prng = prng;
    this.conditions = conditions;
    this.#deliver = deliver;
  }

  /** Offers one packet to the link. */
  send(packet: Uint8Array): void {
    this.stats.sent++;
    let p: Uint8Array | null = packet;
    if (this.tap) p = this.tap(packet);
    if (!p || this.down) return;
    const c = this.conditions;
    const now = this.#clock.monotonic();
    let departs = now;
    if (c.rate !== undefined) {
      const start = Math.max(now, this.#busyUntil);
      if ((start - now) * c.rate > (c.queueBytes ?? 256 * 1024)) {
        this.stats.queueDrops++;
        return;
      }
      departs = start + p.length / c.rate;
      this.#busyUntil = departs;
    }
    if (c.loss && this.#prng.next() < c.loss) {
      this.stats.lost++;
      return;
    }
    let arrives = departs + c.delay;
    if (c.reorder && this.#prng.next() < c.reorder) {
      this.stats.reordered++;
      arrives += c.reorderDelay ?? 2 * c.delay + 1;
    }
    const copy = p;
    this.#clock.setTimeout(() => this.#arrive(copy), arrives - now);
    if (c.duplicate && this.#prng.next() < c.duplicate) {
      this.stats.duplicated++;
      const dup = p.slice();
      this.#clock.setTimeout(() => this.#arrive(dup), arrives - now + 1);
    }
  }

  #arrive(packet: Uint8Array): void {
    this.stats.delivered++;
    this.#deliver(packet);
  }
}
