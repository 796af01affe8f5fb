/**
 * The receiver's own view of the round trip, as Linux's per-window method
 * (`tcp_rcv_rtt_measure`): how long one advertised window's worth of data
 * takes to arrive. The sender cannot have more than a window in flight, so
 * a sample is about one RTT when the window limits the sender, and longer
 * when something else does (a bottleneck's queue, our own backlog). The
 * minimum of the last {@link MIN_RTT_LIFETIME} ms is kept, as BBR keeps its
 * min RTT: queueing only adds to it.
 *
 * @module
 */
import { seqLE, seqLT } from "./seq.ts";

/** How long a minimum stands before a new sample replaces it (BBR's min-RTT window). */
export const MIN_RTT_LIFETIME = 10_000;

/** One connection's receive-side RTT samples. */
export class ReceiveRtt {
  /** The smallest sample (ms) of the last {@link MIN_RTT_LIFETIME}; undefined before a full window. */
  minimum: number | undefined;
  #minimumAt = 0;
  #mark: number | undefined;
  #markAt = 0;

  /**
   * In-order data moved RCV.NXT to `rcvNxt` at `now`; `edge` is the right
   * edge of the window last advertised.
   */
  advanced(rcvNxt: number, edge: number, now: number): void {
    if (this.#mark !== undefined) {
      if (seqLT(rcvNxt, this.#mark)) return;
      const sample = now - this.#markAt;
      if (
        sample > 0 &&
        (this.minimum === undefined || sample <= this.minimum ||
          now - this.#minimumAt > MIN_RTT_LIFETIME)
      ) {
        this.minimum = sample;
        this.#minimumAt = now;
      }
    }
    // A closed window measures nothing: wait for one that is open.
    if (seqLE(edge, rcvNxt)) {
      this.#mark = undefined;
      return;
    }
    this.#mark = edge;
    this.#markAt = now;
  }
}
