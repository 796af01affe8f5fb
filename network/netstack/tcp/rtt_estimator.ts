/**
 * The retransmission timer's estimator (RFC 6298): smoothed RTT and its
 * variation from samples, RTO = SRTT + max(G, 4·RTTVAR) clamped to
 * [minRto, maxRto], and exponential backoff on expiry (§5.5). Which samples
 * are valid is the caller's business (Karn's rule, RFC 6298 §3: no sample
 * from a retransmitted segment unless timestamps make it unambiguous).
 *
 * @module
 */

/** Clock granularity G of RFC 6298 §2: the injected clock counts milliseconds. */
const CLOCK_GRANULARITY = 1;
const ALPHA = 1 / 8;
const BETA = 1 / 4;

/** RFC 6298's state for one connection. */
export class RttEstimator {
  /** Smoothed RTT, undefined before the first sample. */
  srtt: number | undefined;
  /** RTT variation. */
  rttvar = 0;
  /** Timeouts in a row since the last valid sample. */
  backoff = 0;
  #rto: number;
  readonly #minRto: number;
  readonly #maxRto: number;

  /** Starts at `initialRto` (RFC 6298 §2.1: 1 s). */
  constructor(initialRto: number, minRto: number, maxRto: number) {
    this.#rto = initialRto;
    this.#minRto = minRto;
    this.#maxRto = maxRto;
  }

  /** Takes an RTT measurement (ms) and clears the backoff (RFC 6298 §2.2, §2.3, §5.7). */
  sample(rtt: number): void {
    const r = Math.max(0, rtt);
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - r);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * r;
    }
    this.#rto = this.#clamp(this.srtt + Math.max(CLOCK_GRANULARITY, 4 * this.rttvar));
    this.backoff = 0;
  }

  /** The timeout to arm now: the RTO doubled once per backoff, at most `maxRto`. */
  get rto(): number {
    return Math.min(this.#maxRto, this.#rto * 2 ** Math.min(this.backoff, 30));
  }

  /** The timer expired (RFC 6298 §5.5): double the next timeout. */
  backOff(): void {
    this.backoff++;
  }

  /** Sets the base RTO without a sample (RFC 6298 §5.7's 3 s after a lost SYN). */
  reset(rto: number): void {
    this.#rto = this.#clamp(rto);
    this.backoff = 0;
  }

  #clamp(rto: number): number {
    return Math.min(this.#maxRto, Math.max(this.#minRto, rto));
  }
}
