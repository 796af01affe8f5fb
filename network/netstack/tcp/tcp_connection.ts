/**
 * One TCP connection's control block (RFC 9293 §3.3.1) and its
 * application-side operations. The protocol work is split by concern:
 * `segment_input.ts` (arriving segments, §3.10.7), `ack_processing.ts`
 * (ACKs, RTT, loss recovery), `segment_output.ts` (what to send),
 * `tcp_timers.ts` (the timers). Sans-I/O: time comes in as `now`, packets
 * leave through {@link TcpHost.emit}, and deadlines are handed to the host,
 * which calls {@link TcpConnection.onTimer} when they fall due.
 *
 * @module
 */
import type { TCPSegment } from "../wire/tcp.ts";
import { ByteRing } from "./byte_ring.ts";
import { type CongestionController, makeCongestionController } from "./congestion_control.ts";
import { Reassembly } from "./reassembly.ts";
import { ReceiveRtt } from "./receive_rtt.ts";
import { RttEstimator } from "./rtt_estimator.ts";
import { Scoreboard } from "./scoreboard.ts";
import { seqAdd } from "./seq.ts";
import { DUP_THRESH, type TcpSettings, windowScaleFor } from "./tcp_config.ts";
import { canSendData, TcpState, type TcpStateName } from "./tcp_state.ts";
import { handleIcmpError, handleSegment, type IcmpErrorKind } from "./segment_input.ts";
import { output, sendReset } from "./segment_output.ts";
import { onTimer } from "./tcp_timers.ts";

/** The window a connection starts with before tuning grows it (Linux: 64 KiB). */
const INITIAL_RECEIVE_WINDOW = 64 * 1024;

/** What a connection needs from the stack that owns it. */
export interface TcpHost {
  /** The stack's TCP settings. */
  readonly settings: TcpSettings;
  /** Tunnel MTU (bytes of IP packet). */
  readonly mtu: number;
  /** Sends one IP packet (a fresh buffer the callee may keep). */
  emit(packet: Uint8Array): void;
  /** The next IPv4 identification value. */
  nextIpId(): number;
  /** The connection's earliest deadline moved to `at` (earlier than it was). */
  schedule(connection: TcpConnection, at: number): void;
  /** A passive open completed the handshake: hand it to its listener. */
  established(connection: TcpConnection): void;
  /** The connection entered TIME-WAIT. */
  enteredTimeWait(connection: TcpConnection): void;
  /** The connection is gone: forget it. */
  released(connection: TcpConnection): void;
  /** The connection owes an ACK once the burst of arriving packets being handled is over. */
  ackAfterBurst(connection: TcpConnection): void;
  /** Whether a challenge ACK may go out now (RFC 5961 §7's global limit). */
  challengeAckAllowed(now: number): boolean;
  /**
   * The retransmission timer fired: the path to the remote may be dead
   * ("negative advice", as Linux's `dst_negative_advice` on a timeout).
   */
  retransmitTimedOut?(connection: TcpConnection, now: number): void;
}

/** What a connection tells the socket wrapped around it. */
export interface TcpEvents {
  /** The handshake completed. */
  connected(): void;
  /** Data, end of stream or an error became readable. */
  readable(): void;
  /** Send-buffer space opened, or an error happened. */
  writable(): void;
  /** The connection is finished for the application (TIME-WAIT, closed or failed). */
  closed(error: Error | undefined): void;
}

const NO_EVENTS: TcpEvents = {
  connected() {},
  readable() {},
  writable() {},
  closed() {},
};

/** Per-connection choices the application makes. */
export interface TcpConnectionOptions {
  /** Turns Nagle's algorithm off (RFC 9293 §3.7.4), as `setNoDelay(true)`. */
  noDelay?: boolean;
  /** Turns keepalive on (off by default, RFC 9293 §3.8.4). */
  keepAlive?: boolean;
}

/** Counters of one connection. */
export interface TcpConnectionStats {
  /** Segments sent. */
  segmentsSent: number;
  /** Segments received and processed. */
  segmentsReceived: number;
  /** Retransmitted segments. */
  retransmits: number;
  /** Fast retransmits (recoveries entered). */
  fastRecoveries: number;
  /** Recoveries undone as spurious (reordering, not loss). */
  spuriousRecoveries: number;
  /** Retransmission timeouts. */
  timeouts: number;
  /** Zero-window and keepalive probes sent. */
  probes: number;
  /** Challenge ACKs sent (RFC 5961). */
  challengeAcks: number;
  /** Segments dropped as unacceptable. */
  dropped: number;
}

