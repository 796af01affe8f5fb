/**
 * What the two SYNs settle (RFC 7323 §1.3, §2.2, §3.2; RFC 2018 §2; RFC
 * 9293 §3.7.1): window scaling, timestamps and SACK only when both sides
 * offered them; the send MSS from the peer's option (536 for IPv4 or 1220
 * for IPv6 without one) within our MTU; and the receive side's initial
 * sequence number.
 *
 * @module
 */
import type { TCPSegment } from "../wire/tcp.ts";
import { makeCongestionController } from "./congestion_control.ts";
import { seqAdd } from "./seq.ts";
import { DEFAULT_MSS_IPV4, DEFAULT_MSS_IPV6, MAX_UNSCALED_WINDOW } from "./tcp_config.ts";
import type { TcpConnection } from "./tcp_connection.ts";

/** Takes the peer's SYN (or SYN-ACK): its sequence number, window and options. */
export function negotiate(c: TcpConnection, syn: TCPSegment, now: number): void {
  const s = c.host.settings;
  const o = syn.options;
  c.irs = syn.seq;
  c.rcvNxt = seqAdd(syn.seq, 1);
  c.lastAckSent = c.rcvNxt;
  c.wsEnabled = s.windowScaling && o.windowScale !== undefined;
  if (c.wsEnabled) {
    c.sndShift = Math.min(o.windowScale!, 14);
  } else {
    c.sndShift = 0;
    c.rcvShift = 0;
  }
  // What our SYN offered (or our SYN-ACK will): an unscaled window.
  c.rcvAdvEdge = seqAdd(c.rcvNxt, Math.min(MAX_UNSCALED_WINDOW, c.rcvWindowMax));
  c.sackEnabled = s.sack && o.sackPermitted === true;
  c.tsEnabled = s.timestamps && o.timestamps !== undefined;
  if (o.timestamps && c.tsEnabled) {
    c.tsRecent = o.timestamps.value;
    c.tsRecentAt = now;
  }
  const peerMss = o.mss ?? (c.local.length === 4 ? DEFAULT_MSS_IPV4 : DEFAULT_MSS_IPV6);
  c.mss = Math.max(64, Math.min(peerMss, c.advMss));
  c.cc = makeCongestionController(s.congestionControl, c.smss);
  // The window of a SYN is never scaled (RFC 7323 §2.2).
  c.sndWnd = syn.window;
  c.maxSndWnd = syn.window;
  c.sndWl1 = syn.seq;
}
