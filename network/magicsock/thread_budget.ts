/**
 * A bound on the bytes in flight between the main thread and the UDP
 * worker, one per direction: the side that posts counts what it posted, the
 * side that takes counts (in shared memory, atomically) what it is done
 * with, and a post that would put more than the limit in flight is refused,
 * so that a stalled thread's inbox cannot grow without end. A refused batch
 * is dropped and counted, as a full socket buffer drops a datagram.
 *
 * Counters wrap at 2^32 (Int32 arithmetic); in flight stays far below 2^31.
 *
 * @module
 */

/** Slots of the shared counters. */
export const BudgetSlot = {
  /** Bytes of send batches the worker is done with. */
  SendDone: 0,
  /** Bytes of receive batches the main thread is done with. */
  ReceiveDone: 1,
  /** Datagrams the worker dropped because the main thread was too far behind. */
  ReceiveDropped: 2,
} as const;

/** One slot of the shared counters. */
export type BudgetSlot = (typeof BudgetSlot)[keyof typeof BudgetSlot];

/** Slots in a counters array. */
export const BUDGET_SLOTS: number = Object.keys(BudgetSlot).length;

/** Bytes in flight per direction unless told otherwise. */
export const DEFAULT_THREAD_QUEUE_BYTES = 4 * 1024 * 1024;

/** Counters both threads see: {@link BUDGET_SLOTS} Int32 slots in shared memory. */
export function sharedCounters(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(BUDGET_SLOTS * Int32Array.BYTES_PER_ELEMENT));
}

/** The posting side of one direction. */
export class ThreadBudget {
  readonly #counters: Int32Array;
  readonly #slot: BudgetSlot;
  readonly #limit: number;
  #posted = 0;

  /** Posts in flight may hold `limit` bytes at most; the taker releases into `slot`. */
  constructor(counters: Int32Array, slot: BudgetSlot, limit: number) {
    this.#counters = counters;
    this.#slot = slot;
    this.#limit = limit;
  }

  /** Bytes posted that the other side is not done with. */
  get inFlight(): number {
    return (this.#posted - Atomics.load(this.#counters, this.#slot)) | 0;
  }

  /** Whether `bytes` more may be posted; when true they count as posted. */
  tryPost(bytes: number): boolean {
    if (this.inFlight + bytes > this.#limit) return false;
    this.#posted = (this.#posted + bytes) | 0;
    return true;
  }
}

/** The taking side: done with `bytes` of what was posted into `slot`. */
export function releaseBudget(counters: Int32Array, slot: BudgetSlot, bytes: number): void {
  Atomics.add(counters, slot, bytes);
}
