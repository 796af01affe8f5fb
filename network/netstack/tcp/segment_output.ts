/**
 * What a connection sends, and when: RFC 6675's NextSeg() (lost segments
 * first, then new data) under the congestion window and the peer's window,
 * Nagle's algorithm and sender-side silly-window avoidance (RFC 9293
 * §3.7.4, §3.8.6.2.1), the FIN after the last byte, pure ACKs with SACK
 * blocks, the SYN and SYN-ACK with their options, RSTs, and the window we
 * advertise with receiver-side silly-window avoidance (§3.8.6.2.2).
 *
 * Choices, documented as the task asks: Nagle is on by default (RFC 9293
 * SHOULD; `setNoDelay(true)` turns it off); delayed ACKs acknowledge at
 * least every second segment and otherwise wait at most 40 ms, and
 * out-of-order or hole-filling segments are acknowledged at once (RFC 5681
 * §4.2).
 *
 * @module
 */
import { buildTcpPacket } from "../ip_output.ts";
import { TCPFlags, type TCPOptions, type TCPSegmentFields } from "../wire/tcp.ts";
import { MAX_SACK_BLOCKS, MAX_UNSCALED_WINDOW } from "./tcp_config.ts";
import type { SentSegment } from "./scoreboard.ts";
import { seqAdd, seqDiff, seqGT } from "./seq.ts";
import { hasSendQueue, TcpState } from "./tcp_state.ts";
import type { TcpConnection } from "./tcp_connection.ts";

/** Our TSval now (RFC 7323 §5.4: a millisecond clock with a per-connection offset). */
export function tsNow(c: TcpConnection, now: number): number {
  return (Math.floor(now) + c.tsOffset) >>> 0;
}

/**
 * Sends everything that may go now: retransmissions of lost segments, new
 * data, the FIN; then a pure ACK if one is owed and nothing carried it.
 * Arms the retransmission and persist timers as RFC 6298 §5.1 and RFC 9293
 * §3.8.6.1 ask.
 */
export function output(c: TcpConnection, now: number): void {
  if (hasSendQueue(c.state)) sendQueued(c, now);
  if (c.ackNow && c.state !== TcpState.SynSent && c.state !== TcpState.Closed) sendAck(c, now);
}

function sendQueued(c: TcpConnection, now: number): void {
  const sb = c.scoreboard;
  // New data goes out until our FIN has: the FIN-sending states entered at
  // close() (FIN-WAIT-1, LAST-ACK, and CLOSING if the peer's FIN came first)
  // may still hold queued bytes.
  const mayAddData = !c.finSent;
  // Bounded: each pass sends one segment or stops.
  for (let guard = 0; guard < 100_000; guard++) {
    const room = c.cc.cwnd - sb.pipe;
    const lost = sb.nextLost();
    if (lost) {
      if (room < Math.min(c.smss, lost.len + (lost.fin ? 1 : 0))) {
        c.cwndBlocked = true;
        break;
      }
      retransmit(c, lost, now);
      continue;
    }
    if (!mayAddData) break;
    const available = seqDiff(c.sndEnd, c.sndNxt);
    const usable = seqDiff(seqAdd(c.sndUna, c.sndWnd), c.sndNxt);
    if (available > 0) {
      const len = Math.min(available, c.smss, usable);
      if (len <= 0) break;
      if (room < len) {
        c.cwndBlocked = true;
        break;
      }
      if (len < c.smss && len < available) {
        // Window-limited: only a sizeable piece of the largest window seen (sender SWS).
        if (len < c.maxSndWnd / 2) break;
      } else if (len < c.smss) {
        // All that is left: Nagle holds a small segment while data is unacknowledged.
        if (!c.noDelay && sb.outstanding > 0 && !c.finQueued) break;
      }
      const fin = c.finQueued && len === available && usable > len;
      sendNew(c, len, fin, now);
      continue;
    }
    if (c.finQueued && !c.finSent && usable > 0) {
      sendNew(c, 0, true, now);
      continue;
    }
    break;
  }
  const pending = seqDiff(c.sndEnd, c.sndNxt) > 0 || (c.finQueued && !c.finSent);
  if (sb.outstanding > 0) {
    c.persistAt = undefined;
    if (c.rtoAt === undefined) {
      c.rtoAt = now + c.rtt.rto;
      c.armed(c.rtoAt);
    }
  } else if (pending && mayAddData && c.persistAt === undefined) {
    // Nothing in flight and data waiting on the window: probe it (RFC 9293 §3.8.6.1).
    c.persistBackoff = 0;
    c.persistAt = now + c.rtt.rto;
    c.armed(c.persistAt);
  }
}

