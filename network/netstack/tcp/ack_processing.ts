/**
 * The acknowledgment field of an arriving segment in a synchronized state
 * (RFC 9293 §3.10.7.4, "fifth, check the ACK field"): the send window
 * update, the cumulative ACK, RTT measurement (RFC 6298, RFC 7323 §4),
 * SACK (RFC 2018), duplicate ACKs and loss recovery: fast retransmit and
 * fast recovery (RFC 5681 §3.2) with SACK-based recovery (RFC 6675) when
 * SACK was negotiated, NewReno's partial ACKs (RFC 6582) when it was not.
 *
 * The caller has validated the ACK (RFC 5961 §5.2) before calling.
 *
 * @module
 */
import type { TCPSegment } from "../wire/tcp.ts";
import { TCPFlags } from "../wire/tcp.ts";
import { DUP_THRESH } from "./tcp_config.ts";
import { seqAdd, seqDiff, seqGE, seqGT, seqLE, seqLT } from "./seq.ts";
import type { TcpConnection } from "./tcp_connection.ts";
import { tsNow } from "./segment_output.ts";

/** What {@link processAck} found. */
export interface AckOutcome {
  /** Our FIN is now acknowledged. */
  finAcked: boolean;
}

/** Applies the ACK of `seg` to `c`. */
export function processAck(c: TcpConnection, seg: TCPSegment, now: number): AckOutcome {
  const ack = seg.ack;
  const sb = c.scoreboard;
  const windowChanged = updateSendWindow(c, seg);
  const blocks = c.sackEnabled ? seg.options.sackBlocks : undefined;
  let finAcked = false;

  if (seqGT(ack, c.sndUna)) {
    const flightBefore = sb.outstanding;
    const sackedBefore = sb.sackedBytes;
    const result = sb.ackTo(ack);
    if (result.dataAcked > 0) {
      c.sendRing.consume(result.dataAcked);
      c.sndRingSeq = seqAdd(c.sndRingSeq, result.dataAcked);
    }
    c.sndUna = ack;
    finAcked = result.finAcked;
    takeRttSample(c, seg, now, result.retransmitted);
    c.retries = 0;
    if (blocks) sb.applySack(blocks, c.sndUna, c.sndNxt);
    const cwndLimited = c.cwndBlocked || flightBefore * 2 >= c.cc.cwnd;
    c.cwndBlocked = false;
    if (c.undoState !== undefined && seqGT(ack, c.undoSeq)) {
      undoIfSpurious(c, seg, Math.max(c.dupAcks, Math.ceil(sackedBefore / c.smss)));
    }
    if (c.recovery === "fast") {
      if (seqGE(ack, c.recoveryPoint)) {
        // Full ACK (RFC 6582 §3.2 step 3, RFC 6675 §5): recovery is over.
        c.recovery = "open";
        sb.clearDuplicateAckCredit();
        c.cc.onRecoveryEnd(now);
      } else if (!c.sackEnabled) {
        // Partial ACK (RFC 6582 §3.2 step 4): the next hole is lost too.
        sb.markHeadLost();
      }
    } else {
      if (c.recovery === "loss" && seqGE(ack, c.recoveryPoint)) c.recovery = "open";
      c.cc.onAck(result.acked, now, c.rtt.srtt, cwndLimited);
    }
    c.dupAcks = 0;
    // RFC 6298 §5.2, §5.3.
    c.rtoAt = sb.outstanding > 0 ? now + c.rtt.rto : undefined;
    if (c.rtoAt !== undefined) c.armed(c.rtoAt);
    if (result.dataAcked > 0) c.events.writable();
  } else if (ack === c.sndUna) {
    const newSack = blocks ? sb.applySack(blocks, c.sndUna, c.sndNxt) : false;
    // RFC 5681 §2's duplicate ACK: data outstanding, no data, no SYN/FIN, same window.
    const duplicate = sb.outstanding > 0 && seg.payload.length === 0 &&
      (seg.flags & (TCPFlags.SYN | TCPFlags.FIN)) === 0 && !windowChanged;
    if (duplicate || newSack) {
      c.dupAcks++;
      if (!c.sackEnabled) sb.noteDuplicateAck(c.smss);
      if (c.recovery === "open" && c.dupAcks >= dupThreshold(c)) enterFastRecovery(c, now);
    }
  }
  if (c.sackEnabled) {
    sb.markLostBySack(c.smss, dupThreshold(c));
    // RFC 6675 §5: IsLost(HighACK + 1) starts recovery without waiting for three duplicates.
    if (c.recovery === "open" && sb.headIsLost()) enterFastRecovery(c, now);
  }
  if (windowChanged && c.sndWnd > 0) c.persistAt = undefined;
  return { finAcked };
}

