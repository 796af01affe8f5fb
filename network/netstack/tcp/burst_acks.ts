/**
 * ACKs owed at the end of a burst. Arriving packets come in bursts (all
 * that the UDP socket held, handled in one turn of the event loop); the
 * connections that got two or more full segments in it owe an ACK (RFC 5681
 * §4.2), and each sends one when the burst has been handled instead of one
 * per pair of segments, much as Linux acknowledges a GRO batch. The peer
 * sees fewer, larger ACKs; each one we do not send saves a seal, a UDP send
 * and the peer's open.
 *
 * @module
 */
import type { TcpConnection } from "./tcp_connection.ts";

/**
 * The connections owing a burst-end ACK, and the one deferred flush.
 *
 * @example
 * ```ts
 * const acks = new BurstAcks((flush) => clock.defer(flush), () => clock.monotonic());
 * acks.add(connection); // from segment input; the ACK leaves after the burst
 * ```
 */
export class BurstAcks {
  readonly #owing = new Set<TcpConnection>();
  readonly #defer: (flush: () => void) => void;
  readonly #now: () => number;
  #scheduled = false;

  /** `defer` runs its callback once the I/O ready now is handled; `now` reads the clock. */
  constructor(defer: (flush: () => void) => void, now: () => number) {
    this.#defer = defer;
    this.#now = now;
  }

  /** `connection` owes an ACK at the end of the current burst. */
  add(connection: TcpConnection): void {
    this.#owing.add(connection);
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#defer(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    const now = this.#now();
    const owing = [...this.#owing];
    this.#owing.clear();
    for (const connection of owing) connection.sendOwedAck(now);
  }
}