/** Sends `len` new bytes at SND.NXT (and the FIN when `fin`), entering them in the scoreboard. */
export function sendNew(c: TcpConnection, len: number, fin: boolean, now: number): void {
  const seq = c.sndNxt;
  let flags = TCPFlags.ACK;
  if (len > 0 && seqAdd(seq, len) === c.sndEnd) flags |= TCPFlags.PSH;
  if (fin) flags |= TCPFlags.FIN;
  transmit(c, seq, flags, len, now);
  c.scoreboard.push(seq, len, fin, now);
  c.sndNxt = seqAdd(seq, len + (fin ? 1 : 0));
  if (fin) c.finSent = true;
  if (!c.tsEnabled && c.rttSeq === undefined && len > 0) {
    c.rttSeq = c.sndNxt;
    c.rttStart = now;
  }
  if (c.rtoAt === undefined) {
    c.rtoAt = now + c.rtt.rto;
    c.armed(c.rtoAt);
  }
}

/** Retransmits one segment from the scoreboard (RFC 6675 §5 step 4.3, RFC 6298 §5.4). */
export function retransmit(c: TcpConnection, seg: SentSegment, now: number): void {
  let flags = TCPFlags.ACK;
  if (seg.fin) flags |= TCPFlags.FIN;
  if (c.undoState !== undefined && c.undoTsval === undefined && c.recovery === "fast") {
    // The first retransmission of a recovery: its TSval tells a spurious one (RFC 3522).
    c.undoTsval = tsNow(c, now);
  }
  transmit(c, seg.seq, flags, seg.len, now);
  c.scoreboard.noteRetransmitted(seg, now);
  c.stats.retransmits++;
  // Karn's rule (RFC 6298 §3): without timestamps, no sample spans a retransmission.
  if (!c.tsEnabled) c.rttSeq = undefined;
  if (c.rtoAt === undefined) {
    c.rtoAt = now + c.rtt.rto;
    c.armed(c.rtoAt);
  }
}

/** A pure ACK now, with SACK blocks when out-of-order data is held. */
export function sendAck(c: TcpConnection, now: number): void {
  transmit(c, c.sndNxt, TCPFlags.ACK, 0, now);
}

/**
 * A probe that makes the peer answer with an ACK: sequence number
 * SND.UNA − 1, no data (as Linux probes zero windows and keepalives; RFC
 * 9293 §3.8.4 allows the byte to be omitted).
 */
export function sendProbe(c: TcpConnection, now: number): void {
  transmit(c, seqAdd(c.sndUna, -1), TCPFlags.ACK, 0, now);
  c.stats.probes++;
}

/** A RST for an abort (RFC 9293 §3.10.5): <SEQ=SND.NXT><CTL=RST>. */
export function sendReset(c: TcpConnection, now: number): void {
  const fields: TCPSegmentFields = {
    srcPort: c.localPort,
    dstPort: c.remotePort,
    seq: c.sndNxt,
    ack: 0,
    flags: TCPFlags.RST,
    window: 0,
  };
  emit(c, fields, 0, now);
}

/** A RST in answer to a segment with an unacceptable ACK: <SEQ=SEG.ACK><CTL=RST>. */
export function sendResetFor(c: TcpConnection, ack: number, now: number): void {
  const fields: TCPSegmentFields = {
    srcPort: c.localPort,
    dstPort: c.remotePort,
    seq: ack,
    ack: 0,
    flags: TCPFlags.RST,
    window: 0,
  };
  emit(c, fields, 0, now);
}

/**
 * The SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with our options: MSS
 * always; window scale, SACK-permitted and timestamps when offered (in a
 * SYN-ACK only those the peer's SYN carried, RFC 7323 §1.3, RFC 2018 §2).
 */
