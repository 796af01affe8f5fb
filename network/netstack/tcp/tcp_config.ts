/**
 * TCP's constants under their spec names, and the tunable settings of one
 * stack with their defaults. Times are milliseconds of the injected clock.
 *
 * Where Linux and the RFCs differ, this stack mostly follows Linux, because
 * the peers it talks to run Linux's or gVisor's stack and tailscaled expects
 * their timing: a 200 ms minimum RTO (RFC 6298 §2.4 says 1 s; Linux and
 * gVisor use 200 ms), a 40 ms delayed-ACK timer (RFC 9293 allows up to
 * 500 ms), a TIME-WAIT of 60 s (Linux's TCP_TIMEWAIT_LEN, i.e. MSL = 30 s)
 * and Linux's retry counts.
 *
 * @module
 */

/** Maximum segment lifetime (RFC 9293 §3.4.2); TIME-WAIT lasts 2·MSL. */
export const MSL = 30_000;
/** Initial retransmission timeout (RFC 6298 §2.1). */
export const RTO_INITIAL = 1_000;
/** Lower bound of the RTO (Linux TCP_RTO_MIN; RFC 6298 §2.4 allows a lower bound by choice). */
export const RTO_MIN = 200;
/** Upper bound of the RTO (Linux TCP_RTO_MAX; RFC 6298 §2.5 asks for at least 60 s). */
export const RTO_MAX = 120_000;
/** RTO once the connection is up if the SYN had to be retransmitted (RFC 6298 §5.7). */
export const RTO_AFTER_SYN_LOSS = 3_000;
/** Duplicate ACKs (or SACKed segments' worth of bytes) that signal a loss (RFC 5681 §3.2, RFC 6675). */
export const DUP_THRESH = 3;
/** Delayed-ACK timer (Linux TCP_DELACK_MIN; RFC 9293 §3.8.6.3 requires < 0.5 s). */
export const DELAYED_ACK_TIMEOUT = 40;
/** Default MSS when the peer's SYN carries none: IPv4 (RFC 9293 §3.7.1). */
export const DEFAULT_MSS_IPV4 = 536;
/** Default MSS when the peer's SYN carries none: IPv6 (RFC 8200 §8.3: 1280 − 60). */
export const DEFAULT_MSS_IPV6 = 1220;
/** The most SACK blocks we send; three fit beside the timestamps option (RFC 2018 §3). */
export const MAX_SACK_BLOCKS = 3;
/** Largest unscaled window field. */
export const MAX_UNSCALED_WINDOW = 0xffff;
/** Timestamps older than this are not trusted for PAWS (RFC 7323 §5.5: 24 days). */
export const PAWS_IDLE_LIMIT = 24 * 24 * 3600 * 1000;

/** Which congestion controller a connection runs. */
export type CongestionControlName = "cubic" | "newreno";

/** Keepalive settings (RFC 9293 §3.8.4; Linux's defaults: 2 h idle, 75 s, 9 probes). */
export interface KeepAliveSettings {
  /** Idle time before the first probe. */
  idle: number;
  /** Time between unanswered probes. */
  interval: number;
  /** Unanswered probes before the connection is dropped. */
  count: number;
}

/** Tunable TCP settings of a stack; every field has a default in {@link DEFAULT_TCP_SETTINGS}. */
export interface TcpSettings {
  /** Congestion controller for new connections (default CUBIC, see `cubic.ts`). */
  congestionControl: CongestionControlName;
  /** Send buffer ceiling per connection, bytes (grown on demand). */
  sendBuffer: number;
  /** Receive buffer ceiling per connection, bytes (grown on demand); sets the window scale. */
  receiveBuffer: number;
  /** Most disjoint out-of-order ranges kept per connection; segments past it are dropped. */
  maxOutOfOrderRanges: number;
  /** Offer and accept window scaling (RFC 7323 §2). */
  windowScaling: boolean;
  /** Offer and accept timestamps (RFC 7323 §3). */
  timestamps: boolean;
  /** Offer and accept SACK (RFC 2018). */
  sack: boolean;
  /** Maximum segment lifetime; TIME-WAIT lasts twice this. */
  msl: number;
  /** Lower bound of the RTO. */
  minRto: number;
  /** Upper bound of the RTO. */
  maxRto: number;
  /** Initial RTO. */
  initialRto: number;
  /** Delayed-ACK timer. */
  delayedAck: number;
  /** SYN retransmissions before a connect fails (Linux tcp_syn_retries = 6, ≈ 127 s). */
  synRetries: number;
  /** SYN-ACK retransmissions before a half-open connection is dropped (Linux: 5). */
  synAckRetries: number;
  /** Retransmissions of data before the connection is dropped (Linux tcp_retries2 = 15). */
  maxRetries: number;
  /** How long an orphaned connection (closed by the application) may sit in FIN-WAIT-2. */
  finWait2Timeout: number;
  /** Keepalive timings for connections that turn keepalive on (it is off by default). */
  keepAlive: KeepAliveSettings;
}

/** The defaults. */
export const DEFAULT_TCP_SETTINGS: Readonly<TcpSettings> = Object.freeze({
  congestionControl: "cubic",
  sendBuffer: 4 * 1024 * 1024,
  receiveBuffer: 4 * 1024 * 1024,
  maxOutOfOrderRanges: 32,
  windowScaling: true,
  timestamps: true,
  sack: true,
  msl: MSL,
  minRto: RTO_MIN,
  maxRto: RTO_MAX,
  initialRto: RTO_INITIAL,
  delayedAck: DELAYED_ACK_TIMEOUT,
  synRetries: 6,
  synAckRetries: 5,
  maxRetries: 15,
  finWait2Timeout: 60_000,
  keepAlive: Object.freeze({ idle: 7_200_000, interval: 75_000, count: 9 }),
});

/**
 * The smallest window-scale shift that lets `buffer` bytes be advertised
 * in the 16-bit window field (RFC 7323 §2.2), at most 14.
 */
export function windowScaleFor(buffer: number): number {
  let shift = 0;
  while (shift < 14 && buffer > MAX_UNSCALED_WINDOW * 2 ** shift) shift++;
  return shift;
}

/**
 * The initial congestion window (RFC 6928 §2): min(10·MSS, max(2·MSS, 14600)).
 */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14_600));
}
