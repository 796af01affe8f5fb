/**
 * What a congestion controller is to the rest of TCP: a congestion window
 * and a slow-start threshold in bytes, moved by ACKs, congestion events
 * (entering fast recovery) and retransmission timeouts. Loss detection and
 * recovery (which segment to send, RFC 6675's pipe) live with the sender;
 * a controller only sizes the window. Two are provided: CUBIC (RFC 9438,
 * the default, `cubic.ts`) and NewReno (RFC 5681/6582, `new_reno.ts`).
 *
 * @module
 */
import { type CongestionControlName, initialWindow } from "./tcp_config.ts";
import { Cubic } from "./cubic.ts";
import { NewReno } from "./new_reno.ts";

/** A congestion controller of one connection. */
export interface CongestionController {
  /** Which algorithm. */
  readonly name: CongestionControlName;
  /** Congestion window, bytes. */
  readonly cwnd: number;
  /** Slow-start threshold, bytes (Infinity until the first loss, RFC 5681 §3.1). */
  readonly ssthresh: number;
  /**
   * New data was cumulatively acknowledged outside loss recovery.
   * `cwndLimited` says whether the sender was using the window it had (RFC
   * 7661: an application-limited sender does not grow it). `srtt` is the
   * smoothed RTT in ms (undefined before the first sample).
   */
  onAck(acked: number, now: number, srtt: number | undefined, cwndLimited: boolean): void;
  /** A loss was detected by duplicate ACKs or SACK: fast recovery begins. */
  onCongestionEvent(now: number, flightSize: number): void;
  /** Fast recovery ended with a full ACK. */
  onRecoveryEnd(now: number): void;
  /** The retransmission timer expired (RFC 5681 §3.1: the loss window is one segment). */
  onRetransmitTimeout(now: number, flightSize: number): void;
  /** The sender's MSS changed (path MTU). */
  setMss(mss: number): void;
  /** The controller's state, to restore if a reduction proves spurious. */
  save(): unknown;
  /** Goes back to a state from {@link CongestionController.save} (RFC 4015 §3.1 "undo"). */
  restore(state: unknown): void;
}

/** Makes the named controller for a sender with this MSS, at the initial window of RFC 6928. */
export function makeCongestionController(
  name: CongestionControlName,
  mss: number,
): CongestionController {
  const iw = initialWindow(mss);
  return name === "newreno" ? new NewReno(mss, iw) : new Cubic(mss, iw);
}
