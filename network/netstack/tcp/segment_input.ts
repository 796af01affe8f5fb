/**
 * Segment arrival (RFC 9293 §3.10.7.3–4) for a connection in SYN-SENT or
 * a synchronized state, in the RFC's order: PAWS (RFC 7323 §5.3), the
 * sequence number, RST, SYN, ACK, data, FIN. Blind-attack defences follow
 * RFC 5961 as Linux applies them: a RST must carry exactly RCV.NXT (one
 * merely in the window earns a challenge ACK), any SYN on a synchronized
 * connection earns a challenge ACK, an ACK outside [SND.UNA − MAX.SND.WND,
 * SND.NXT] is dropped with an ACK in reply. Challenge ACKs share one
 * stack-wide rate limit (RFC 5961 §7); replies to out-of-window segments
 * without data are limited to one per 500 ms per connection, as Linux's
 * tcp_invalid_ratelimit, so two stacks cannot ping-pong ACKs.
 *
 * A RST in TIME-WAIT is ignored (RFC 1337's remedy for TIME-WAIT
 * assassination).
 *
 * @module
 */
import { formatIPAddress } from "../../netaddr/ip_address.ts";
import {
  ConnectionAbortedError,
  ConnectionRefusedError,
  ConnectionResetError,
  HostUnreachableError,
} from "../errors.ts";
import { TCPFlags, type TCPSegment } from "../wire/tcp.ts";
import { processAck } from "./ack_processing.ts";
import { output, sendAck, sendResetFor, sendSyn } from "./segment_output.ts";
import { seqAdd, seqDiff, seqGT, seqInRange, seqLE, seqLT } from "./seq.ts";
import { PAWS_IDLE_LIMIT, RTO_AFTER_SYN_LOSS } from "./tcp_config.ts";
import { negotiate } from "./syn_options.ts";
import { canReceiveData, TcpState } from "./tcp_state.ts";
import type { TcpConnection } from "./tcp_connection.ts";

/** ICMP errors that concern a connection. */
export type IcmpErrorKind =
  | "port-unreachable"
  | "protocol-unreachable"
  | "host-unreachable"
  | "admin-prohibited"
  | "time-exceeded"
  | "packet-too-big";

/** `ip:port` of the peer, for error messages. */
export function remoteText(c: TcpConnection): string {
  const ip = formatIPAddress(c.remote);
  return c.remote.length === 4 ? `${ip}:${c.remotePort}` : `[${ip}]:${c.remotePort}`;
}

const OUT_OF_WINDOW_ACK_INTERVAL = 500;
/** Full segments after which an ACK goes out even in the middle of a burst. */
const ACK_BURST_LIMIT = 32;

/** Processes one arriving segment. */
export function handleSegment(c: TcpConnection, seg: TCPSegment, now: number): void {
  if (c.state === TcpState.Closed) return;
  c.lastReceivedAt = now;
  c.unansweredProbes = 0;
  if (c.keepAlive && c.keepAliveAt !== undefined) {
    c.keepAliveAt = now + c.host.settings.keepAlive.idle;
  }
  if (c.state === TcpState.SynSent) {
    synSent(c, seg, now);
    return;
  }
  synchronized(c, seg, now);
}

function synSent(c: TcpConnection, seg: TCPSegment, now: number): void {
  const f = seg.flags;
  const hasAck = (f & TCPFlags.ACK) !== 0;
  if (hasAck && (seqLE(seg.ack, c.iss) || seqGT(seg.ack, c.sndNxt))) {
    if (!(f & TCPFlags.RST)) sendResetFor(c, seg.ack, now);
    c.stats.dropped++;
    return;
  }
  if (f & TCPFlags.RST) {
    // Only a RST that acknowledges our SYN is believed (RFC 9293 §3.10.7.3, RFC 5961 §3).
    if (hasAck) c.fail(new ConnectionRefusedError(remoteText(c)), now);
    return;
  }
  if (!(f & TCPFlags.SYN)) return;
  negotiate(c, seg, now);
  if (hasAck) {
    c.sndUna = seg.ack;
    c.sndWl2 = seg.ack;
    synRttSample(c, seg, now);
    c.rtoAt = undefined;
    c.retries = 0;
    c.state = TcpState.Established;
    startKeepAlive(c, now);
    // Data on a SYN-ACK is not taken; the peer will send it again.
    c.ackNow = true;
    c.events.connected();
    c.events.writable();
    output(c, now);
    return;
  }
  // Simultaneous open (RFC 9293 §3.5, figure 8): answer with SYN-ACK.
  c.state = TcpState.SynReceived;
  sendSyn(c, now);
}