/** A TCP control block and the operations on it. */
export class TcpConnection {
  /** Current state. */
  state: TcpStateName;
  /** Our address (4 or 16 bytes), port, and the peer's. */
  readonly local: Uint8Array;
  /** Our port. */
  readonly localPort: number;
  /** The peer's address. */
  readonly remote: Uint8Array;
  /** The peer's port. */
  readonly remotePort: number;
  /** The demultiplexing key the host files this connection under. */
  readonly key: string;
  /** Opened by a listener (passive) rather than by connect. */
  readonly passive: boolean;
  /** The host. */
  readonly host: TcpHost;
  /** The socket's callbacks. */
  events: TcpEvents = NO_EVENTS;
  /** Counters. */
  readonly stats: TcpConnectionStats = {
    segmentsSent: 0,
    segmentsReceived: 0,
    retransmits: 0,
    fastRecoveries: 0,
    spuriousRecoveries: 0,
    timeouts: 0,
    probes: 0,
    challengeAcks: 0,
    dropped: 0,
  };

  // Send sequence space (RFC 9293 §3.3.1).
  /** Initial send sequence number. */
  iss = 0;
  /** Oldest unacknowledged sequence number. */
  sndUna = 0;
  /** Next sequence number to send. */
  sndNxt = 0;
  /** Peer's window, bytes (already scaled). */
  sndWnd = 0;
  /** Segment sequence number of the last window update. */
  sndWl1 = 0;
  /** Segment acknowledgment number of the last window update. */
  sndWl2 = 0;
  /** Largest window the peer has offered (RFC 5961 §5.2's MAX.SND.WND). */
  maxSndWnd = 0;
  /** Shift applied to the peer's window field. */
  sndShift = 0;
  /** Sequence number of the first byte in the send ring. */
  sndRingSeq = 0;
  /** Bytes queued by the application and not yet acknowledged. */
  readonly sendRing: ByteRing;
  /** The application shut down writing: a FIN follows the queued data. */
  finQueued = false;
  /** Our FIN went out (it is in the scoreboard until acknowledged). */
  finSent = false;

  // Receive sequence space.
  /** Initial receive sequence number. */
  irs = 0;
  /** Next sequence number expected. */
  rcvNxt = 0;
  /** Right edge of the window last advertised; never moves left. */
  rcvAdvEdge = 0;
  /** Shift applied to the window we advertise. */
  rcvShift = 0;
  /** Receive buffer ceiling (bytes). */
  readonly rcvCapacity: number;
  /** The window we let ourselves advertise now (grown by {@link TcpConnection.read}'s tuning). */
  rcvClamp: number;
  /** Bytes the application read since {@link TcpConnection.rcvTuneAt}. */
  rcvCopied = 0;
  /** Start of the current receive-tuning measurement. */
  rcvTuneAt = 0;
  /** The receive side's RTT estimate, for receive-window tuning. */
  readonly rcvRtt: ReceiveRtt = new ReceiveRtt();
  /** Received bytes the application has not read, and out-of-order bytes ahead of them. */
  readonly recvRing: ByteRing;
  /** Which out-of-order ranges are held. */
  readonly reassembly: Reassembly;
  /** Sequence number of a FIN that arrived ahead of a hole. */
  pendingFinSeq: number | undefined;
  /** The peer's FIN was processed (end of stream once the ring drains). */
  finReceived = false;

  // Options (RFC 7323, RFC 2018).
  /** MSS we advertise. */
  advMss: number;
  /** Largest segment payload the peer accepts and our MTU allows, before options. */
  mss: number;
  /** Window scaling is in use (both SYNs carried the option). */
  wsEnabled = false;
  /** Timestamps are in use. */
  tsEnabled = false;
  /** SACK is in use. */
  sackEnabled = false;
  /** Our timestamp clock's offset (RFC 7323 §5.4). */
  tsOffset = 0;
  /** TS.Recent (RFC 7323 §4.3). */
  tsRecent = 0;
  /** When TS.Recent was taken. */
  tsRecentAt = 0;
  /** Last.ACK.sent (RFC 7323 §4.3). */
  lastAckSent = 0;

  // Congestion control and recovery.
  /** The sender's scoreboard. */
  readonly scoreboard: Scoreboard = new Scoreboard();
  /** RFC 6298 estimator. */
  readonly rtt: RttEstimator;
  /** Congestion window sizing. */
  cc: CongestionController;
  /** Loss-recovery phase: none, fast recovery, or after a timeout. */
  recovery: "open" | "fast" | "loss" = "open";
  /** RFC 6582's "recover" / RFC 6675's RecoveryPoint. */
  recoveryPoint = 0;
  /** Duplicate ACKs in a row. */
  dupAcks = 0;
  /** The duplicate-ACK threshold, raised when reordering made a recovery spurious. */
  dupThresh = DUP_THRESH;
  /** Congestion-control state from before the current recovery, for undo. */
  undoState: unknown;
  /** TSval of the current recovery's first retransmission (Eifel detection, RFC 3522). */
  undoTsval: number | undefined;
  /** Sequence number of the current recovery's first retransmission. */
  undoSeq = 0;

