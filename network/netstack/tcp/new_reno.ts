/**
 * NewReno window sizing (RFC 5681 §3.1, RFC 6582): slow start below
 * ssthresh, one MSS per window of acknowledged bytes above it (appropriate
 * byte counting, RFC 3465), ssthresh = max(FlightSize / 2, 2·MSS) on loss.
 * The recovery itself (which segments to resend, and the window inflation
 * RFC 6582 expresses as cwnd arithmetic) is done by the sender's pipe
 * estimate, so this class only sizes the window.
 *
 * @module
 */
import type { CongestionController } from "./congestion_control.ts";

/** NewReno's congestion window. */
export class NewReno implements CongestionController {
  /** Always "newreno". */
  readonly name = "newreno" as const;
  /** Congestion window, bytes. */
  cwnd: number;
  /** Slow-start threshold, bytes. */
  ssthresh = Infinity;
  #mss: number;
  #ackedInAvoidance = 0;

  /** Starts at `initialWindow` bytes. */
  constructor(mss: number, initialWindow: number) {
    this.#mss = mss;
    this.cwnd = initialWindow;
  }

  /** RFC 5681 §3.1 eq. 2 (slow start, L = 2·SMSS per RFC 3465) and eq. 3 (by bytes). */
  onAck(acked: number, _now: number, _srtt: number | undefined, cwndLimited: boolean): void {
    if (!cwndLimited) return;
    if (this.cwnd < this.ssthresh) {
      this.cwnd += Math.min(acked, 2 * this.#mss);
      return;
    }
    this.#ackedInAvoidance += acked;
    if (this.#ackedInAvoidance >= this.cwnd) {
      this.#ackedInAvoidance -= this.cwnd;
      this.cwnd += this.#mss;
    }
  }

  /** RFC 5681 §3.2 step 2 (with RFC 6675's pipe doing the inflation): cwnd = ssthresh. */
  onCongestionEvent(_now: number, flightSize: number): void {
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.#mss);
    this.cwnd = this.ssthresh;
    this.#ackedInAvoidance = 0;
  }

  /** RFC 6582 §3.2 step 3: deflate to ssthresh. */
  onRecoveryEnd(): void {
    this.cwnd = this.ssthresh;
  }

  /** RFC 5681 §3.1 eq. 4 and the loss window of one segment. */
  onRetransmitTimeout(_now: number, flightSize: number): void {
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.#mss);
    this.cwnd = this.#mss;
    this.#ackedInAvoidance = 0;
  }

  /** cwnd, ssthresh and the avoidance byte count. */
  save(): unknown {
    return [this.cwnd, this.ssthresh, this.#ackedInAvoidance];
  }

  /** Back to a saved state. */
  restore(state: unknown): void {
    [this.cwnd, this.ssthresh, this.#ackedInAvoidance] = state as [number, number, number];
  }

  /** Rescales to a new MSS. */
  setMss(mss: number): void {
    this.#mss = mss;
    this.cwnd = Math.max(this.cwnd, mss);
  }
}