function synchronized(c: TcpConnection, seg: TCPSegment, now: number): void {
  const f = seg.flags;
  const rst = (f & TCPFlags.RST) !== 0;
  let syn = (f & TCPFlags.SYN) !== 0;
  const ts = seg.options.timestamps;

  // RFC 7323 §5.3 R1: PAWS, for all but RSTs.
  if (
    c.tsEnabled && ts && !rst && seqLT(ts.value, c.tsRecent) &&
    now - c.tsRecentAt < PAWS_IDLE_LIMIT
  ) {
    c.stats.dropped++;
    outOfWindowAck(c, seg, now);
    return;
  }

  if (syn && !rst) {
    if (c.state === TcpState.SynReceived) {
      // Our peer's SYN again: our SYN-ACK was lost (Linux answers with the SYN-ACK).
      if (!(f & TCPFlags.ACK) && seg.seq === c.irs) {
        sendSyn(c, now);
        return;
      }
      // Simultaneous open: the peer's SYN-ACK acknowledging our SYN completes it.
      if ((f & TCPFlags.ACK) && seqAdd(seg.seq, 1) === c.rcvNxt && seg.ack === c.sndNxt) {
        syn = false;
      }
    }
    if (syn) {
      // RFC 5961 §4.2: any other SYN, whatever its sequence number, gets a challenge ACK.
      challengeAck(c, now);
      return;
    }
  }

  // RFC 9293 §3.10.7.4 "first, check sequence number".
  const rcvWnd = Math.max(0, seqDiff(c.rcvAdvEdge, c.rcvNxt));
  let seq = f & TCPFlags.SYN ? seqAdd(seg.seq, 1) : seg.seq;
  let payload = seg.payload;
  let fin = (f & TCPFlags.FIN) !== 0;
  const segLen = payload.length + (fin ? 1 : 0);
  if (!acceptable(seq, segLen, c.rcvNxt, rcvWnd)) {
    c.stats.dropped++;
    if (rst) return;
    if (c.state === TcpState.TimeWait && fin) {
      // A retransmitted FIN: acknowledge it and restart 2·MSL (RFC 9293 §3.10.7.4).
      c.closeAt = now + 2 * c.host.settings.msl;
      sendAck(c, now);
      return;
    }
    outOfWindowAck(c, seg, now);
    return;
  }

  // Second: RST (RFC 5961 §3.2).
  if (rst) {
    if (seg.seq !== c.rcvNxt) {
      challengeAck(c, now);
      return;
    }
    reset(c, now);
    return;
  }

  // Trim to the window: old bytes in front, bytes past the right edge behind.
  if (seqLT(seq, c.rcvNxt)) {
    const d = seqDiff(c.rcvNxt, seq);
    if (d >= payload.length) {
      if (d > payload.length) fin = false;
      payload = payload.subarray(payload.length);
    } else {
      payload = payload.subarray(d);
    }
    seq = c.rcvNxt;
  }
  const windowEnd = seqAdd(c.rcvNxt, rcvWnd);
  if (seqGT(seqAdd(seq, payload.length), windowEnd)) {
    payload = payload.subarray(0, Math.max(0, seqDiff(windowEnd, seq)));
    fin = false;
  }

  // RFC 7323 §4.3: TS.Recent from a segment that covers Last.ACK.sent.
  if (c.tsEnabled && ts && seqLE(seq, c.lastAckSent) && !seqLT(ts.value, c.tsRecent)) {
    c.tsRecent = ts.value;
    c.tsRecentAt = now;
  }

  // Fifth: the ACK field.
  if (!(f & TCPFlags.ACK)) return;
  if (c.state === TcpState.SynReceived) {
    if (!(seqLT(c.sndUna, seg.ack) && seqLE(seg.ack, c.sndNxt))) {
      sendResetFor(c, seg.ack, now);
      return;
    }
    c.sndUna = seqAdd(c.iss, 1);
    synRttSample(c, seg, now);
    c.rtoAt = undefined;
    c.retries = 0;
    c.state = c.finQueued ? TcpState.FinWait1 : TcpState.Established;
    c.sndWnd = seg.window * 2 ** c.sndShift;
    c.maxSndWnd = Math.max(c.maxSndWnd, c.sndWnd);
    c.sndWl1 = seg.seq;
    c.sndWl2 = seg.ack;
    startKeepAlive(c, now);
    if (c.passive) c.host.established(c);
    else c.events.connected();
    c.events.writable();
  }
  // RFC 5961 §5.2: the acceptable ACK range.
  if (seqGT(seg.ack, c.sndNxt)) {
    c.stats.dropped++;
    challengeAck(c, now);
    return;
  }
  if (seqLT(seg.ack, seqAdd(c.sndUna, -c.maxSndWnd))) {
    c.stats.dropped++;
    challengeAck(c, now);
    return;
  }
  const { finAcked } = processAck(c, seg, now);
  if (finAcked) {
    if (c.state === TcpState.FinWait1) {
      c.state = TcpState.FinWait2;
      c.armFinWait2(now);
    } else if (c.state === TcpState.Closing) {
      c.enterTimeWait(now);
      return;
    } else if (c.state === TcpState.LastAck) {
      c.release(undefined, now);
      return;
    }
  }
  if (c.state === TcpState.TimeWait) return;

  // Seventh: the data.
  if (payload.length > 0 && canReceiveData(c.state)) {
    if (c.readClosed) {
      // Data for an application that closed: RST, as Linux does.
      c.abort(now, new ConnectionAbortedError("data arrived after close"));
      return;
    }
    receiveData(c, seq, payload, now);
  }

  // Eighth: the FIN.
  if (fin && canReceiveData(c.state)) {
    const finSeq = seqAdd(seq, payload.length);
    if (finSeq === c.rcvNxt) receiveFin(c, now);
    else if (seqGT(finSeq, c.rcvNxt)) c.pendingFinSeq = finSeq;
  } else if (c.pendingFinSeq !== undefined && c.pendingFinSeq === c.rcvNxt) {
    receiveFin(c, now);
  }
  if (c.state !== TcpState.Closed) output(c, now);
}

