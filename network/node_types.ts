/**
 * The data types of a node's public surface: status, peers, events, options
 * and results. JSON keys of {@link NodeStatus} and {@link PeerStatus} are part
 * of `citadel status --json`.
 *
 * @module
 */
import type { ControlSessionEvent } from "./control/control_session.ts";
import type { DerpLinkEvent } from "./magicsock/derp_links.ts";
import type { ProxyConfig } from "./proxy/proxy_config.ts";

/** One peer as status reports it. JSON keys are part of `citadel status --json`. */
export interface PeerStatus {
  /** Peer's hostname (Hostinfo.Hostname, else the first label of its name). */
  hostname: string;
  /** First mesh IPv4 address, or null. */
  ip: string | null;
  /** First mesh IPv6 address, or null. */
  ipv6: string | null;
  /** Connected to Nexus right now; null when unknown. */
  online: boolean | null;
  /** Operating system the peer reports, or "". */
  os: string;
  /** ISO time it was last seen (only offline peers have one), or null. */
  lastSeen: string | null;
  /** How we reach it: "direct", "relay" or "none" (no path yet). */
  path?: "direct" | "relay" | "none";
  /** With a running data plane: the direct `ip:port` in use, or null (relayed or no path). */
  endpoint?: string | null;
  /** With a running data plane: the peer's home DERP region (where relayed packets go), or null. */
  relayRegion?: number | null;
  /**
   * With a running data plane: round trip in ms of the direct path's last
   * disco pong, else of the last ping answered by the peer, or null.
   */
  latencyMs?: number | null;
  /** With a running data plane: ISO time of the last completed WireGuard handshake, or null. */
  lastHandshake?: string | null;
  /** With a running data plane: bytes of WireGuard datagrams received from the peer. */
  rxBytes?: number;
  /** With a running data plane: bytes of WireGuard datagrams sent to the peer. */
  txBytes?: number;
}

/** What a running data plane knows of one peer (the data-plane keys of {@link PeerStatus}). */
export type PeerDataPlaneStatus = Required<
  Pick<
    PeerStatus,
    "path" | "endpoint" | "relayRegion" | "latencyMs" | "lastHandshake" | "rxBytes" | "txBytes"
  >
>;

/** The node's status. JSON keys are part of `citadel status --json`. */
export interface NodeStatus {
  /** Registered and receiving the netmap right now. */
  connected: boolean;
  /** The node's name at Nexus (first label of its MagicDNS name). */
  nodeName: string | null;
  /**
   * Nexus's numeric node ID (Headscale's `node list` ID), or null before the
   * node has registered. The job loop's per-node stream is named by it.
   */
  nodeId: number | null;
  /** Mesh IPv4 address, or null. */
  nodeIP: string | null;
  /** Mesh IPv6 address, or null. */
  nodeIPv6: string | null;
  /** Nexus (control server) URL. */
  nexus: string;
  /** ISO time the node key expires, or null when it never expires. */
  keyExpiry: string | null;
  /** Visible peers. */
  peers: PeerStatus[];
  /** The data plane, when this node runs one (`citadel work`); null or absent otherwise. */
  dataPlane?: DataPlaneStatus | null;
}

/** How a running data plane reaches peers, and what it refused. JSON keys are part of `status --json`. */
export interface DataPlaneStatus {
  /** Home DERP region ID, null until connected. */
  homeDERP: number | null;
  /** Whether the home DERP connection is up. */
  derpConnected: boolean;
  /** Whether direct UDP paths are tried. */
  direct: boolean;
  /** Our advertised endpoints (`ip:port`) with how we learned them. */
  endpoints: { addr: string; type: "local" | "stun" }[];
  /** The latest netcheck, or null before the first one finished. */
  netcheck: NetcheckStatus | null;
  /** Rules of the packet filter in force. */
  filterRules: number;
  /** WireGuard datagrams sent and received, over DERP and over direct UDP. */
  traffic: {
    derp: { sent: number; received: number };
    direct: { sent: number; received: number };
  };
  /**
   * Inbound packets dropped, by reason: `acl:<why>` (the packet filter),
   * `source-not-allowed` (cryptokey routing), `wireguard-invalid`,
   * `unknown-peer`; outbound `no-route`. Only non-zero counts.
   */
  dropped: Record<string, number>;
  /**
   * What the TCP/UDP stack holds now: TCP connections (TIME-WAIT included),
   * those in TIME-WAIT, listening ports, UDP sockets, connections with a
   * timer pending, and bytes in TCP buffers. A leak shows here.
   */
  sockets: {
    tcpConnections: number;
    timeWait: number;
    listeners: number;
    udpSockets: number;
    timers: number;
    bufferedBytes: number;
  };
}

/** A netcheck summary, as `status --json` shows it (`citadel netcheck --json` has it all). */
export interface NetcheckStatus {
  /** ISO time the report finished. */
  at: string;
  /** Whether any STUN server answered over UDP. */
  udp: boolean;
  /** Our IPv4 `ip:port` as STUN servers see it, or null. */
  globalV4: string | null;
  /** Our IPv6 `ip:port` as STUN servers see it, or null. */
  globalV6: string | null;
  /** Whether STUN servers saw different mappings (a hard NAT); null until two answered. */
  mappingVariesByDestIP: boolean | null;
  /** The region netcheck prefers as home (0: none measured). */
  preferredDERP: number;
  /** Lowest round trip per region in ms, by region ID. */
  regionLatencyMs: Record<string, number>;
}

