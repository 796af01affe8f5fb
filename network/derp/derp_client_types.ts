/**
 * The option, message and counter types of derp_client.ts, kept apart so
 * that the client file holds the connection alone.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { NodePrivateKey, NodePublicKey } from "../crypto/keys.ts";
import type { RandomSource } from "../crypto/random.ts";
import type { ProxyConfig } from "../proxy/proxy_config.ts";
import type { DerpFrame } from "./derp_frame.ts";
import type { DerpWriteLimits } from "./derp_write_queue.ts";

/** Options of {@link DerpClient.connect}. */
export interface DerpConnectOptions {
  /**
   * The server: `https://host[:port]/derp` or `http://host[:port]/derp`.
   * An empty path means `/derp`.
   */
  url: string | URL;
  /** Our node key: our DERP address is its public half. */
  nodeKey: NodePrivateKey;
  /** Extra trusted CA certificates (PEM) for `https:` servers. */
  caCerts?: string[];
  /** HTTP proxy settings; the URL's proxy, if any, carries the connection (CONNECT). */
  proxy?: ProxyConfig;
  /** Address to dial instead of the URL's host, unproxied (the node's `IPv4`/`IPv6`, §3.1). */
  dialHostname?: string;
  /** Name TLS sends and verifies instead of the URL's host (the node's `CertName`, §3.1). */
  tlsServerName?: string;
  /** Send NotePreferred with this value right after ClientInfo (home DERP: true). */
  preferred?: boolean;
  /**
   * The server's public key when known in advance: enables fast start
   * (no 101 response awaited; ClientInfo written right after the request).
   */
  serverKey?: NodePublicKey;
  /** Value of the `Ideal-Node` header, when not connecting to the region's first node. */
  idealNode?: string;
  /** Whether to declare that we answer Pings (default true, as tailscaled does). */
  canAckPings?: boolean;
  /** Mesh pre-shared key (32 bytes) for privileged use (WatchConns, ForwardPacket, ClosePeer). */
  meshKey?: Uint8Array;
  /** Declare this client a prober. */
  isProber?: boolean;
  /** Application name for the server's statistics. */
  appName?: string;
  /** Limit for the whole connect (default 10 s). */
  connectTimeoutMs?: number;
  /** Limit for one receive to see any frame (default 120 s). */
  readTimeoutMs?: number;
  /** Frames of each kind that may wait to be written (default: 128 packets, 8 Pongs, 16 others). */
  writeLimits?: Partial<DerpWriteLimits>;
  /** Time and timers. */
  clock?: Clock;
  /** Nonces and ping data. */
  random?: RandomSource;
  /** Aborts the connect; the error is then the signal's reason. */
  signal?: AbortSignal;
}

/** Something {@link DerpClient.receive} returns. */
export type DerpMessage =
  | {
    /** A packet relayed to us. */
    type: "packet";
    /** Node key of the sender. */
    src: NodePublicKey;
    /** The packet (the client's own copy). */
    data: Uint8Array;
  }
  | Extract<DerpFrame, { type: "peerGone" | "peerPresent" | "health" | "restarting" }>;

/** Counters of one connection. */
export interface DerpClientStats {
  /** SendPacket/ForwardPacket frames written. */
  packetsSent: number;
  /** Packet bytes in them. */
  bytesSent: number;
  /** Packets dropped because the server's rate limit was reached (§3.5). */
  packetsDroppedByRateLimit: number;
  /** Packets dropped because the write queue was full (the server is not reading). */
  packetsDroppedQueueFull: number;
  /** RecvPacket frames returned. */
  packetsReceived: number;
  /** Packet bytes in them. */
  bytesReceived: number;
  /** KeepAlive frames seen. */
  keepAlives: number;
  /** Server Pings answered with a Pong. */
  pingsAnswered: number;
  /** Server Pings left unanswered because the Pong queue was full. */
  pongsDropped: number;
  /** Frames of a known type with a malformed payload, skipped. */
  malformedFrames: number;
  /** Frames of unknown type, skipped. */
  unknownFrames: number;
}
