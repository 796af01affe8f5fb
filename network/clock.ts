/**
 * Time, injected. Protocol code reads the time and sets timers only through a
 * {@link Clock}, so that retransmission, rekey, keep-alive and backoff logic
 * can run in virtual time in tests.
 */
import { setImmediate } from "node:timers";

/** A handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = ReturnType<typeof setTimeout>;

/** A source of time and timers. */
export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch. */
  now(): number;
  /** Monotonic milliseconds from an arbitrary origin; use for durations. */
  monotonic(): number;
  /** Calls `callback` after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
  /**
   * Calls `callback` once the I/O that is ready now has been handled: a
   * macrotask with no minimum delay (a 0 ms timer waits a millisecond or
   * more). Virtual clocks run it when time next moves.
   */
  defer(callback: () => void): void;
  /** Resolves after `ms`; rejects with the signal's reason when aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle),
  defer: (callback) => setImmediate(callback),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};
