/**
 * The user calls of RFC 9293 §3.10 on one connection: OPEN (active and
 * passive), SEND, RECEIVE, CLOSE (both ways or the write side) and the
 * options an application sets (Nagle, keepalive). ABORT lives with the
 * connection's transitions. `socket/tcp_conn.ts` turns these into the
 * promise-and-stream API.
 *
 * @module
 */
import type { TCPSegment } from "../wire/tcp.ts";
import { output, sendSyn } from "./segment_output.ts";
import { seqAdd } from "./seq.ts";
import { negotiate } from "./syn_options.ts";
import { canSendData, TcpState } from "./tcp_state.ts";
import type { TcpConnection } from "./tcp_connection.ts";

/**
 * The shortest receive-tuning period: below ~10 ms, reads arrive in bursts
 * (whole buffers at a time) and twice one burst is no measure of a rate.
 */
const RECEIVE_TUNING_MIN_INTERVAL = 10;
/**
 * The window a short path may always grow to: the payload Deno's fixed
 * 208 KiB UDP receive buffer holds, roughly, when our threads are late. In
 * `./dev bench mesh` (loopback, 2 cores) a window sized per 10 ms let
 * tailscaled overrun it: 250–450 datagrams dropped per 32 MiB, and its
 * congestion window cut each time.
 */
const SHORT_PATH_WINDOW = 192 * 1024;
/**
 * A drained receive buffer this small stays allocated: an application that
 * reads each segment as it comes would otherwise free and allocate it per
 * segment. Larger ones are freed, so an idle connection holds at most this.
 */
const KEPT_RECEIVE_ALLOCATION = 16 * 1024;

/** Active OPEN (RFC 9293 §3.10.1): the ISS, then the SYN. */
export function openActive(c: TcpConnection, iss: number, tsOffset: number, now: number): void {
  startSendSequence(c, iss, tsOffset);
  c.state = TcpState.SynSent;
  c.synSentAt = now;
  sendSyn(c, now);
}

/** Passive OPEN from a listener's SYN (RFC 9293 §3.10.7.2): answer with SYN-ACK. */
export function openPassive(
  c: TcpConnection,
  syn: TCPSegment,
  iss: number,
  tsOffset: number,
  now: number,
): void {
  startSendSequence(c, iss, tsOffset);
  c.state = TcpState.SynReceived;
  negotiate(c, syn, now);
  c.synSentAt = now;
  sendSyn(c, now);
}

function startSendSequence(c: TcpConnection, iss: number, tsOffset: number): void {
  c.iss = iss;
  c.tsOffset = tsOffset;
  c.sndUna = iss;
  c.sndNxt = seqAdd(iss, 1);
  c.sndRingSeq = c.sndNxt;
}

/**
 * RECEIVE: copies received bytes into `out`, at most its length; returns
 * the count (0 when none are ready). Reading may open the window enough to
 * tell the peer at once.
 */
export function receive(c: TcpConnection, out: Uint8Array, now: number): number {
  const n = c.recvRing.read(out);
  if (n === 0) return 0;
  tuneReceiveWindow(c, n, now);
  if (c.recvRing.length === 0 && c.reassembly.size === 0) {
    // After the peer's FIN nothing more arrives: the last read frees it all (a
    // connection read to the end in TIME-WAIT would otherwise hold it for 2·MSL).
    c.recvRing.release(c.finReceived ? 0 : KEPT_RECEIVE_ALLOCATION);
  }
  if (windowUpdateDue(c)) {
    c.ackNow = true;
    output(c, now);
  }
  return n;
}

/** SEND: queues as much of `data` as fits and sends what may go; returns the bytes taken. */
export function send(c: TcpConnection, data: Uint8Array, now: number): number {
  if (!c.canWrite) return 0;
  const n = c.sendRing.append(data);
  if (n > 0 && canSendData(c.state)) output(c, now);
  return n;
}

/**
 * CLOSE of the write side (RFC 9293 §3.10.4): a FIN follows the queued
 * data. In SYN-SENT nothing was sent, so the connection simply ends.
 */
