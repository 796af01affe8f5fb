/**
 * The stack's TCP side: connections by 4-tuple, listeners by port, the
 * bounds on half-open connections and TIME-WAIT, and the answers for
 * segments no connection owns (RFC 9293 §3.10.7.1–2): a RST for a closed
 * port, a new half-open connection for a SYN to a listener with room, a RST
 * for an ACK to a listener. A SYN that finds its 4-tuple in TIME-WAIT opens
 * a new connection when RFC 6191 allows it (newer timestamp, or a higher
 * sequence number).
 *
 * SYN floods: there are no SYN cookies; half-open connections are bounded
 * per listener (its backlog) and over the stack (`maxHalfOpen`), hold no
 * buffers until data arrives, and expire after the SYN-ACK retries. SYNs
 * past the bounds are dropped, as Linux drops them without cookies.
 *
 * @module
 */
import type { AddrPort } from "../netaddr/addr_port.ts";
import { buildTcpPacket } from "./ip_output.ts";
import type { IsnGenerator } from "./tcp/isn.ts";
import { seqAdd, seqGT } from "./tcp/seq.ts";
import type { TcpSettings } from "./tcp/tcp_config.ts";
import { TcpConnection, type TcpConnectionOptions, type TcpHost } from "./tcp/tcp_connection.ts";
import { TcpState } from "./tcp/tcp_state.ts";
import { openActive, openPassive } from "./tcp/user_calls.ts";
import { AddressInUseError, StackLimitError } from "./errors.ts";
import { flowKey } from "./flow_key.ts";
import type { NetStackLimits } from "./limits.ts";
import type { PortAllocator } from "./port_allocator.ts";
import type { RateLimiter } from "./rate_limiter.ts";
import { TcpConn } from "./socket/tcp_conn.ts";
import { type ListenerOwner, TcpListener } from "./socket/tcp_listener.ts";
import type { TimerQueue } from "./timer_queue.ts";
import { TCPFlags, type TCPSegment } from "./wire/tcp.ts";
import { BurstAcks } from "./tcp/burst_acks.ts";
import type { QuotedTcpError } from "./icmp_errors.ts";

/** What the TCP table needs from its stack. */
export interface TcpTableDeps {
  /** TCP settings. */
  settings: TcpSettings;
  /** Limits. */
  limits: NetStackLimits;
  /** Tunnel MTU. */
  mtu: number;
  /** Sends a packet. */
  emit(packet: Uint8Array): void;
  /** Monotonic time, ms. */
  now(): number;
  /** The next IPv4 identification. */
  nextIpId(): number;
  /** ISNs. */
  isn: IsnGenerator;
  /** Timers of all connections. */
  timers: TimerQueue<TcpConnection>;
  /** Called after a timer was filed, so the clock can be armed. */
  rearm(): void;
  /** Ephemeral ports. */
  ports: PortAllocator;
  /** Challenge-ACK limit. */
  challengeAcks: RateLimiter;
  /** Runs a callback once the I/O ready now is handled (`Clock.defer`). */
  defer(callback: () => void): void;
  /** Told when a connection's retransmission timer fires (the path may be dead). */
  onRetransmitTimeout?: (remote: Uint8Array) => void;
}

/** Counters of the TCP side. */
export interface TcpTableStats {
  /** RSTs sent for segments no connection owned. */
  resetsSent: number;
  /** SYNs dropped for want of room (backlog, half-open bound, connection bound). */
  synsDropped: number;
  /** Connections opened by a listener. */
  accepted: number;
  /** Connections opened by connect. */
  connected: number;
  /** TIME-WAIT entries dropped early to stay within the bound. */
  timeWaitEvicted: number;
}

/** Connections and listeners of one stack. */
export class TcpTable implements TcpHost, ListenerOwner {
  /** Counters. */
  readonly stats: TcpTableStats = {
    resetsSent: 0,
    synsDropped: 0,
    accepted: 0,
    connected: 0,
    timeWaitEvicted: 0,
  };
  readonly settings: TcpSettings;
  readonly mtu: number;
  readonly #deps: TcpTableDeps;
  readonly #connections = new Map<string, TcpConnection>();
  readonly #listeners = new Map<number, TcpListener>();
  readonly #portUse = new Map<number, number>();
  readonly #halfOpen = new Set<TcpConnection>();
  #timeWait: TcpConnection[] = [];
  #timeWaitCount = 0;
  readonly #burstAcks: BurstAcks;

