/**
 * CUBIC (RFC 9438), the default congestion controller.
 *
 * Why CUBIC rather than NewReno: mesh paths are often long and fat (DERP
 * relays add tens of milliseconds), where NewReno's one-MSS-per-RTT growth
 * takes minutes to refill a window after a loss; CUBIC's growth depends on
 * time since the last loss, not on RTT, and its Reno-friendly region keeps
 * it no more aggressive than NewReno on short paths. It is also what the
 * peers run: Linux's default and the controller tailscaled configures in
 * gVisor's netstack, so competing flows behave alike.
 *
 * Not implemented: HyStart++ (RFC 9406); slow start ends at the first loss.
 *
 * @module
 */
import type { CongestionController } from "./congestion_control.ts";

/** CUBIC's C (RFC 9438 §5.1). */
const C = 0.4;
/** Multiplicative decrease factor β_cubic (RFC 9438 §4.6). */
const BETA = 0.7;
/** α_cubic for the Reno-friendly estimate (RFC 9438 §4.3). */
const ALPHA = (3 * (1 - BETA)) / (1 + BETA);

/** CUBIC's congestion window; its internal arithmetic is in segments, as in the RFC. */
export class Cubic implements CongestionController {
  /** Always "cubic". */
  readonly name = "cubic" as const;
  /** Congestion window, bytes. */
  cwnd: number;
  /** Slow-start threshold, bytes. */
  ssthresh = Infinity;
  #mss: number;
  /** W_max: the window (segments) before the last reduction. */
  #wMax = 0;
  /** K (seconds): time to climb back to W_max. */
  #k = 0;
  /** Start of the current congestion-avoidance epoch, ms; undefined until it begins. */
  #epochStart: number | undefined;
  /** W_est: the Reno-friendly estimate (segments). */
  #wEst = 0;
  #alpha = ALPHA;

  /** Starts at `initialWindow` bytes. */
  constructor(mss: number, initialWindow: number) {
    this.#mss = mss;
    this.cwnd = initialWindow;
  }

  /** Slow start below ssthresh, else RFC 9438 §4.2–4.4. */
  onAck(acked: number, now: number, srtt: number | undefined, cwndLimited: boolean): void {
    if (!cwndLimited) return;
    if (this.cwnd < this.ssthresh) {
      this.cwnd += Math.min(acked, 2 * this.#mss);
      return;
    }
    const mss = this.#mss;
    const cwndSeg = this.cwnd / mss;
    if (this.#epochStart === undefined) {
      // §4.2: a new epoch starts with the first ACK of congestion avoidance.
      this.#epochStart = now;
      this.#wEst = cwndSeg;
      if (this.#wMax <= cwndSeg) {
        this.#wMax = cwndSeg;
        this.#k = 0;
      } else {
        this.#k = Math.cbrt((this.#wMax - cwndSeg) / C);
      }
    }
    const t = (now - this.#epochStart) / 1000;
    const rtt = (srtt ?? 100) / 1000;
    const ackedSeg = acked / mss;
    // §4.3: the Reno-friendly estimate, α until it passes W_max, then 1.
    this.#wEst += this.#alpha * (ackedSeg / cwndSeg);
    if (this.#wEst >= this.#wMax) this.#alpha = 1;
    const cubicNow = this.#wCubic(t);
    if (cubicNow < this.#wEst) {
      this.cwnd = Math.max(this.cwnd, this.#wEst * mss);
      return;
    }
    // §4.4/4.5: grow toward W_cubic(t + RTT), at most 1.5× per RTT.
    const target = Math.min(Math.max(this.#wCubic(t + rtt), cwndSeg), 1.5 * cwndSeg);
    this.cwnd += ((target - cwndSeg) / cwndSeg) * ackedSeg * mss;
  }

  /** §4.6–4.7: multiplicative decrease with fast convergence. */
  onCongestionEvent(_now: number, _flightSize: number): void {
    this.#reduce();
    this.cwnd = this.ssthresh;
  }

  /** Recovery is over: congestion avoidance resumes from ssthresh. */
  onRecoveryEnd(): void {
    this.cwnd = Math.max(this.cwnd, this.ssthresh);
    this.#epochStart = undefined;
  }

  /** §4.8: as a congestion event, then the loss window of one segment. */
  onRetransmitTimeout(_now: number, _flightSize: number): void {
    this.#reduce();
    this.cwnd = this.#mss;
  }

  /** Every variable of the controller. */
  save(): unknown {
    return [
      this.cwnd,
      this.ssthresh,
      this.#wMax,
      this.#k,
      this.#epochStart,
      this.#wEst,
      this.#alpha,
    ];
  }

  /** Back to a saved state; the epoch restarts, as time has passed. */
  restore(state: unknown): void {
    const s = state as number[];
    [this.cwnd, this.ssthresh, this.#wMax, this.#k] = s;
    this.#epochStart = undefined;
    this.#wEst = s[5];
    this.#alpha = s[6];
  }

  /** Rescales to a new MSS. */
  setMss(mss: number): void {
    this.#mss = mss;
    this.cwnd = Math.max(this.cwnd, mss);
  }

  #wCubic(t: number): number {
    return C * (t - this.#k) ** 3 + this.#wMax;
  }

  #reduce(): void {
    const cwndSeg = this.cwnd / this.#mss;
    // §4.7 fast convergence: release bandwidth when the window keeps shrinking.
    this.#wMax = cwndSeg < this.#wMax ? (cwndSeg * (1 + BETA)) / 2 : cwndSeg;
    this.ssthresh = Math.max(Math.floor(this.cwnd * BETA), 2 * this.#mss);
    this.#k = Math.cbrt((this.#wMax * (1 - BETA)) / C);
    this.#epochStart = undefined;
    this.#alpha = ALPHA;
  }
}