export function closeWrite(c: TcpConnection, now: number): void {
  if (c.finQueued || c.error) return;
  switch (c.state) {
    case TcpState.SynSent:
      c.release(undefined, now);
      return;
    case TcpState.SynReceived:
    case TcpState.Established:
      c.finQueued = true;
      c.state = TcpState.FinWait1;
      break;
    case TcpState.CloseWait:
      c.finQueued = true;
      c.state = TcpState.LastAck;
      break;
    default:
      return;
  }
  output(c, now);
}

/**
 * CLOSE both ways. Unread data makes it an abort with RST (RFC 2525 §2.17,
 * as Linux does); otherwise the FIN goes after the queued data and the
 * connection finishes in the background.
 */
export function close(c: TcpConnection, now: number): void {
  c.readClosed = true;
  if (c.state === TcpState.Closed || c.state === TcpState.TimeWait) return;
  if (c.recvRing.length > 0 || c.reassembly.size > 0) {
    c.abort(now, undefined);
    return;
  }
  closeWrite(c, now);
  if (c.state === TcpState.FinWait2) c.armFinWait2(now);
}

/** Turns Nagle's algorithm off (true) or on; held data may go at once. */
export function setNoDelay(c: TcpConnection, noDelay: boolean, now: number): void {
  c.noDelay = noDelay;
  if (noDelay && canSendData(c.state)) output(c, now);
}

/** Turns keepalive on or off. */
export function setKeepAlive(c: TcpConnection, on: boolean, now: number): void {
  c.keepAlive = on;
  if (!on) {
    c.keepAliveAt = undefined;
    return;
  }
  if (
    c.keepAliveAt === undefined && c.state !== TcpState.SynSent &&
    c.state !== TcpState.SynReceived && c.state !== TcpState.TimeWait &&
    c.state !== TcpState.Closed
  ) {
    c.keepAliveAt = now + c.host.settings.keepAlive.idle;
    c.armed(c.keepAliveAt);
  }
}

// Receive-buffer tuning (dynamic right-sizing, as Linux's
// tcp_rcv_space_adjust): once per RTT (at least RECEIVE_TUNING_MIN_INTERVAL),
// let the window grow to twice what the application read in that time, so it
// stays ahead of a sender in slow start but never invites a burst far larger
// than the application drains (which would only overflow the socket below
// us). On a short path the 10 ms floor would invite 20 ms of data: there the
// growth stops at twice the read rate times the path's minimum RTT
// (receive_rtt.ts), or SHORT_PATH_WINDOW if that is more.
function tuneReceiveWindow(c: TcpConnection, n: number, now: number): void {
  c.rcvCopied += n;
  const elapsed = now - c.rcvTuneAt;
  if (elapsed < Math.max(c.rtt.srtt ?? 100, RECEIVE_TUNING_MIN_INTERVAL)) return;
  let wanted = 2 * c.rcvCopied;
  const minRtt = c.rcvRtt.minimum;
  if (minRtt !== undefined && minRtt < elapsed) {
    wanted = Math.min(wanted, Math.max(SHORT_PATH_WINDOW, 2 * c.rcvCopied * minRtt / elapsed));
  }
  if (wanted > c.rcvClamp) c.rcvClamp = Math.min(c.rcvCapacity, Math.floor(wanted));
  c.rcvCopied = 0;
  c.rcvTuneAt = now;
}

// After a read: does the window now open far enough to tell the peer?
// (Linux's rule: the advertised window had fallen to half or less of the
// ceiling and would at least double.)
function windowUpdateDue(c: TcpConnection): boolean {
  if (
    c.state !== TcpState.Established && c.state !== TcpState.FinWait1 &&
    c.state !== TcpState.FinWait2
  ) return false;
  const advertised = Math.max(0, (c.rcvAdvEdge - c.rcvNxt) | 0);
  const max = c.rcvWindowMax;
  const possible = Math.min(max, c.rcvCapacity - c.recvRing.length);
  return advertised * 2 <= max && possible >= 2 * advertised && possible - advertised >= c.advMss;
}
