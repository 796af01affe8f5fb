/**
 * Virtual time for the netstack tests: a {@link Clock} whose timers sit in
 * a heap and fire only when the test moves time, and a driver that
 * alternates between letting the application's promises settle and
 * jumping to the next timer, so a transfer of many megabytes over a
 * simulated link with delays runs in seconds of real time.
 */
import { setImmediate } from "node:timers";
import type { Clock, TimerHandle } from "../../../../network/clock.ts";

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

/** A clock that moves only when told to. */
export class VirtualClock implements Clock {
  #now: number;
  #nextId = 1;
  #heap: Timer[] = [];
  #cancelled = new Set<number>();

  /** Starts at monotonic `start` ms. */
  constructor(start = 1_000) {
    this.#now = start;
  }

  /** Wall-clock ms (an arbitrary epoch plus monotonic). */
  now(): number {
    return Date.UTC(2026, 0, 1) + this.#now;
  }

  /** Monotonic ms. */
  monotonic(): number {
    return this.#now;
  }

  /** Files a timer. */
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), callback };
    this.#push(timer);
    return timer.id as unknown as TimerHandle;
  }

  /** Cancels a timer. */
  clearTimeout(handle: TimerHandle): void {
    this.#cancelled.add(handle as unknown as number);
  }

  /** Runs `callback` when time next moves (a 0 ms timer). */
  defer(callback: () => void): void {
    this.setTimeout(callback, 0);
  }

  /** Resolves at now + ms. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const id = this.setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        this.clearTimeout(id);
        reject(signal.reason);
      }, { once: true });
    });
  }

  /** When the next live timer fires, or undefined. */
  nextAt(): number | undefined {
    while (this.#heap.length > 0 && this.#cancelled.has(this.#heap[0].id)) {
      this.#cancelled.delete(this.#pop().id);
    }
    return this.#heap[0]?.at;
  }

  /** Live timers. */
  get pending(): number {
    let n = 0;
    for (const t of this.#heap) if (!this.#cancelled.has(t.id)) n++;
    return n;
  }

  /** Moves to `at`, firing every timer due on the way, in order. */
  advanceTo(at: number): void {
    for (;;) {
      const next = this.nextAt();
      if (next === undefined || next > at) break;
      const timer = this.#pop();
      this.#now = Math.max(this.#now, timer.at);
      timer.callback();
    }
    this.#now = Math.max(this.#now, at);
  }

  /** Moves forward by `ms`. */
  advance(ms: number): void {
    this.advanceTo(this.#now + ms);
  }

  #push(timer: Timer): void {
    const h = this.#heap;
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (before(h[p], timer)) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = timer;
  }

  #pop(): Timer {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        let best = last;
        if (l < h.length && before(h[l], best)) {
          m = l;
          best = h[l];
        }
        if (r < h.length && before(h[r], best)) m = r;
        if (m === i) break;
        h[i] = h[m];
        i = m;
      }
      h[i] = last;
    }
    return top;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.id < b.id);
}

/** Lets every pending promise reaction run (one macrotask turn). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Thrown when virtual time runs out or nothing is left to happen. */
export class VirtualTimeError extends Error {
  /** Says what was awaited. */
  constructor(message: string) {
    super(message);
    this.name = "VirtualTimeError";
  }
}

/**
 * Alternates settling promises and advancing to the next timer until
 * `done()` holds. Throws when `limitMs` of virtual time pass, or when no
 * timer is left and `done()` still fails (a deadlock).
 */
export async function runUntil(
  clock: VirtualClock,
  done: () => boolean,
  limitMs = 600_000,
  what = "condition",
): Promise<void> {
  const end = clock.monotonic() + limitMs;
  for (;;) {
    await settle();
    if (done()) return;
    const next = clock.nextAt();
    if (next === undefined) throw new VirtualTimeError(`${what}: nothing left to happen`);
    if (next > end) throw new VirtualTimeError(`${what}: not within ${limitMs} ms`);
    clock.advanceTo(next);
  }
}

/** Runs until `promise` settles, returning its value (see {@link runUntil}). */
export async function runFor<T>(
  clock: VirtualClock,
  promise: Promise<T>,
  limitMs = 600_000,
  what = "promise",
): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => settled = true);
  tracked.catch(() => {});
  await runUntil(clock, () => settled, limitMs, what);
  return await tracked;
}