export function sendSyn(c: TcpConnection, now: number): void {
  const s = c.host.settings;
  const synAck = c.state === TcpState.SynReceived;
  const options: TCPOptions = { mss: c.advMss };
  if (synAck) {
    if (c.wsEnabled) options.windowScale = c.rcvShift;
    if (c.sackEnabled) options.sackPermitted = true;
    if (c.tsEnabled) options.timestamps = { value: tsNow(c, now), echoReply: c.tsRecent };
  } else {
    if (s.windowScaling) options.windowScale = c.rcvShift;
    if (s.sack) options.sackPermitted = true;
    if (s.timestamps) options.timestamps = { value: tsNow(c, now), echoReply: 0 };
  }
  // The SYN's window is never scaled (RFC 7323 §2.2).
  const window = Math.min(MAX_UNSCALED_WINDOW, c.rcvWindowMax);
  if (synAck) c.rcvAdvEdge = seqAdd(c.rcvNxt, window);
  const fields: TCPSegmentFields = {
    srcPort: c.localPort,
    dstPort: c.remotePort,
    seq: c.iss,
    ack: synAck ? c.rcvNxt : 0,
    flags: synAck ? TCPFlags.SYN | TCPFlags.ACK : TCPFlags.SYN,
    window,
    options,
  };
  emit(c, fields, 0, now);
  if (synAck) c.lastAckSent = c.rcvNxt;
  c.rtoAt = now + c.rtt.rto;
  c.armed(c.rtoAt);
}

/**
 * The window field to advertise now, moving RCV.ADV's right edge: never to
 * the left (RFC 9293 §3.8.6.2.2 "SHOULD NOT shrink"), and to the right only
 * by at least min(buffer / 2, MSS) at a time (receiver SWS avoidance).
 */
export function advertiseWindow(c: TcpConnection): number {
  const free = Math.max(0, Math.min(c.rcvWindowMax, c.rcvCapacity - c.recvRing.length));
  let edge = seqAdd(c.rcvNxt, free);
  if (seqGT(edge, c.rcvAdvEdge)) {
    const gain = seqDiff(edge, c.rcvAdvEdge);
    if (gain < Math.min(c.rcvWindowMax / 2, c.advMss) && seqGT(c.rcvAdvEdge, c.rcvNxt)) {
      edge = c.rcvAdvEdge;
    }
  } else {
    edge = c.rcvAdvEdge;
  }
  const window = Math.max(0, seqDiff(edge, c.rcvNxt));
  const unit = 2 ** c.rcvShift;
  const field = Math.min(MAX_UNSCALED_WINDOW, Math.ceil(window / unit));
  const advertised = seqAdd(c.rcvNxt, field * unit);
  if (seqGT(advertised, c.rcvAdvEdge)) c.rcvAdvEdge = advertised;
  return field;
}

// One segment of a synchronized connection: ACK of RCV.NXT, our window, timestamps, SACK blocks.
function transmit(c: TcpConnection, seq: number, flags: number, len: number, now: number): void {
  const options: TCPOptions = {};
  if (c.tsEnabled) options.timestamps = { value: tsNow(c, now), echoReply: c.tsRecent };
  if (c.sackEnabled && c.reassembly.size > 0) {
    const max = c.tsEnabled ? MAX_SACK_BLOCKS : MAX_SACK_BLOCKS + 1;
    // Blocks go on segments they fit beside (pure ACKs, mostly).
    const room = Math.floor((c.mss - len - (c.tsEnabled ? 12 : 0) - 4) / 8);
    const blocks = c.reassembly.sackBlocks(Math.min(max, room));
    if (blocks.length > 0) options.sackBlocks = blocks;
  }
  const fields: TCPSegmentFields = {
    srcPort: c.localPort,
    dstPort: c.remotePort,
    seq,
    ack: c.rcvNxt,
    flags,
    window: advertiseWindow(c),
    options,
  };
  emit(c, fields, len, now);
  c.lastAckSent = c.rcvNxt;
  c.ackNow = false;
  c.segmentsSinceAck = 0;
  c.delayedAckAt = undefined;
}

function emit(c: TcpConnection, fields: TCPSegmentFields, len: number, _now: number): void {
  const offset = seqDiff(fields.seq, c.sndRingSeq);
  const fill = len > 0 ? (target: Uint8Array) => c.sendRing.peek(offset, target) : undefined;
  const packet = buildTcpPacket(c.local, c.remote, fields, len, fill, c.host.nextIpId());
  c.stats.segmentsSent++;
  c.host.emit(packet);
}
