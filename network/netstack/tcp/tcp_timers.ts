/**
 * The timers of one connection, in one place: retransmission (RFC 6298 §5,
 * with RFC 6675 §5.1's handling of the scoreboard), persist (zero-window
 * probes, RFC 9293 §3.8.6.1), delayed ACK, keepalive (RFC 9293 §3.8.4),
 * and the end of TIME-WAIT or of an orphaned FIN-WAIT-2.
 *
 * @module
 */
import { ConnectionTimedOutError } from "../errors.ts";
import { output, sendAck, sendNew, sendProbe, sendSyn } from "./segment_output.ts";
import { remoteText } from "./segment_input.ts";
import { seqAdd, seqDiff } from "./seq.ts";
import { TcpState } from "./tcp_state.ts";
import type { TcpConnection } from "./tcp_connection.ts";

/** Runs every timer of `c` that is due at `now`. */
export function onTimer(c: TcpConnection, now: number): void {
  if (c.closeAt !== undefined && c.closeAt <= now) {
    c.closeAt = undefined;
    c.release(undefined, now);
    return;
  }
  if (c.delayedAckAt !== undefined && c.delayedAckAt <= now) {
    c.delayedAckAt = undefined;
    sendAck(c, now);
  }
  if (c.rtoAt !== undefined && c.rtoAt <= now) {
    c.rtoAt = undefined;
    retransmissionTimeout(c, now);
    if (c.state === TcpState.Closed) return;
  }
  if (c.persistAt !== undefined && c.persistAt <= now) {
    c.persistAt = undefined;
    persist(c, now);
    if (c.state === TcpState.Closed) return;
  }
  if (c.keepAliveAt !== undefined && c.keepAliveAt <= now) {
    c.keepAliveAt = undefined;
    keepAlive(c, now);
  }
}

function timedOut(c: TcpConnection, what: string, now: number): void {
  const why = c.softError ? `${what}; last error ${c.softError}` : what;
  c.fail(new ConnectionTimedOutError(remoteText(c), why), now);
}

// RFC 6298 §5.4–5.6 and RFC 5681 §3.1: back off, go back to one segment,
// consider everything un-SACKed lost (RFC 6675 §5.1), resend from the front.
function retransmissionTimeout(c: TcpConnection, now: number): void {
  const s = c.host.settings;
  c.stats.timeouts++;
  c.host.retransmitTimedOut?.(c, now);
  if (c.state === TcpState.SynSent || c.state === TcpState.SynReceived) {
    const limit = c.state === TcpState.SynSent || !c.passive ? s.synRetries : s.synAckRetries;
    if (++c.retries > limit) {
      if (c.passive) c.release(undefined, now);
      else timedOut(c, `no answer to SYN after ${limit} retries`, now);
      return;
    }
    c.synRetransmitted = true;
    c.rtt.backOff();
    c.stats.retransmits++;
    sendSyn(c, now);
    return;
  }
  const sb = c.scoreboard;
  if (sb.outstanding === 0) return;
  if (++c.retries > s.maxRetries) {
    timedOut(c, `${s.maxRetries} retransmissions unanswered`, now);
    return;
  }
  c.undoState = undefined;
  c.cc.onRetransmitTimeout(now, sb.outstanding);
  sb.markAllLost();
  c.recovery = "loss";
  c.recoveryPoint = c.sndNxt;
  c.dupAcks = 0;
  c.rtt.backOff();
  c.rttSeq = undefined;
  output(c, now);
  if (c.rtoAt === undefined && sb.outstanding > 0) {
    c.rtoAt = now + c.rtt.rto;
    c.armed(c.rtoAt);
  }
}

// The peer's window is closed (or too small to use) and nothing is in flight:
// send what fits, or a probe, and back off (Linux: RTO-based, up to maxRto).
function persist(c: TcpConnection, now: number): void {
  const s = c.host.settings;
  const available = seqDiff(c.sndEnd, c.sndNxt);
  const finPending = c.finQueued && !c.finSent;
  if (c.scoreboard.outstanding > 0 || (available <= 0 && !finPending)) return;
  const usable = seqDiff(seqAdd(c.sndUna, c.sndWnd), c.sndNxt);
  if (usable > 0 && available > 0) {
    const len = Math.min(available, usable, c.smss);
    sendNew(c, len, c.finQueued && len === available && usable > len, now);
    return;
  }
  if (usable > 0 && finPending) {
    sendNew(c, 0, true, now);
    return;
  }
  if (++c.unansweredProbes > s.maxRetries) {
    timedOut(c, "zero-window probes unanswered", now);
    return;
  }
  sendProbe(c, now);
  c.persistBackoff++;
  c.persistAt = now + Math.min(s.maxRto, c.rtt.rto * 2 ** Math.min(c.persistBackoff, 20));
  c.armed(c.persistAt);
}

// RFC 9293 §3.8.4: after `idle` without a segment from the peer, probe
// every `interval`; `count` unanswered probes end the connection.
function keepAlive(c: TcpConnection, now: number): void {
  if (!c.keepAlive) return;
  const k = c.host.settings.keepAlive;
  const synchronized = c.state === TcpState.Established || c.state === TcpState.CloseWait ||
    c.state === TcpState.FinWait1 || c.state === TcpState.FinWait2 ||
    c.state === TcpState.Closing || c.state === TcpState.LastAck;
  if (!synchronized) return;
  const idleFor = now - c.lastReceivedAt;
  if (idleFor < k.idle && c.unansweredProbes === 0) {
    c.keepAliveAt = c.lastReceivedAt + k.idle;
    c.armed(c.keepAliveAt);
    return;
  }
  if (c.unansweredProbes >= k.count) {
    timedOut(c, `${k.count} keepalive probes unanswered`, now);
    return;
  }
  // Data in flight has its own timer; probe only an idle connection (as Linux).
  if (c.scoreboard.outstanding === 0) {
    c.unansweredProbes++;
    sendProbe(c, now);
  }
  c.keepAliveAt = now + k.interval;
  c.armed(c.keepAliveAt);
}
