/**
 * A {@link Clock} in virtual time for state-machine tests: time moves only
 * when the test calls {@link VirtualClock.advance}, which also fires the
 * timers that fall due, in order.
 */

import type { Clock, TimerHandle } from "../../../../network/clock.ts";

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

/** Virtual time; `now()` is `epoch + monotonic()`. */
export class VirtualClock implements Clock {
  #now: number;
  readonly #epoch: number;
  #nextId = 1;
  #timers: Timer[] = [];

  /** Starts at monotonic `start` (default 1000 ms, so that 0 is never a valid "time of"). */
  constructor(start = 1000, epoch = Date.UTC(2026, 0, 1)) {
    this.#now = start;
    this.#epoch = epoch;
  }

  /** Wall-clock milliseconds. */
  now(): number {
    return this.#epoch + this.#now;
  }

  /** Monotonic milliseconds. */
  monotonic(): number {
    return this.#now;
  }

  /** Registers a virtual timer. */
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.push({ id, at: this.#now + Math.max(0, ms), callback });
    return id as unknown as TimerHandle;
  }

  /** Cancels a virtual timer. */
  clearTimeout(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((timer) => timer.id !== (handle as unknown as number));
  }

  /** Runs `callback` when time next moves (a 0 ms timer). */
  defer(callback: () => void): void {
    this.setTimeout(callback, 0);
  }

  /** Resolves when virtual time reaches now + ms. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const handle = this.setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        this.clearTimeout(handle);
        reject(signal.reason);
      }, { once: true });
    });
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.#timers[0];
      if (!next || next.at > target) break;
      this.#timers.shift();
      this.#now = next.at;
      next.callback();
    }
    this.#now = target;
  }

  /** When the earliest pending timer falls due, or undefined with none pending. */
  nextDue(): number | undefined {
    let at: number | undefined;
    for (const timer of this.#timers) if (at === undefined || timer.at < at) at = timer.at;
    return at;
  }

  /** Moves time to monotonic `at` (never backwards). */
  advanceTo(at: number): void {
    this.advance(Math.max(0, at - this.#now));
  }
}
