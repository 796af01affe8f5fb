/**
 * The bounds of one stack: nothing that arrives from the wire can make it
 * hold more connections, half-open handshakes, TIME-WAIT entries, sockets
 * or queued datagrams than these say.
 *
 * @module
 */

/** Limits of a {@link NetStack}; every field has a default in {@link DEFAULT_LIMITS}. */
export interface NetStackLimits {
  /** TCP connections (any state but TIME-WAIT), active and passive together. */
  maxTcpConnections: number;
  /** Connections in SYN-RECEIVED over all listeners (the SYN-flood bound). */
  maxHalfOpen: number;
  /** A listener's default backlog (queued plus half-open). */
  defaultBacklog: number;
  /** Connections kept in TIME-WAIT; past it the oldest is dropped early (Linux tcp_max_tw_buckets). */
  maxTimeWait: number;
  /** Bound UDP sockets. */
  maxUdpSockets: number;
  /** Datagrams queued per UDP socket. */
  udpQueueDatagrams: number;
  /** Payload bytes queued per UDP socket. */
  udpQueueBytes: number;
  /** ICMP errors sent per second on average (Linux icmp_msgs_per_sec). */
  icmpErrorsPerSecond: number;
  /** ICMP errors sent at once (Linux icmp_msgs_burst). */
  icmpErrorBurst: number;
  /** Challenge ACKs per second over the stack (RFC 5961 §7). */
  challengeAcksPerSecond: number;
}

/** The defaults. */
export const DEFAULT_LIMITS: Readonly<NetStackLimits> = Object.freeze({
  maxTcpConnections: 4096,
  maxHalfOpen: 1024,
  defaultBacklog: 128,
  maxTimeWait: 4096,
  maxUdpSockets: 1024,
  udpQueueDatagrams: 512,
  udpQueueBytes: 1024 * 1024,
  icmpErrorsPerSecond: 1000,
  icmpErrorBurst: 50,
  challengeAcksPerSecond: 1000,
});
