/**
 * The vocabulary of path discovery (data-plane reference §2.4–2.8): how a
 * peer is reached, what a {@link PeerPath} asks its caller to do, and what it
 * reports.
 *
 * @module
 */
import type { DiscoPublicKey } from "../crypto/keys.ts";
import type { AddrPort } from "../netaddr/addr_port.ts";

/** A way to reach the peer: a UDP endpoint, or DERP (by region ID). */
export type DiscoPath =
  | {
    /** Direct UDP. */
    readonly via: "udp";
    /** The peer's endpoint. */
    readonly addr: AddrPort;
  }
  | {
    /** Relayed by a DERP server. */
    readonly via: "derp";
    /** DERP region ID. */
    readonly region: number;
  };

/** Why a Ping was sent (Go's `discoPingPurpose`). */
export type PingPurpose =
  /** Checking whether a candidate path works. */
  | "discovery"
  /** Keeping the best path alive while the session is active. */
  | "heartbeat"
  /** Asked for by a user (`ping` command); may go over DERP. */
  | "cli";

/** Something the caller must do for this peer. */
export type DiscoAction =
  | {
    /** Seal a disco Ping `{ txId, nodeKey: our node key }` to the peer's disco key and send it. */
    readonly type: "send-ping";
    /** Where to send it. Discovery and heartbeat Pings are always UDP. */
    readonly path: DiscoPath;
    /** The TxID to put in the Ping (12 random bytes). */
    readonly txId: Uint8Array;
    /** Why. */
    readonly purpose: PingPurpose;
  }
  | {
    /**
     * Send our CallMeMaybe (our current endpoints) to the peer over DERP.
     * Only if our endpoint list is fresher than `endpointsFreshEnoughDuration`;
     * otherwise re-discover our endpoints first, then send (§2.6).
     */
    readonly type: "send-call-me-maybe";
    /** The peer's home DERP region. */
    readonly derpRegion: number;
  }
  | {
    /** A user-requested (`cli`) Ping got no Pong in time; report it. */
    readonly type: "ping-timed-out";
    /** The Ping's TxID. */
    readonly txId: Uint8Array;
    /** Where it went. */
    readonly path: DiscoPath;
  };

/** Where a WireGuard packet for the peer should go right now. Both null: no route. */
export interface SendRoute {
  /** The direct path, when one is known (trusted or not). */
  readonly udp: AddrPort | null;
  /** The DERP region, when the direct path is not trusted (or there is none). */
  readonly derpRegion: number | null;
}

/** What a Pong for one of our Pings established. */
export interface PongResult {
  /** The Ping's TxID. */
  readonly txId: Uint8Array;
  /** Why the Ping was sent. */
  readonly purpose: PingPurpose;
  /** Where the Ping went. */
  readonly path: DiscoPath;
  /** Round-trip time in milliseconds. */
  readonly latencyMs: number;
  /** Where the peer says the Ping came from (our address as it sees it). */
  readonly pongSrc: AddrPort;
}

/** The best direct path and its state. */
export interface BestPath {
  /** The endpoint. */
  readonly addr: AddrPort;
  /** Latency of its latest Pong, in milliseconds. */
  readonly latencyMs: number;
  /** Monotonic time until which it is used alone (no DERP copy). */
  readonly trustedUntil: number;
}

/** Where a candidate endpoint came from. */
export type CandidateSource = "netmap" | "call-me-maybe" | "ping";

/** A read-only view of one candidate endpoint, for status and tests. */
export interface CandidateView {
  /** The endpoint. */
  readonly addr: AddrPort;
  /** Every source that currently vouches for it. */
  readonly sources: readonly CandidateSource[];
  /** Monotonic time of our last Ping to it, or null. */
  readonly lastPing: number | null;
  /** Latency of its latest Pong in milliseconds, or null. */
  readonly latencyMs: number | null;
  /** Number of Pong records kept (at most `pongHistoryCount`). */
  readonly pongCount: number;
}

/** The peer fields from a netmap that path discovery needs. */
export interface PeerPathNode {
  /** The peer's disco key; null or zero when it has none (then no disco). */
  readonly discoKey: DiscoPublicKey | null;
  /** The peer's home DERP region ID; 0 when unknown. */
  readonly homeDERP: number;
  /** The peer's endpoints as `ip:port` text (netmap `Endpoints`); bad entries are skipped. */
  readonly endpoints: readonly (string | AddrPort)[];
}