  /** The sender stopped for want of congestion window since the last ACK. */
  cwndBlocked = false;
  /** RTT timing: the ACK that ends the current measurement. */
  rttSeq: number | undefined;
  /** RTT timing without timestamps: when the timed segment left. */
  rttStart = 0;

  // Timers: absolute deadlines (ms) or undefined.
  /** Retransmission timer. */
  rtoAt: number | undefined;
  /** Persist (zero-window probe) timer. */
  persistAt: number | undefined;
  /** Delayed-ACK timer. */
  delayedAckAt: number | undefined;
  /** Keepalive timer. */
  keepAliveAt: number | undefined;
  /** TIME-WAIT or orphaned FIN-WAIT-2 end. */
  closeAt: number | undefined;
  /** Counted by the host among TIME-WAIT connections. */
  timeWaitCounted = false;
  /** The deadline the host has filed this connection under. */
  scheduledAt = Infinity;
  /** Retransmissions (or SYN retries) of the current segment. */
  retries = 0;
  /** Persist-timer backoff. */
  persistBackoff = 0;
  /** Probes (zero-window or keepalive) sent without any segment in return. */
  unansweredProbes = 0;
  /** When the last segment arrived. */
  lastReceivedAt = 0;
  /** When we last answered an out-of-window segment (Linux's 500 ms limit). */
  lastOutOfWindowAckAt = -Infinity;

  // ACK state.
  /** Send an ACK with the next output. */
  ackNow = false;
  /** Full segments received since we last sent an ACK. */
  segmentsSinceAck = 0;

  // Application side.
  /** Nagle off. */
  noDelay: boolean;
  /** Keepalive on. */
  keepAlive: boolean;
  /** The application will read no more (close()): more data from the peer is answered with RST. */
  readClosed = false;
  /** Why the connection failed, once it has. */
  error: Error | undefined;
  /** The last soft error (an ICMP message for an open connection, RFC 1122 §4.2.3.9). */
  softError: string | undefined;
  /** Whether the SYN was retransmitted (RFC 6298 §5.7). */
  synRetransmitted = false;
  /** When our SYN (or SYN-ACK) was first sent, for an RTT sample without timestamps. */
  synSentAt = 0;
  /** Time of creation. */
  readonly createdAt: number;

  /** A connection in no state yet; {@link openActive} or {@link openPassive} starts it. */
  constructor(
    host: TcpHost,
    local: Uint8Array,
    localPort: number,
    remote: Uint8Array,
    remotePort: number,
    key: string,
    passive: boolean,
    now: number,
    options: TcpConnectionOptions = {},
  ) {
    this.host = host;
    this.local = local.slice();
    this.localPort = localPort;
    this.remote = remote.slice();
    this.remotePort = remotePort;
    this.key = key;
    this.passive = passive;
    this.createdAt = now;
    this.lastReceivedAt = now;
    this.state = passive ? TcpState.SynReceived : TcpState.SynSent;
    const s = host.settings;
    this.rcvCapacity = s.receiveBuffer;
    this.rcvClamp = Math.min(s.receiveBuffer, INITIAL_RECEIVE_WINDOW);
    this.rcvTuneAt = now;
    this.rcvShift = s.windowScaling ? windowScaleFor(s.receiveBuffer) : 0;
    // Slack past the capacity absorbs the rounding up of a scaled window.
    this.recvRing = new ByteRing(s.receiveBuffer + 2 ** this.rcvShift);
    this.sendRing = new ByteRing(s.sendBuffer);
    this.reassembly = new Reassembly(s.maxOutOfOrderRanges);
    const ipHeader = local.length === 4 ? 20 : 40;
    this.advMss = host.mtu - ipHeader - 20;
    this.mss = this.advMss;
    this.rtt = new RttEstimator(s.initialRto, s.minRto, s.maxRto);
    this.cc = makeCongestionController(s.congestionControl, this.advMss);
    this.noDelay = options.noDelay ?? false;
    this.keepAlive = options.keepAlive ?? false;
  }

  /**
   * The largest window we advertise now: the tuned clamp, within the buffer
   * and within 65535 · 2^shift.
   */
  get rcvWindowMax(): number {
    return Math.min(this.rcvClamp, this.rcvCapacity, 0xffff * 2 ** this.rcvShift);
  }

  /** Payload bytes of a full-sized segment (SMSS): the MSS less the timestamps option. */
  get smss(): number {
    return this.mss - (this.tsEnabled ? 12 : 0);
  }

  /** Sequence number just past the last byte queued to send. */
  get sndEnd(): number {
    return seqAdd(this.sndRingSeq, this.sendRing.length);
  }

