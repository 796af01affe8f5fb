/**
 * The receive-side replay filter: the sliding bitmap window of RFC 6479 §2,
 * sized as wireguard-go's (a ring of 128 blocks of 64 bits, so the window
 * reaches 127 × 64 = 8128 counters behind the highest one seen). A counter is
 * accepted once, and only if it is newer than the window's trailing edge
 * (whitepaper §5.4.6). Check a message's authenticity before its counter, so
 * that forged counters cannot move the window.
 */

const BLOCK_BITS = 64;
const RING_BLOCKS = 128;
/** How far behind the highest accepted counter a counter may be and still be accepted. */
export const REPLAY_WINDOW_SIZE = (RING_BLOCKS - 1) * BLOCK_BITS;

/** One keypair's window of seen counters. */
export class ReplayWindow {
  // Each 64-bit block is two 32-bit words: word 2b holds bits 0–31, 2b+1 bits 32–63.
  readonly #ring = new Uint32Array(RING_BLOCKS * 2);
  #last = 0;

  /** Forgets every counter. */
  reset(): void {
    this.#ring.fill(0);
    this.#last = 0;
  }

  /**
   * Accepts `counter` (a non-negative integer) if it was not seen before and
   * is inside the window, and records it; returns false for a replay or a
   * counter too old. The caller rejects counters ≥ REJECT_AFTER_MESSAGES.
   */
  accept(counter: number): boolean {
    if (!(counter >= 0) || !Number.isInteger(counter)) return false;
    const block = Math.floor(counter / BLOCK_BITS);
    if (counter > this.#last) {
      // RFC 6479 §2: advancing the window clears the blocks it slides over.
      const current = Math.floor(this.#last / BLOCK_BITS);
      const clear = Math.min(block - current, RING_BLOCKS);
      for (let i = 1; i <= clear; i++) {
        const word = ((current + i) % RING_BLOCKS) * 2;
        this.#ring[word] = 0;
        this.#ring[word + 1] = 0;
      }
      this.#last = counter;
    } else if (this.#last - counter > REPLAY_WINDOW_SIZE) {
      return false;
    }
    const bit = counter % BLOCK_BITS;
    const word = (block % RING_BLOCKS) * 2 + (bit >= 32 ? 1 : 0);
    const mask = 1 << (bit & 31);
    if ((this.#ring[word] & mask) !== 0) return false;
    this.#ring[word] |= mask;
    return true;
  }
}
