/**
 * The DERP client's write queue: frames are written one at a time, in the
 * order they were offered, and each kind of frame has its own bound on how
 * many may wait. A server that stops reading (its TCP window closes, every
 * write blocks) must not make us queue without end: a flood of its Pings
 * would otherwise queue one Pong each, for ever (issue 11 measured 1.83 GiB
 * after 2 M Pings). When a kind's queue is full, the frame is not queued and
 * the caller drops it and counts it.
 *
 * Bounds: Tailscale's magicsock keeps 32 packets per DERP connection before
 * it drops (`bufferedDerpWritesBeforeDrop`), in front of a buffered writer;
 * we keep 128 (at most 8 MiB of 64 KiB packets, 180 KiB of typical
 * 1400-byte ones), so a burst from a TCP sender is not cut short. A Pong is
 * only a liveness answer, so a few queued are plenty.
 *
 * @module
 */

/** What a queued frame is; each kind has its own bound. */
export type DerpWriteKind = "packet" | "pong" | "control";

/** Bounds of {@link DerpWriteQueue}, per kind. */
export type DerpWriteLimits = Record<DerpWriteKind, number>;

/** Default bounds: 128 packets, 8 Pongs, 16 control frames (Ping, NotePreferred, mesh frames). */
export const DEFAULT_DERP_WRITE_LIMITS: Readonly<DerpWriteLimits> = Object.freeze({
  packet: 128,
  pong: 8,
  control: 16,
});

/**
 * A serial, bounded queue of writes.
 *
 * @example
 * ```ts
 * const queue = new DerpWriteQueue(DEFAULT_DERP_WRITE_LIMITS);
 * const written = queue.offer("pong", () => writeAll(conn, pong));
 * if (!written) stats.pongsDropped++;
 * ```
 */
export class DerpWriteQueue {
  readonly #limits: DerpWriteLimits;
  readonly #pending: DerpWriteLimits = { packet: 0, pong: 0, control: 0 };
  #tail: Promise<void> = Promise.resolve();

  /** A queue with the given per-kind bounds. */
  constructor(limits: DerpWriteLimits = DEFAULT_DERP_WRITE_LIMITS) {
    this.#limits = { ...limits };
  }

  /** Frames of `kind` waiting or being written. */
  pending(kind: DerpWriteKind): number {
    return this.#pending[kind];
  }

  /**
   * Runs `write` after every write offered before it, and returns its
   * promise; or returns null, running nothing, when `kind`'s queue is full.
   */
  offer(kind: DerpWriteKind, write: () => Promise<void>): Promise<void> | null {
    if (this.#pending[kind] >= this.#limits[kind]) return null;
    this.#pending[kind]++;
    const run = this.#tail.then(write).finally(() => {
      this.#pending[kind]--;
    });
    this.#tail = run.catch(() => {});
    return run;
  }
}
