/**
 * Citadel's userspace TCP/IP stack: the interface that dispatches inbound
 * IP packets to TCP connections, listeners, UDP sockets and ICMP handling,
 * and hands every packet it originates to `send`. It owns no socket and
 * reads no clock of its own: time and timers come from the injected
 * {@link Clock}, randomness (ISNs, ephemeral ports) from the injected
 * {@link RandomSource}, so every state machine runs in virtual time in
 * tests. Its one timer is armed through the clock for the earliest
 * deadline of all connections.
 *
 * @example
 * ```ts
 * const stack = new NetStack({ addresses: () => selfIPs, send: (p) => pipeline.outbound(p),
 *   clock: systemClock, random: systemRandom });
 * pipeline.addLocalHandler((packet) => stack.deliver(packet));
 * for await (const conn of stack.listenTCP(80)) serve(conn);
 * ```
 *
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import type { RandomSource } from "../crypto/random.ts";
import { AddrPort } from "../netaddr/addr_port.ts";
import { ipAddressEquals } from "../netaddr/ip_address.ts";
import { IPProtocol } from "../netaddr/ip_protocol.ts";
import { buildEchoReply } from "./echo_responder.ts";
import {
  AddressUnavailableError,
  ConnectionForbiddenError,
  ConnectionResetError,
  ConnectionTimedOutError,
  SocketClosedError,
} from "./errors.ts";
import { buildPortUnreachable, parseTcpIcmpError } from "./icmp_errors.ts";
import { DEFAULT_LIMITS, type NetStackLimits } from "./limits.ts";
import { PortAllocator } from "./port_allocator.ts";
import { RateLimiter } from "./rate_limiter.ts";
import type { TcpConn } from "./socket/tcp_conn.ts";
import type { TcpListener } from "./socket/tcp_listener.ts";
import type { UdpSocket } from "./socket/udp_socket.ts";
import { IsnGenerator } from "./tcp/isn.ts";
import { DEFAULT_TCP_SETTINGS, type TcpSettings } from "./tcp/tcp_config.ts";
import type { TcpConnection } from "./tcp/tcp_connection.ts";
import { TcpState, type TcpStateName } from "./tcp/tcp_state.ts";
import { TcpTable, type TcpTableStats } from "./tcp_table.ts";
import { TimerQueue } from "./timer_queue.ts";
import { UdpTable } from "./udp_table.ts";
import { type IPPacket, parseIPPacket } from "./wire/ip_packet.ts";
import { parseTCPSegment, verifyTCPChecksum } from "./wire/tcp.ts";
import { parseUDPDatagram, verifyUDPChecksum } from "./wire/udp.ts";
import { WireError } from "./wire/wire_error.ts";

/** Tailscale's tunnel MTU (data-plane reference §7.3: `DefaultTUNMTU`). */
export const DEFAULT_MTU = 1280;

/** Options of a {@link NetStack}. */
export interface NetStackOptions {
  /** Our mesh addresses (4 or 16 bytes each), read at every packet. */
  addresses: () => readonly Uint8Array[];
  /** Emits one outbound IP packet; the buffer is the callee's to keep. */
  send: (packet: Uint8Array) => void;
  /** Time and timers. */
  clock: Clock;
  /** Randomness for ISNs, timestamp offsets and ephemeral ports. */
  random: RandomSource;
  /** Tunnel MTU in bytes (default 1280); the MSS and UDP sizes follow from it. */
  mtu?: number;
  /** Bounds (connections, half-open, TIME-WAIT, sockets, queues, rates). */
  limits?: Partial<NetStackLimits>;
  /** TCP settings (buffers, congestion control, timers, options). */
  tcp?: Partial<TcpSettings>;
  /** Answer ICMP echo requests to our addresses (default true). */
  answerPings?: boolean;
  /**
   * Told when a connection's retransmission timer fires (a SYN or data
   * went unanswered): the path to `remote` may be dead, and whoever owns the
   * tunnel may want to re-establish it at once.
   */
  onRetransmitTimeout?: (remote: Uint8Array) => void;
}

/** Options of {@link NetStack.connectTCP}. */
export interface ConnectOptions {
  /** Local port (default: an ephemeral one). */
  localPort?: number;
  /** Turn Nagle's algorithm off. */
  noDelay?: boolean;
  /** Turn keepalive on. */
  keepAlive?: boolean;
  /** Abort the attempt (the connection is reset). */
  signal?: AbortSignal;
  /**
   * Give up the handshake after this many ms of the stack's clock, failing
   * with `ConnectionTimedOutError` (without it, the SYN retries decide:
   * about 127 s with Linux's six).
   */
  timeoutMs?: number;
}