  /** An arriving segment for this connection (checksum already verified). */
  handleSegment(segment: TCPSegment, now: number): void {
    this.stats.segmentsReceived++;
    handleSegment(this, segment, now);
  }

  /** An ICMP error quoting one of our segments with sequence number `seq`. */
  handleIcmpError(kind: IcmpErrorKind, seq: number, now: number, mtu?: number): void {
    handleIcmpError(this, kind, seq, now, mtu);
  }

  /** Sends the ACK owed since the last one, unless a segment has carried it meanwhile. */
  sendOwedAck(now: number): void {
    if (this.segmentsSinceAck === 0 || this.state === TcpState.Closed) return;
    this.ackNow = true;
    output(this, now);
  }

  /** Runs the timers that are due. */
  onTimer(now: number): void {
    onTimer(this, now);
  }

  /** The earliest deadline, or Infinity. */
  nextDeadline(): number {
    let at = Infinity;
    if (this.rtoAt !== undefined && this.rtoAt < at) at = this.rtoAt;
    if (this.persistAt !== undefined && this.persistAt < at) at = this.persistAt;
    if (this.delayedAckAt !== undefined && this.delayedAckAt < at) at = this.delayedAckAt;
    if (this.keepAliveAt !== undefined && this.keepAliveAt < at) at = this.keepAliveAt;
    if (this.closeAt !== undefined && this.closeAt < at) at = this.closeAt;
    return at;
  }

  /** Tells the host about a deadline earlier than the one it holds. */
  armed(at: number): void {
    if (at < this.scheduledAt) this.host.schedule(this, at);
  }

  // --- The application's side ---

  /** Bytes the application can read now. */
  get readableBytes(): number {
    return this.recvRing.length;
  }

  /** Whether reading has reached the end: the peer's FIN arrived and every byte was read. */
  get readEnded(): boolean {
    return this.finReceived && this.recvRing.length === 0;
  }

  /** Room in the send buffer. */
  get writableBytes(): number {
    return this.sendRing.free;
  }

  /** Whether the application may still queue data. */
  get canWrite(): boolean {
    return !this.finQueued && this.error === undefined &&
      (canSendData(this.state) || this.state === TcpState.SynSent ||
        this.state === TcpState.SynReceived);
  }

  /** Resets the connection: a RST to the peer in synchronized states, then gone. */
  abort(now: number, error: Error | undefined): void {
    if (this.state === TcpState.Closed) return;
    if (this.state !== TcpState.SynSent && this.state !== TcpState.TimeWait) {
      sendReset(this, now);
    }
    this.release(error, now);
  }

  // --- Transitions the protocol modules share ---

  /** Arms the FIN-WAIT-2 timer of an orphaned connection (Linux tcp_fin_timeout). */
  armFinWait2(now: number): void {
    if (!this.readClosed || this.state !== TcpState.FinWait2) return;
    this.closeAt = now + this.host.settings.finWait2Timeout;
    this.armed(this.closeAt);
  }

  /** Enters TIME-WAIT (RFC 9293 §3.10.7.4): buffers freed, 2·MSL on the clock. */
  enterTimeWait(now: number): void {
    this.state = TcpState.TimeWait;
    this.#stopTimers();
    this.#freeBuffers();
    this.closeAt = now + 2 * this.host.settings.msl;
    this.armed(this.closeAt);
    this.host.enteredTimeWait(this);
    this.events.readable();
    this.events.closed(undefined);
  }

  /** Fails the connection with `error` (a reset or timeout): no RST is sent here. */
  fail(error: Error, now: number): void {
    this.release(error, now);
  }

  /** Leaves for good: timers stopped, buffers freed, the host and socket told. */
  release(error: Error | undefined, _now: number): void {
    if (this.state === TcpState.Closed) return;
    const wasTimeWait = this.state === TcpState.TimeWait;
    this.state = TcpState.Closed;
    if (error && !this.error) this.error = error;
    this.#stopTimers();
    this.closeAt = undefined;
    this.#freeBuffers();
    this.host.released(this);
    if (!wasTimeWait) {
      this.events.readable();
      this.events.writable();
      this.events.closed(this.error);
    }
  }

  #stopTimers(): void {
    this.rtoAt =
      this.persistAt =
      this.delayedAckAt =
      this.keepAliveAt =
        undefined;
  }

  #freeBuffers(): void {
    this.scoreboard.clear();
    this.reassembly.clear();
    this.sendRing.consume(this.sendRing.length);
    this.sendRing.release();
    // Unread data stays readable after a FIN-driven close; a reset drops it.
    if (this.state === TcpState.Closed && this.error) {
      this.recvRing.consume(this.recvRing.length);
    }
    if (this.recvRing.length === 0) this.recvRing.release();
  }
}