/** Fast retransmit (RFC 5681 §3.2 steps 2–3, RFC 6675 §5 step 4). */
export function enterFastRecovery(c: TcpConnection, now: number): void {
  c.recovery = "fast";
  c.recoveryPoint = c.sndNxt;
  c.stats.fastRecoveries++;
  c.undoState = c.tsEnabled ? c.cc.save() : undefined;
  c.undoTsval = undefined;
  c.undoSeq = c.sndUna;
  c.cc.onCongestionEvent(now, c.scoreboard.outstanding);
  c.scoreboard.markHeadLost();
}

// The threshold in force: raised by observed reordering, but never so far
// that a window of data cannot produce enough duplicates to trigger fast
// retransmit (which would leave every loss to the RTO).
function dupThreshold(c: TcpConnection): number {
  const flight = Math.floor(c.scoreboard.outstanding / c.smss);
  return Math.min(c.dupThresh, Math.max(DUP_THRESH, flight - 1));
}

/**
 * The most the duplicate-ACK threshold grows to. Linux allows 300 but pairs
 * it with RACK's time-based detection; without RACK a high threshold turns
 * losses into timeouts (measured on the link simulator: 16 keeps both the
 * spurious retransmissions and the timeouts low).
 */
const MAX_DUP_THRESH = 16;

// Eifel detection (RFC 3522) and response (RFC 4015): the ACK covering the
// first retransmission echoes a TSval older than that retransmission, so the
// original arrived and the "loss" was reordering. Undo the reduction, forget
// the loss marks, and wait for more duplicates next time (as Linux raises
// tp->reordering).
function undoIfSpurious(c: TcpConnection, seg: TCPSegment, reordering: number): void {
  const ts = seg.options.timestamps;
  const undoTsval = c.undoTsval;
  const state = c.undoState;
  c.undoState = undefined;
  c.undoTsval = undefined;
  if (c.recovery !== "fast" || !ts || undoTsval === undefined) return;
  if (!seqLT(ts.echoReply, undoTsval)) return;
  c.cc.restore(state);
  c.recovery = "open";
  c.scoreboard.clearLost();
  c.stats.spuriousRecoveries++;
  c.dupThresh = Math.min(MAX_DUP_THRESH, Math.max(c.dupThresh, reordering + 1));
}

// RFC 9293 §3.10.7.4: take the window from the newest segment only (SND.WL1/WL2).
function updateSendWindow(c: TcpConnection, seg: TCPSegment): boolean {
  if (
    !(seqLT(c.sndWl1, seg.seq) || (c.sndWl1 === seg.seq && seqLE(c.sndWl2, seg.ack)))
  ) return false;
  const window = seg.window * 2 ** c.sndShift;
  const changed = window !== c.sndWnd;
  c.sndWnd = window;
  c.sndWl1 = seg.seq;
  c.sndWl2 = seg.ack;
  if (window > c.maxSndWnd) c.maxSndWnd = window;
  return changed;
}

// One RTT sample per flight (RFC 7323 App. G allows it): from TSecr when
// timestamps are on (no retransmission ambiguity), else from the timed
// segment unless it was retransmitted (Karn's rule, RFC 6298 §3).
function takeRttSample(
  c: TcpConnection,
  seg: TCPSegment,
  now: number,
  retransmitted: boolean,
): void {
  const ts = seg.options.timestamps;
  if (c.tsEnabled) {
    if (!ts || ts.echoReply === 0) return;
    if (c.rttSeq !== undefined && seqLT(seg.ack, c.rttSeq)) return;
    const sample = seqDiff(tsNow(c, now), ts.echoReply);
    if (sample >= 0 && sample <= c.host.settings.maxRto) c.rtt.sample(sample);
    c.rttSeq = c.sndNxt;
    return;
  }
  if (c.rttSeq === undefined || seqLT(seg.ack, c.rttSeq)) return;
  if (!retransmitted) c.rtt.sample(now - c.rttStart);
  c.rttSeq = undefined;
}