/** A TSMP "rejected" message about one of our TCP connects, as the peer sent it (§5). */
export interface ConnectRejection {
  /** Our end of the rejected connection (the message's destination and its flow's source port). */
  local: AddrPort;
  /** The peer's end (the message's source and its flow's destination port). */
  remote: AddrPort;
  /** Why, in words: "by its ACL", "by shields-up", … */
  why: string;
}

/** Options of {@link NetStack.listenTCP}. */
export interface ListenOptions {
  /** Queued plus half-open connections (default `limits.defaultBacklog`). */
  backlog?: number;
}

/** Counters of a stack. */
export interface NetStackStats {
  /** Packets given to `deliver`. */
  packetsIn: number;
  /** Packets sent. */
  packetsOut: number;
  /** Packets not for us (another destination, or not IP). */
  notForUs: number;
  /** Malformed packets, or bad checksums. */
  malformed: number;
  /** Fragments (never reassembled; the MTU keeps our peers from sending them). */
  fragments: number;
  /** ICMP echo replies sent. */
  echoReplies: number;
  /** ICMP port-unreachable errors sent. */
  icmpErrorsSent: number;
  /** ICMP errors suppressed by the rate limit. */
  icmpErrorsLimited: number;
  /** UDP datagrams to closed ports. */
  udpNoSocket: number;
  /** Packets of other protocols (dropped). */
  otherProtocols: number;
  /** The TCP side's counters. */
  tcp: TcpTableStats;
}

/** What a stack holds now, for leak checks. */
export interface NetStackSnapshot {
  /** TCP connections in any state. */
  tcpConnections: number;
  /** Half-open (SYN-RECEIVED from a listener). */
  halfOpen: number;
  /** In TIME-WAIT. */
  timeWait: number;
  /** Listening ports. */
  listeners: number;
  /** Bound UDP sockets. */
  udpSockets: number;
  /** Connections with a timer pending (entries of closed ones are not counted). */
  timers: number;
  /** Bytes allocated in TCP buffers. */
  bufferedBytes: number;
}

/** One TCP connection as {@link NetStack.tcpConnections} lists it. */
export interface TcpConnectionInfo {
  /** Our end. */
  local: AddrPort;
  /** The peer's end. */
  remote: AddrPort;
  /** RFC 9293 state. */
  state: TcpStateName;
}

/** A userspace TCP/IP stack on our mesh addresses. */
export class NetStack {
  readonly #options: NetStackOptions;
  readonly #clock: Clock;
  readonly #timers = new TimerQueue<TcpConnection>();
  readonly #tcp: TcpTable;
  readonly #udp: UdpTable;
  readonly #icmpLimiter: RateLimiter;
  readonly #stats: Omit<NetStackStats, "tcp">;
  readonly #limits: NetStackLimits;
  #ipId = 0;
  #armedAt = Infinity;
  #armed: TimerHandle | undefined;
  #closed = false;
  #delivering = false;
  #backlog: Uint8Array[] = [];