// RFC 9293 §3.10.7.4's four cases of segment length and window.
function acceptable(seq: number, len: number, rcvNxt: number, wnd: number): boolean {
  if (len === 0) {
    return wnd === 0 ? seq === rcvNxt : seqInRange(seq, rcvNxt, seqAdd(rcvNxt, wnd));
  }
  if (wnd === 0) return false;
  const end = seqAdd(rcvNxt, wnd);
  return seqInRange(seq, rcvNxt, end) || seqInRange(seqAdd(seq, len - 1), rcvNxt, end);
}

function reset(c: TcpConnection, now: number): void {
  switch (c.state) {
    case TcpState.TimeWait:
      return;
    case TcpState.SynReceived:
      // From LISTEN: back to listening, which for us means the half-open connection is gone.
      if (c.passive) c.release(undefined, now);
      else c.fail(new ConnectionRefusedError(remoteText(c)), now);
      return;
    case TcpState.Closing:
    case TcpState.LastAck:
      c.release(undefined, now);
      return;
    default:
      c.fail(new ConnectionResetError(remoteText(c)), now);
  }
}

function receiveData(c: TcpConnection, seq: number, data: Uint8Array, now: number): void {
  const offset = seqDiff(seq, c.rcvNxt);
  // The window keeps data within the ring; this only guards the invariant.
  const room = c.recvRing.free - offset;
  if (room <= 0) return;
  const payload = data.length > room ? data.subarray(0, room) : data;
  if (offset === 0) {
    c.recvRing.writeAt(0, payload);
    c.recvRing.commit(payload.length);
    c.rcvNxt = seqAdd(c.rcvNxt, payload.length);
    if (c.reassembly.size > 0) {
      const extra = c.reassembly.advance(c.rcvNxt);
      if (extra > 0) {
        c.recvRing.commit(extra);
        c.rcvNxt = seqAdd(c.rcvNxt, extra);
      }
      // A segment that fills (part of) a hole is acknowledged at once (RFC 5681 §4.2).
      c.ackNow = true;
    } else if (++c.segmentsSinceAck >= ACK_BURST_LIMIT) {
      c.ackNow = true;
    } else if (c.segmentsSinceAck >= 2) {
      c.host.ackAfterBurst(c); // one ACK when this burst is handled (burst_acks.ts)
    } else if (c.delayedAckAt === undefined) {
      c.delayedAckAt = now + c.host.settings.delayedAck;
      c.armed(c.delayedAckAt);
    }
    c.rcvRtt.advanced(c.rcvNxt, c.rcvAdvEdge, now);
    c.events.readable();
    return;
  }
  // Out of order: keep it if the range list has room, and say so at once (RFC 5681 §4.2).
  if (c.reassembly.add(seq, seqAdd(seq, payload.length))) {
    c.recvRing.writeAt(offset, payload);
  } else {
    c.stats.dropped++;
  }
  c.ackNow = true;
}