  /** An empty table. */
  constructor(deps: TcpTableDeps) {
    this.#deps = deps;
    this.#burstAcks = new BurstAcks(deps.defer, deps.now);
    this.settings = deps.settings;
    this.mtu = deps.mtu;
  }

  /** Connections in any state, TIME-WAIT included. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Connections in SYN-RECEIVED from a listener. */
  get halfOpenCount(): number {
    return this.#halfOpen.size;
  }

  /** Connections in TIME-WAIT. */
  get timeWaitCount(): number {
    return this.#timeWaitCount;
  }

  /** Listening ports. */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Bytes held in connection buffers (allocated). */
  get bufferedBytes(): number {
    let n = 0;
    for (const c of this.#connections.values()) n += c.sendRing.allocated + c.recvRing.allocated;
    return n;
  }

  /** The connections, for inspection. */
  connections(): IterableIterator<TcpConnection> {
    return this.#connections.values();
  }

  /** One arriving segment from `src` to our `dst` (checksum verified by the caller). */
  input(src: Uint8Array, dst: Uint8Array, seg: TCPSegment, now: number): void {
    if (seg.srcPort === 0 || seg.dstPort === 0) return;
    const key = flowKey(dst, seg.dstPort, src, seg.srcPort);
    const f = seg.flags;
    const bareSyn = (f & (TCPFlags.SYN | TCPFlags.ACK | TCPFlags.RST | TCPFlags.FIN)) ===
      TCPFlags.SYN;
    const conn = this.#connections.get(key);
    if (conn) {
      if (
        !(conn.state === TcpState.TimeWait && bareSyn && this.#listeners.has(seg.dstPort) &&
          timeWaitReusable(conn, seg))
      ) {
        conn.handleSegment(seg, now);
        return;
      }
      conn.release(undefined, now);
    }
    if (f & TCPFlags.RST) return;
    const listener = this.#listeners.get(seg.dstPort);
    if (listener && bareSyn) {
      this.#acceptSyn(listener, src, dst, seg, key, now);
      return;
    }
    if (listener && !(f & TCPFlags.ACK)) return;
    this.#sendResetFor(src, dst, seg);
  }

  /** An ICMP error about one of our segments. */
  icmpError(error: QuotedTcpError, now: number): void {
    const key = flowKey(error.local, error.localPort, error.remote, error.remotePort);
    this.#connections.get(key)?.handleIcmpError(error.kind, error.seq, now, error.mtu);
  }

  /**
   * Fails our connect from `local`:`localPort` to `remote`:`remotePort`
   * with `error`, if it is still in SYN-SENT (the peer forbade it); false
   * when no such connect is pending. No RST goes out: the peer dropped the
   * SYN, so there is nothing to reset.
   */
  failPendingConnect(
    local: Uint8Array,
    localPort: number,
    remote: Uint8Array,
    remotePort: number,
    error: Error,
    now: number,
  ): boolean {
    const conn = this.#connections.get(flowKey(local, localPort, remote, remotePort));
    if (!conn || conn.passive || conn.state !== TcpState.SynSent) return false;
    conn.fail(error, now);
    return true;
  }

  /**
   * Aborts every connection whose remote address `gone` picks (the peer left
   * the netmap): a RST is sent where one is due, and each socket fails with
   * the error `reason` makes. Returns how many.
   */
  abortWhere(
    gone: (remote: Uint8Array) => boolean,
    reason: (conn: TcpConnection) => Error,
    now: number,
  ): number {
    let count = 0;
    for (const conn of [...this.#connections.values()]) {
      if (conn.state === TcpState.Closed || !gone(conn.remote)) continue;
      count++;
      conn.abort(now, conn.state === TcpState.TimeWait ? undefined : reason(conn));
    }
    return count;
  }

  /** Opens a connection from `local` to `remote`; the returned socket is in SYN-SENT. */
  connect(
    local: Uint8Array,
    remote: AddrPort,
    localPort: number | undefined,
    options: TcpConnectionOptions,
    now: number,
  ): TcpConn {
    if (this.#connections.size - this.#timeWaitCount >= this.#deps.limits.maxTcpConnections) {
      throw new StackLimitError("too many TCP connections");
    }
    let port = localPort;
    if (port === undefined) {
      const destination = new Uint8Array(local.length + remote.ip.length + 2);
      destination.set(local);
      destination.set(remote.ip, local.length);
      new DataView(destination.buffer).setUint16(local.length + remote.ip.length, remote.port);
      port = this.#deps.ports.allocateFor(
        destination,
        (p) => this.#listeners.has(p) || (this.#portUse.get(p) ?? 0) > 0,
      );
      if (port === undefined) throw new AddressInUseError("no free ephemeral TCP port");
    }
    const key = flowKey(local, port, remote.ip, remote.port);
    const existing = this.#connections.get(key);
    if (existing) {
      if (existing.state !== TcpState.TimeWait) {
        throw new AddressInUseError(`TCP port ${port} to ${remote} is in use`);
      }
      existing.release(undefined, now);
    }
    const conn = new TcpConnection(
      this,
      local,
      port,
      remote.ip,
      remote.port,
      key,
      false,
      now,
      options,
    );
    this.#add(conn);
    const socket = new TcpConn(conn, this.#deps.now);
    const initial = this.#deps.isn.next(local, port, remote.ip, remote.port, now);
    this.stats.connected++;
    openActive(conn, initial.iss, initial.timestampOffset, now);
    return socket;
  }

  /** Listens on `port` of every address of ours. */
  listen(port: number, backlog: number): TcpListener {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`TCP port ${port}`);
    }
    if (this.#listeners.has(port)) throw new AddressInUseError(`TCP port ${port} is in use`);
    const listener = new TcpListener(this, port, Math.max(1, backlog));
    this.#listeners.set(port, listener);
    return listener;
  }

  /** Stops a listener (its half-open connections are dropped). */
  unlisten(listener: TcpListener): void {
    if (this.#listeners.get(listener.port) !== listener) return;
    this.#listeners.delete(listener.port);
    const now = this.#deps.now();
    for (const conn of [...this.#halfOpen]) {
      if (conn.localPort === listener.port) conn.abort(now, undefined);
    }
  }

  /** Resets every connection and stops every listener. */
  closeAll(now: number): void {
    for (const listener of [...this.#listeners.values()]) listener.close();
    for (const conn of [...this.#connections.values()]) conn.abort(now, undefined);
    this.#timeWait = [];
  }

  // --- TcpHost ---

  /** Sends a packet. */
  emit(packet: Uint8Array): void {
    this.#deps.emit(packet);
  }

  /** The next IPv4 identification. */
  nextIpId(): number {
    return this.#deps.nextIpId();
  }

  /** The connection owes an ACK at the end of this burst. */
  ackAfterBurst(conn: TcpConnection): void {
    this.#burstAcks.add(conn);
  }

  /** Files a connection's deadline. */
  schedule(conn: TcpConnection, at: number): void {
    if (conn.state === TcpState.Closed) return;
    this.#deps.timers.schedule(conn, at);
    this.#deps.rearm();
  }

  /** A passive connection completed its handshake. */
  established(conn: TcpConnection): void {
    this.#halfOpen.delete(conn);
    const listener = this.#listeners.get(conn.localPort);
    if (listener) listener.halfOpen = Math.max(0, listener.halfOpen - 1);
    const now = this.#deps.now();
    if (!listener || listener.isClosed) {
      conn.abort(now, undefined);
      return;
    }
    this.stats.accepted++;
    listener.enqueue(new TcpConn(conn, this.#deps.now));
  }

  /** A connection entered TIME-WAIT; the oldest goes if there are too many. */
  enteredTimeWait(conn: TcpConnection): void {
    if (conn.timeWaitCounted) return;
    conn.timeWaitCounted = true;
    this.#timeWaitCount++;
    this.#timeWait.push(conn);
    while (this.#timeWaitCount > this.#deps.limits.maxTimeWait) {
      const oldest = this.#timeWait.shift();
      if (!oldest) break;
      if (oldest.state !== TcpState.TimeWait) continue;
      this.stats.timeWaitEvicted++;
      oldest.release(undefined, this.#deps.now());
    }
    if (this.#timeWait.length > 2 * this.#timeWaitCount + 64) {
      this.#timeWait = this.#timeWait.filter((c) => c.state === TcpState.TimeWait);
    }
  }

  /** A connection is gone. */
  released(conn: TcpConnection): void {
    if (this.#connections.get(conn.key) === conn) this.#connections.delete(conn.key);
    if (this.#halfOpen.delete(conn)) {
      const listener = this.#listeners.get(conn.localPort);
      if (listener) listener.halfOpen = Math.max(0, listener.halfOpen - 1);
    }
    const use = (this.#portUse.get(conn.localPort) ?? 1) - 1;
    if (use > 0) this.#portUse.set(conn.localPort, use);
    else this.#portUse.delete(conn.localPort);
    if (conn.timeWaitCounted) {
      conn.timeWaitCounted = false;
      this.#timeWaitCount--;
    }
    this.#deps.timers.forget(conn);
  }

  /** Whether a challenge ACK may go out. */
  challengeAckAllowed(now: number): boolean {
    return this.#deps.challengeAcks.allow(now);
  }

  /** A retransmission timer fired: passes the advice on. */
  retransmitTimedOut(conn: TcpConnection, _now: number): void {
    this.#deps.onRetransmitTimeout?.(conn.remote);
  }

  #add(conn: TcpConnection): void {
    this.#connections.set(conn.key, conn);
    this.#portUse.set(conn.localPort, (this.#portUse.get(conn.localPort) ?? 0) + 1);
  }

  #acceptSyn(
    listener: TcpListener,
    src: Uint8Array,
    dst: Uint8Array,
    seg: TCPSegment,
    key: string,
    now: number,
  ): void {
    const limits = this.#deps.limits;
    if (
      !listener.hasRoom || this.#halfOpen.size >= limits.maxHalfOpen ||
      this.#connections.size - this.#timeWaitCount >= limits.maxTcpConnections
    ) {
      this.stats.synsDropped++;
      return;
    }
    const conn = new TcpConnection(this, dst, seg.dstPort, src, seg.srcPort, key, true, now);
    this.#add(conn);
    this.#halfOpen.add(conn);
    listener.halfOpen++;
    const initial = this.#deps.isn.next(dst, seg.dstPort, src, seg.srcPort, now);
    openPassive(conn, seg, initial.iss, initial.timestampOffset, now);
  }

  // RFC 9293 §3.10.7.1: <SEQ=SEG.ACK><CTL=RST>, or <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
  #sendResetFor(src: Uint8Array, dst: Uint8Array, seg: TCPSegment): void {
    const f = seg.flags;
    const len = seg.payload.length + (f & TCPFlags.SYN ? 1 : 0) + (f & TCPFlags.FIN ? 1 : 0);
    const withAck = (f & TCPFlags.ACK) !== 0;
    const packet = buildTcpPacket(
      dst,
      src,
      {
        srcPort: seg.dstPort,
        dstPort: seg.srcPort,
        seq: withAck ? seg.ack : 0,
        ack: withAck ? 0 : seqAdd(seg.seq, len),
        flags: withAck ? TCPFlags.RST : TCPFlags.RST | TCPFlags.ACK,
        window: 0,
      },
      0,
      undefined,
      this.#deps.nextIpId(),
    );
    this.stats.resetsSent++;
    this.#deps.emit(packet);
  }
}

// RFC 6191 §2: a SYN may reopen a 4-tuple in TIME-WAIT if its timestamp is
// newer than TS.Recent, or (without timestamps) its sequence number lies
// beyond RCV.NXT.
function timeWaitReusable(conn: TcpConnection, syn: TCPSegment): boolean {
  const ts = syn.options.timestamps;
  if (conn.tsEnabled && ts) return seqGT(ts.value, conn.tsRecent);
  return seqGT(syn.seq, conn.rcvNxt);
}