/**
 * Progress and change events a node reports while it runs: its control
 * session's, and its DERP connections' (home moves, regions opened and
 * closed, connects that fail), for logs.
 */
export type NodeEvent =
  | ControlSessionEvent
  | { kind: "derp"; event: DerpLinkEvent }
  | NetcheckSummaryEvent;

/**
 * A netcheck finding worth a log line: the first report, and each later one
 * whose UDP reachability or nearest DERP region changed (reports repeat
 * every few seconds; the unchanged ones are not events).
 */
export interface NetcheckSummaryEvent {
  kind: "netcheck";
  /** Whether any STUN server answered over UDP. */
  udp: boolean;
  /** The region netcheck prefers as home (0: none measured). */
  preferredDERP: number;
  /** The round trip to that region, when measured. */
  latencyMs?: number;
}

/** Options for {@link connect}. */
export interface ConnectOptions {
  /** Hostname to register under; defaults to the OS hostname. */
  nodeName?: string;
  /** Called with the AuthURL during interactive device authorization. */
  onAuthURL?: (url: string) => void;
  /** Called with progress and netmap-change events. */
  onEvent?: (event: NodeEvent) => void;
  /** Extra CA certificates (PEM) to trust for Nexus and DERP, e.g. a test CA. */
  caCerts?: string[];
  /**
   * HTTP proxy settings for Nexus and DERP (e.g. `ProxyConfig.fromEnv`); none
   * when absent: the library reads no environment variables itself.
   */
  proxy?: ProxyConfig;
  /** Gives up (and disconnects) when aborted. */
  signal?: AbortSignal;
  /**
   * Whether an empty auth key may start interactive device authorization
   * (default true). `status` and `work` pass false: without usable saved
   * state they fail with {@link NotLoggedInError} instead of waiting for a login.
   */
  allowInteractive?: boolean;
  /**
   * Start the data plane too (default false): peers can then reach this
   * node, e.g. `tailscale ping`. `true` means WireGuard over DERP with
   * direct UDP paths (NAT traversal) on a socket bound to `0.0.0.0`; an
   * object says otherwise. Over a plain-HTTP Nexus (a local test setup)
   * DERP is spoken over plain HTTP as well.
   */
  dataPlane?: boolean | DataPlaneConnectOptions;
}

/** How {@link connect}'s data plane reaches peers. */
export interface DataPlaneConnectOptions {
  /** Try direct UDP paths (default true); false keeps everything on DERP. */
  direct?: boolean;
  /**
   * Where the direct-path socket binds, `ADDR[:PORT]` or `[V6ADDR]:PORT`
   * (default `0.0.0.0:0`: every IPv4 interface, a free port). A wildcard
   * bind offers every interface address to peers; a specific one offers
   * only itself.
   */
  udpBind?: string;
}

/** Result of {@link connect}. */
export interface ConnectResult {
  /** Node name at Nexus. */
  nodeName: string | null;
  /** Mesh IPv4. */
  nodeIP: string | null;
  /** Mesh IPv6. */
  nodeIPv6: string | null;
  /** True when this connect registered a new node (an auth key or login was used). */
  newlyRegistered: boolean;
}

/** Who owns a mesh address: the node whose WireGuard key holds it, and that node's user. */
export interface WhoIs {
  /** Nexus's numeric node ID. */
  nodeId: number;
  /** First label of the node's MagicDNS name. */
  nodeName: string | null;
  /** The node's hostname (Hostinfo.Hostname, else its name). */
  hostname: string;
  /** The node's WireGuard public key, `nodekey:` form: its identity. */
  nodeKey: string;
  /** The node's mesh addresses, without prefix lengths. */
  addresses: string[];
  /** Operating system the node reports, or "". */
  os: string;
  /** ACL tags of the node (tagged nodes have no user). */
  tags: string[];
  /** The owning user, when the netmap carries its profile. */
  user: { id: number; loginName: string; displayName: string } | null;
  /** Whether this is the local node itself. */
  self: boolean;
}

/** Options of {@link CitadelNode.ping}. */
export interface PingOptions {
  /**
   * What kind of ping, as `tailscale ping`: `icmp` (echo through WireGuard,
   * answered by the peer's stack; the default), `tsmp` (through WireGuard,
   * answered by the peer's data plane) or `disco` (outside WireGuard,
   * answered by the peer's magicsock: shows the path).
   */
  type?: "icmp" | "tsmp" | "disco";
  /** How long to wait for the echo reply (default 5000 ms). */
  timeoutMs?: number;
  /** Cancels the wait; the ping then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** One answered ping. JSON keys are part of `citadel ping --json`. */
export interface PingResult {
  /** The peer address that answered. */
  ip: string;
  /** The peer's name at Nexus (first label of its MagicDNS name), else its hostname. */
  nodeName: string;
  /** Round-trip time in milliseconds. */
  latencyMs: number;
  /** How the packets went: over DERP ("relay") or a direct UDP path. */
  path: "relay" | "direct";
  /** The kind of ping (absent means ICMP, for callers of older versions). */
  type?: "icmp" | "tsmp" | "disco";
  /** Disco pings over a direct path: the peer's endpoint that answered (`ip:port`). */
  endpoint?: string;
  /** Disco pings over DERP: the region that carried them. */
  derpRegion?: number;
}