  /** A stack with no sockets. */
  constructor(options: NetStackOptions) {
    this.#options = options;
    this.#clock = options.clock;
    const mtu = options.mtu ?? DEFAULT_MTU;
    if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 65535) {
      throw new RangeError(`MTU ${mtu}: must be 1280–65535 (the IPv6 minimum up)`);
    }
    const limits: NetStackLimits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#limits = limits;
    const settings: TcpSettings = { ...DEFAULT_TCP_SETTINGS, ...options.tcp };
    const ports = new PortAllocator(options.random);
    this.#icmpLimiter = new RateLimiter(limits.icmpErrorsPerSecond, limits.icmpErrorBurst);
    const emit = (packet: Uint8Array) => this.#emit(packet);
    const nextIpId = () => (this.#ipId = (this.#ipId + 1) & 0xffff);
    this.#tcp = new TcpTable({
      settings,
      limits,
      mtu,
      emit,
      now: () => this.#now(),
      nextIpId,
      isn: new IsnGenerator(options.random),
      timers: this.#timers,
      rearm: () => this.#arm(),
      ports,
      challengeAcks: new RateLimiter(limits.challengeAcksPerSecond, limits.challengeAcksPerSecond),
      defer: (callback) => this.#clock.defer(callback),
      onRetransmitTimeout: options.onRetransmitTimeout,
    });
    this.#udp = new UdpTable({
      limits,
      mtu,
      emit,
      nextIpId,
      localAddressFor: (remote) => this.#localAddressFor(remote),
      ports,
    });
    this.#stats = {
      packetsIn: 0,
      packetsOut: 0,
      notForUs: 0,
      malformed: 0,
      fragments: 0,
      echoReplies: 0,
      icmpErrorsSent: 0,
      icmpErrorsLimited: 0,
      udpNoSocket: 0,
      otherProtocols: 0,
    };
  }

  /** Counters. */
  get stats(): Readonly<NetStackStats> {
    return { ...this.#stats, tcp: { ...this.#tcp.stats } };
  }

  /** What the stack holds now. */
  snapshot(): NetStackSnapshot {
    return {
      tcpConnections: this.#tcp.connectionCount,
      halfOpen: this.#tcp.halfOpenCount,
      timeWait: this.#tcp.timeWaitCount,
      listeners: this.#tcp.listenerCount,
      udpSockets: this.#udp.socketCount,
      timers: this.#timers.pending,
      bufferedBytes: this.#tcp.bufferedBytes,
    };
  }

  /** Every TCP connection with its state (half-open and TIME-WAIT included), for inspection. */
  tcpConnections(): TcpConnectionInfo[] {
    return [...this.#tcp.connections()].map((c) => ({
      local: new AddrPort(c.local, c.localPort),
      remote: new AddrPort(c.remote, c.remotePort),
      state: c.state,
    }));
  }

  /** The earliest timer deadline (monotonic ms), or undefined with none. */
  nextDeadline(): number | undefined {
    const at = this.#timers.earliest;
    return at === Infinity ? undefined : at;
  }

  /**
   * One inbound IP packet (after the packet filter). Returns true when it
   * was addressed to one of our addresses (whether used or dropped), false
   * when it is not for us or not an IP packet. Never throws for the
   * packet's content; the packet is not kept after the call.
   */
  deliver(packet: Uint8Array): boolean {
    if (this.#closed) return false;
    if (this.#delivering) {
      // A packet sent from inside `send` back to us: handled right after this one.
      if (!this.#isForUs(packet)) return false;
      this.#backlog.push(packet.slice());
      return true;
    }
    this.#delivering = true;
    try {
      const taken = this.#deliverOne(packet);
      while (this.#backlog.length > 0) this.#deliverOne(this.#backlog.shift()!);
      return taken;
    } finally {
      this.#delivering = false;
    }
  }

  /** Listens for TCP connections on `port` of every address of ours. */
  listenTCP(port: number, options: ListenOptions = {}): TcpListener {
    this.#checkOpen();
    return this.#tcp.listen(port, options.backlog ?? this.#limits.defaultBacklog);
  }

  /**
   * Connects to `remote` from our address of its family. Resolves once the
   * handshake completes; rejects with `ConnectionRefusedError` (RST or ICMP
   * port unreachable), `HostUnreachableError`, `ConnectionTimedOutError`
   * (SYN retries exhausted) or the signal's reason.
   */
  async connectTCP(remote: AddrPort, options: ConnectOptions = {}): Promise<TcpConn> {
    this.#checkOpen();
    options.signal?.throwIfAborted();
    const local = this.#localAddressFor(remote.ip);
    if (!local) {
      throw new AddressUnavailableError(`no mesh address of the family of ${remote.address}`);
    }
    const conn = this.#tcp.connect(local, remote, options.localPort, {
      noDelay: options.noDelay,
      keepAlive: options.keepAlive,
    }, this.#now());
    const onAbort = () => conn.reset();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    let timer: TimerHandle | undefined;
    const timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined && conn.state === TcpState.SynSent) {
      timer = this.#clock.setTimeout(() => {
        timer = undefined;
        const error = new ConnectionTimedOutError(`${remote}`, `no answer within ${timeoutMs} ms`);
        this.#tcp.failPendingConnect(
          local,
          conn.local.port,
          remote.ip,
          remote.port,
          error,
          this.#now(),
        );
      }, Math.max(0, timeoutMs));
    }
    try {
      await conn.established();
      options.signal?.throwIfAborted();
      return conn;
    } catch (error) {
      options.signal?.throwIfAborted();
      throw error;
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Fails the pending connect a peer rejected (a TSMP "rejected" message:
   * its filter dropped our SYN) with `ConnectionForbiddenError`. Only a
   * connect still in SYN-SENT, from the rejecting peer's address, is
   * failed; returns whether one was.
   */
  rejectConnect(rejection: ConnectRejection): boolean {
    if (this.#closed) return false;
    const { local, remote } = rejection;
    return this.#tcp.failPendingConnect(
      local.ip,
      local.port,
      remote.ip,
      remote.port,
      new ConnectionForbiddenError(`${remote}`, rejection.why),
      this.#now(),
    );
  }

  /**
   * Aborts every TCP connection to a remote address `gone` picks (its peer
   * left the netmap): each socket fails with `ConnectionResetError` saying
   * `why`, and its buffers and timers go at once instead of after the
   * retransmission timeouts. Returns how many.
   */
  abortConnections(gone: (remote: Uint8Array) => boolean, why: string): number {
    if (this.#closed) return 0;
    return this.#tcp.abortWhere(
      gone,
      (conn) => new ConnectionResetError(`${new AddrPort(conn.remote, conn.remotePort)}`, why),
      this.#now(),
    );
  }

  /** Binds a UDP socket to `port` of every address of ours (0: an ephemeral port). */
  listenUDP(port: number): UdpSocket {
    this.#checkOpen();
    return this.#udp.bind(port);
  }

  /** Resets every connection, closes every listener and socket, stops the timer. */
  close(): void {
    if (this.#closed) return;
    this.#tcp.closeAll(this.#now());
    this.#udp.closeAll();
    this.#closed = true;
    this.#timers.clear();
    if (this.#armed !== undefined) this.#clock.clearTimeout(this.#armed);
    this.#armed = undefined;
    this.#armedAt = Infinity;
  }

  #deliverOne(packet: Uint8Array): boolean {
    this.#stats.packetsIn++;
    let ip: IPPacket;
    try {
      ip = parseIPPacket(packet);
    } catch (error) {
      if (!(error instanceof WireError)) throw error;
      this.#stats.notForUs++;
      return false;
    }
    if (!this.#isOurs(ip.dst)) {
      this.#stats.notForUs++;
      return false;
    }
    if (ip.isFragment) {
      this.#stats.fragments++;
      return true;
    }
    try {
      switch (ip.protocol) {
        case IPProtocol.TCP:
          this.#tcpInput(ip);
          break;
        case IPProtocol.UDP:
          this.#udpInput(packet, ip);
          break;
        case IPProtocol.ICMPv4:
        case IPProtocol.ICMPv6:
          this.#icmpInput(packet, ip);
          break;
        default:
          this.#stats.otherProtocols++;
      }
    } catch (error) {
      if (!(error instanceof WireError)) throw error;
      this.#stats.malformed++;
    }
    return true;
  }

  #tcpInput(ip: IPPacket): void {
    if (!verifyTCPChecksum(ip.src, ip.dst, ip.payload)) {
      this.#stats.malformed++;
      return;
    }
    const segment = parseTCPSegment(ip.payload);
    this.#tcp.input(ip.src, ip.dst, segment, this.#now());
  }

  #udpInput(packet: Uint8Array, ip: IPPacket): void {
    if (!verifyUDPChecksum(ip.src, ip.dst, ip.payload)) {
      this.#stats.malformed++;
      return;
    }
    const udp = parseUDPDatagram(ip.payload);
    if (this.#udp.input(ip.src, udp.srcPort, udp.dstPort, udp.payload)) return;
    this.#stats.udpNoSocket++;
    if (!this.#icmpLimiter.allow(this.#now())) {
      this.#stats.icmpErrorsLimited++;
      return;
    }
    const error = buildPortUnreachable(packet, ip, this.#ipId = (this.#ipId + 1) & 0xffff);
    if (error) {
      this.#stats.icmpErrorsSent++;
      this.#emit(error);
    }
  }

  #icmpInput(packet: Uint8Array, ip: IPPacket): void {
    if (this.#options.answerPings !== false) {
      const reply = buildEchoReply(packet, [ip.dst]);
      if (reply) {
        this.#stats.echoReplies++;
        this.#emit(reply);
        return;
      }
    }
    const error = parseTcpIcmpError(ip);
    if (error && this.#isOurs(error.local)) this.#tcp.icmpError(error, this.#now());
  }

  #emit(packet: Uint8Array): void {
    this.#stats.packetsOut++;
    this.#options.send(packet);
  }

  #now(): number {
    return this.#clock.monotonic();
  }

  #isOurs(ip: Uint8Array): boolean {
    for (const address of this.#options.addresses()) if (ipAddressEquals(address, ip)) return true;
    return false;
  }

  #isForUs(packet: Uint8Array): boolean {
    try {
      return this.#isOurs(parseIPPacket(packet).dst);
    } catch {
      return false;
    }
  }

  #localAddressFor(remote: Uint8Array): Uint8Array | undefined {
    for (const address of this.#options.addresses()) {
      if (address.length === remote.length) return address;
    }
    return undefined;
  }

  #checkOpen(): void {
    if (this.#closed) throw new SocketClosedError("the network stack is closed");
  }

  // Arms the clock for the earliest deadline, if earlier than the armed one.
  #arm(): void {
    if (this.#closed) return;
    const at = this.#timers.earliest;
    if (at >= this.#armedAt) return;
    if (this.#armed !== undefined) this.#clock.clearTimeout(this.#armed);
    this.#armedAt = at;
    this.#armed = this.#clock.setTimeout(() => this.#fire(), Math.max(0, at - this.#now()));
  }

  #fire(): void {
    this.#armed = undefined;
    this.#armedAt = Infinity;
    if (this.#closed) return;
    this.#timers.run(this.#now());
    this.#arm();
  }
}
