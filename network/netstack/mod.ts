/**
 * Citadel's userspace TCP/IP stack. Laid out as smoltcp is: `wire/` holds
 * the packet formats (IPv4, IPv6, UDP, TCP with options, ICMPv4/v6, TSMP,
 * the Internet checksum) and does no I/O; `tcp/` holds the TCP state
 * machine (RFC 9293) as sans-I/O modules (sequence arithmetic, segment
 * input and output, ACK processing and loss recovery, timers, CUBIC and
 * NewReno, reassembly, the SACK scoreboard); `socket/` holds what an
 * application holds (`TcpConn`, `TcpListener`, `UdpSocket`, web streams);
 * `netstack.ts` is the interface that dispatches packets between them.
 *
 * ## The contract with the engine
 *
 * ```ts
 * const stack = new NetStack({
 *   addresses: () => selfIPs,              // our mesh IPs (4 or 16 bytes), read at every packet
 *   send: (packet) => pipeline.outbound(packet), // one outbound IP packet; the callee owns it
 *   clock, random,                         // network/clock.ts, network/crypto/random.ts
 *   mtu: 1280,                             // tunnel MTU (Tailscale's DefaultTUNMTU); sets the MSS
 *   limits: { maxTcpConnections, maxHalfOpen, defaultBacklog, maxTimeWait, udpQueueDatagrams, … },
 *   tcp: { congestionControl: "cubic", sendBuffer, receiveBuffer, keepAlive, … },
 * });
 * pipeline.addLocalHandler((packet) => stack.deliver(packet)); // after the packet filter
 * const listener = stack.listenTCP(80);          // async-iterable of TcpConn
 * const conn = await stack.connectTCP(AddrPort.parse("100.64.0.2:22"));
 * const udp = stack.listenUDP(53);
 * stack.close();
 * ```
 *
 * - `deliver(packet)` takes one inbound IP packet synchronously and returns
 *   true when it was addressed to one of our addresses (used or dropped),
 *   false when it is not for us. It never throws for the packet's content,
 *   and does not keep the buffer. Packets the stack sends in answer (ACKs,
 *   RSTs, ICMP errors, echo replies) go out through `send` before it returns.
 * - Timers: the stack arms one timer at a time through the injected
 *   `Clock` for the earliest deadline of all its connections, so nothing
 *   needs to call a `tick`; `nextDeadline()` reports it for inspection.
 *   Tests drive it with a virtual clock.
 * - `TcpConn` is usable where a `Deno.Conn` is: `read`/`write`/`close`/
 *   `closeWrite`, `readable`/`writable`, `localAddr`/`remoteAddr`,
 *   `setNoDelay`/`setKeepAlive`; errors extend `Deno.errors.*`
 *   (`ConnectionRefused`, `ConnectionReset`, `TimedOut`, …).
 * - Everything is bounded: per-connection send and receive buffers (grown
 *   on demand), out-of-order ranges, the accept backlog (half-open
 *   included), half-open connections over the stack, TIME-WAIT entries,
 *   UDP receive queues, ICMP errors and challenge ACKs per second.
 *
 * @module
 */
export * from "./wire/wire_error.ts";
export * from "./wire/checksum.ts";
export * from "./wire/ipv4.ts";
export * from "./wire/ipv6.ts";
export * from "./wire/ip_packet.ts";
export * from "./wire/udp.ts";
export * from "./wire/tcp.ts";
export * from "./wire/icmpv4.ts";
export * from "./wire/icmpv6.ts";
export * from "./wire/tsmp.ts";
export * from "./echo_responder.ts";
export * from "./errors.ts";
export {
  type ConnectOptions,
  type ConnectRejection,
  DEFAULT_MTU,
  type ListenOptions,
  NetStack,
  type NetStackOptions,
  type NetStackSnapshot,
  type NetStackStats,
  type TcpConnectionInfo,
} from "./netstack.ts";
export { DEFAULT_LIMITS, type NetStackLimits } from "./limits.ts";
export {
  type CongestionControlName,
  DEFAULT_TCP_SETTINGS,
  type KeepAliveSettings,
  type TcpSettings,
} from "./tcp/tcp_config.ts";
export { TcpState, type TcpStateName } from "./tcp/tcp_state.ts";
export type { TcpConnectionStats } from "./tcp/tcp_connection.ts";
export type { TcpTableStats } from "./tcp_table.ts";
export { type NetAddr, TcpConn } from "./socket/tcp_conn.ts";
export { TcpListener } from "./socket/tcp_listener.ts";
export { type UdpDatagram, UdpSocket, type UdpSocketStats } from "./socket/udp_socket.ts";
