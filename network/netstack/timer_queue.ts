/**
 * The stack's timers: one binary heap of (deadline, item) over all
 * connections, and one clock timer armed for the earliest. An item whose
 * deadline moves later keeps its old entry; when that entry falls due the
 * item is asked for its real deadline and filed again, so the heap holds
 * about one entry per item however often a retransmission timer restarts.
 * Entries of items that were forgotten (closed connections) or refiled
 * earlier are stale; once they outnumber the live ones the heap is rebuilt
 * without them, so a closed connection is not held until its last deadline
 * (a keepalive's could be hours away).
 *
 * @module
 */

/** Something with a deadline. */
export interface TimedItem {
  /** The deadline it is filed under (Infinity when none); the queue keeps it. */
  scheduledAt: number;
  /** Its real earliest deadline now, or Infinity. */
  nextDeadline(): number;
  /** Runs whatever is due at `now`. */
  onTimer(now: number): void;
}

interface Entry<T> {
  at: number;
  item: T;
}

/** A min-heap of deadlines. */
export class TimerQueue<T extends TimedItem> {
  #heap: Entry<T>[] = [];
  #live = 0;

  /** Entries held, stale ones included (at least {@link TimerQueue.pending}). */
  get size(): number {
    return this.#heap.length;
  }

  /** Items with a deadline: one live entry each. */
  get pending(): number {
    return this.#live;
  }

  /** The earliest entry's deadline, or Infinity. */
  get earliest(): number {
    return this.#heap.length > 0 ? this.#heap[0].at : Infinity;
  }

  /** Files `item` under `at` if that is earlier than what it is filed under. */
  schedule(item: T, at: number): void {
    if (!(at < item.scheduledAt)) return;
    if (item.scheduledAt === Infinity) this.#live++;
    item.scheduledAt = at;
    this.#push({ at, item });
    this.#compactIfStale();
  }

  /** Runs every item due at `now`, refiling each under its next deadline. */
  run(now: number): void {
    const heap = this.#heap;
    while (heap.length > 0 && heap[0].at <= now) {
      const { at, item } = this.#pop();
      // A stale entry: the item has been refiled earlier since.
      if (at !== item.scheduledAt) continue;
      item.scheduledAt = Infinity;
      this.#live--;
      if (item.nextDeadline() <= now) item.onTimer(now);
      const next = item.nextDeadline();
      if (next < Infinity) this.schedule(item, next);
    }
  }

  /** Drops an item's entries lazily: it will not be run again unless rescheduled. */
  forget(item: T): void {
    if (item.scheduledAt === Infinity) return;
    item.scheduledAt = Infinity;
    this.#live--;
    this.#compactIfStale();
  }

  /** Empties the queue. */
  clear(): void {
    for (const { item } of this.#heap) item.scheduledAt = Infinity;
    this.#heap = [];
    this.#live = 0;
  }

  /** Rebuilds the heap from its live entries once stale ones are the most. */
  #compactIfStale(): void {
    const heap = this.#heap;
    if (heap.length <= 2 * this.#live + 64) return;
    const seen = new Set<T>();
    const live = heap.filter(({ at, item }) => {
      if (at !== item.scheduledAt || seen.has(item)) return false;
      seen.add(item);
      return true;
    });
    this.#heap = [];
    for (const entry of live) this.#push(entry);
  }

  #push(entry: Entry<T>): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].at <= entry.at) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): Entry<T> {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        let mAt = last.at;
        if (l < heap.length && heap[l].at < mAt) {
          m = l;
          mAt = heap[l].at;
        }
        if (r < heap.length && heap[r].at < mAt) m = r;
        if (m === i) break;
        heap[i] = heap[m];
        i = m;
      }
      heap[i] = last;
    }
    return top;
  }
}