function receiveFin(c: TcpConnection, now: number): void {
  c.rcvNxt = seqAdd(c.rcvNxt, 1);
  c.pendingFinSeq = undefined;
  c.finReceived = true;
  c.ackNow = true;
  switch (c.state) {
    case TcpState.SynReceived:
    case TcpState.Established:
      c.state = TcpState.CloseWait;
      break;
    case TcpState.FinWait1:
      c.state = TcpState.Closing;
      break;
    case TcpState.FinWait2:
      output(c, now);
      c.enterTimeWait(now);
      return;
  }
  c.events.readable();
}

function synRttSample(c: TcpConnection, seg: TCPSegment, now: number): void {
  const ts = seg.options.timestamps;
  if (c.tsEnabled && ts && ts.echoReply !== 0) {
    const sample = seqDiff((Math.floor(now) + c.tsOffset) >>> 0, ts.echoReply);
    if (sample >= 0 && sample <= c.host.settings.maxRto) {
      c.rtt.sample(sample);
      return;
    }
  }
  if (!c.synRetransmitted) c.rtt.sample(now - c.synSentAt);
  else c.rtt.reset(RTO_AFTER_SYN_LOSS);
}

function startKeepAlive(c: TcpConnection, now: number): void {
  if (!c.keepAlive) return;
  c.keepAliveAt = now + c.host.settings.keepAlive.idle;
  c.armed(c.keepAliveAt);
}

function challengeAck(c: TcpConnection, now: number): void {
  if (!c.host.challengeAckAllowed(now)) return;
  c.stats.challengeAcks++;
  sendAck(c, now);
}

// An unacceptable segment gets an ACK (RFC 9293 §3.10.7.4), at most one per
// 500 ms per connection when it carries no data (Linux's tcp_oow_rate_limited).
function outOfWindowAck(c: TcpConnection, seg: TCPSegment, now: number): void {
  const pure = seg.payload.length === 0 || (seg.flags & TCPFlags.SYN) !== 0;
  if (pure) {
    if (now - c.lastOutOfWindowAckAt < OUT_OF_WINDOW_ACK_INTERVAL) return;
    c.lastOutOfWindowAckAt = now;
  }
  sendAck(c, now);
}

/**
 * An ICMP error quoting our segment with sequence number `seq` (RFC 5927
 * §4.1: believed only if `seq` is in flight). In SYN-SENT and SYN-RECEIVED
 * a destination-unreachable aborts the connection (Linux's tcp_v4_err);
 * later, errors are soft (RFC 1122 §4.2.3.9) and only remembered.
 * "Packet too big" is not acted on: the tunnel MTU is the path MTU.
 */
export function handleIcmpError(
  c: TcpConnection,
  kind: IcmpErrorKind,
  seq: number,
  now: number,
  _mtu?: number,
): void {
  if (kind === "packet-too-big" || kind === "time-exceeded") return;
  const connecting = c.state === TcpState.SynSent ||
    (c.state === TcpState.SynReceived && !c.passive);
  if (connecting) {
    if (seq !== c.iss) return;
    const error = kind === "port-unreachable" || kind === "protocol-unreachable"
      ? new ConnectionRefusedError(remoteText(c), `refused (ICMP ${kind})`)
      : new HostUnreachableError(remoteText(c), `ICMP ${kind}`);
    c.fail(error, now);
    return;
  }
  if (!seqInRange(seq, c.sndUna, c.sndNxt)) return;
  c.softError = `ICMP ${kind}`;
}
