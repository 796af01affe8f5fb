/**
 * A node's data plane, as its facade sees it: the engine's lifecycle
 * (started on the cached netmap while Nexus is asked, retried while it
 * cannot start, replaced when a login brings a new node key), and what the
 * node answers through it: paths to peers, pings of every kind (also for
 * control's PingRequests), the status section, and sockets on the mesh.
 *
 * @module
 */
import type { Clock } from "./clock.ts";
import type { ControlSession } from "./control/control_session.ts";
import type { ControlPingType, PingResponse } from "./control/control_ping.ts";
import type { Node } from "./control/map_response.ts";
import { nodeShortName, summarizeNode } from "./control/node_summary.ts";
import { EndpointType } from "./control/tailcfg.ts";
import { type DiscoPrivateKey, NodePublicKey } from "./crypto/keys.ts";
import type { RandomSource } from "./crypto/random.ts";
import { Engine, type EngineOptions } from "./engine/engine.ts";
import { dataPlaneNetmap } from "./magicsock/data_plane_netmap.ts";
import type { DerpLinkEvent } from "./magicsock/derp_links.ts";
import { AddrPort } from "./netaddr/addr_port.ts";
import { parseIPAddress } from "./netaddr/ip_address.ts";
import type { ConnectOptions as DialOptions, ListenOptions } from "./netstack/netstack.ts";
import type { TcpConn } from "./netstack/socket/tcp_conn.ts";
import type { TcpListener } from "./netstack/socket/tcp_listener.ts";
import type { UdpSocket } from "./netstack/socket/udp_socket.ts";
import { findPeer } from "./node_queries.ts";
import type { NetcheckReport } from "./netcheck/netcheck_report.ts";
import type {
  DataPlaneStatus,
  NetcheckStatus,
  NetcheckSummaryEvent,
  NodeEvent,
  PeerDataPlaneStatus,
  PingOptions,
  PingResult,
} from "./node_types.ts";
import { DataPlaneNotStartedError, PeerNotFoundError, PingTimeoutError } from "./node_errors.ts";

/** How long a ping waits for its reply by default. */
const ECHO_PING_TIMEOUT_MS = 5_000;

/** What the node's data plane takes from its caller (keys, clock and randomness are the node's). */
export type NodeDataPlaneOptions = Omit<
  EngineOptions,
  "nodeKey" | "discoKey" | "clock" | "random"
>;

/** What a {@link NodeDataPlane} needs from its node. */
export interface NodeDataPlaneContext {
  /** The caller's options. */
  options: NodeDataPlaneOptions;
  /** The node's control session: netmap, node key, what Nexus is told. */
  session: ControlSession;
  /** This run's disco key. */
  discoKey: DiscoPrivateKey;
  /** Time. */
  clock: Clock;
  /** Randomness. */
  random: RandomSource;
  /** Node events (warnings, DERP events). */
  emit: (event: NodeEvent) => void;
}

/**
 * The data plane of one node.
 *
 * @example
 * ```ts
 * const dataPlane = new NodeDataPlane({ options, session, discoKey, clock, random, emit });
 * await dataPlane.start();
 * const conn = await dataPlane.dial("peer-b", 22);
 * ```
 */
export class NodeDataPlane {
  readonly #ctx: NodeDataPlaneContext;
  #engine: Engine | null = null;
  /** The latest (re)start, so that callers can wait for it. */
  #starting: Promise<void> = Promise.resolve();
  /** The last answered ping's round trip per peer node ID, netmap peers only. */
  readonly #pingLatency = new Map<number, number>();

  /** Nothing runs until {@link NodeDataPlane.start}. */
  constructor(ctx: NodeDataPlaneContext) {
    this.#ctx = ctx;
  }

  /** The engine, once started; null before. */
  get engine(): Engine | null {
    return this.#engine;
  }

  /** Starts the engine on the session's current netmap (once); resolves after the first try. */
  start(): Promise<void> {
    if (!this.#engine) this.#starting = this.#start();
    return this.#starting;
  }

  /** Replaces the engine when the session logged in with another node key. */
  noteLogin(nodeKey: NodePublicKey): void {
    const engine = this.#engine;
    if (engine && !engine.nodePublicKey.equals(nodeKey)) {
      this.#starting = this.#starting.then(() => this.#restart());
    }
  }

  /** Gives the engine the session's netmap. */
  refreshNetmap(): void {
    this.#engine?.setNetmap(dataPlaneNetmap(this.#ctx.session.netmap));
    const netmap = this.#ctx.session.netmap;
    for (const id of [...this.#pingLatency.keys()]) {
      if (!netmap.peer(id)) this.#pingLatency.delete(id);
    }
  }

  /** Remembers a ping's round trip; the map holds netmap peers only, so the netmap bounds it. */
  #notePingLatency(id: number, latencyMs: number): void {
    if (this.#ctx.session.netmap.peer(id)) this.#pingLatency.set(id, latencyMs);
  }

  /** Stops the engine (after a start in progress). */
  async close(): Promise<void> {
    await this.#starting;
    await this.#engine?.close();
  }

  /**
   * What the data plane knows of a netmap peer: its path, the direct
   * endpoint or relay region, latency, last handshake and WireGuard bytes;
   * only `path: "none"` before the engine runs.
   */
  peerStatus(peer: Node): PeerDataPlaneStatus | { path: "none" } {
    const engine = this.#engine;
    const nodeKey = engine ? parseNodeKey(peer.Key) : null;
    if (!engine || !nodeKey) return { path: "none" };
    const direct = engine.directPath(nodeKey);
    const stats = engine.peerStats(nodeKey);
    const handshake = stats?.lastHandshakeTime;
    return {
      // "direct" over a trusted UDP path, else "relay" (DERP) once a WireGuard session is up.
      path: direct ? "direct" : engine.hasSession(nodeKey) ? "relay" : "none",
      endpoint: direct?.addr.key ?? null,
      relayRegion: peer.HomeDERP || null,
      latencyMs: roundLatency(direct?.latencyMs ?? this.#pingLatency.get(peer.ID)),
      lastHandshake: handshake === undefined ? null : new Date(handshake).toISOString(),
      rxBytes: stats?.rxBytes ?? 0,
      txBytes: stats?.txBytes ?? 0,
    };
  }

  /** See `CitadelNode.ping`. */
  async ping(target: string, options: PingOptions = {}): Promise<PingResult> {
    const engine = this.#requireEngine("ping");
    options.signal?.throwIfAborted();
    const { peer, peerIP, ourIP } = this.#resolve(target);
    const timeoutMs = options.timeoutMs ?? ECHO_PING_TIMEOUT_MS;
    const kind = options.type ?? "icmp";
    const result = await engine.ping(parseIPAddress(ourIP)!, parseIPAddress(peerIP)!, {
      kind,
      timeoutMs,
      timeoutError: () => new PingTimeoutError(target, peerIP, timeoutMs),
      signal: options.signal,
    });
    // A disco Pong says which path it took; WireGuard pings go where the session goes.
    const key = parseNodeKey(peer.Key);
    const path = result.path
      ? (result.path.via === "udp" ? "direct" : "relay")
      : key && engine.directPath(key)
      ? "direct"
      : "relay";
    const answer: PingResult = {
      ip: peerIP,
      nodeName: nodeShortName(peer.Name) ?? summarizeNode(peer).hostname,
      latencyMs: result.latencyMs,
      path,
      type: kind,
    };
    this.#notePingLatency(peer.ID, result.latencyMs);
    if (result.path?.via === "udp") answer.endpoint = result.path.addr.key;
    if (result.path?.via === "derp") answer.derpRegion = result.path.region;
    return answer;
  }

  /** A typed control ping (control reference §10.6): our ping of `ip`, as a `PingResponse`. */
  async controlPing(ip: string, type: ControlPingType, timeoutMs: number): Promise<PingResponse> {
    const response: PingResponse = { Type: type, IP: ip };
    const self = this.#ctx.session.netmap.selfAddresses();
    if (ip === self.ipv4 || ip === self.ipv6) {
      return { ...response, IsLocalIP: true, Err: `${ip} is local Tailscale IP` };
    }
    try {
      const kind = type === "TSMP" ? "tsmp" : type === "ICMP" ? "icmp" : "disco";
      const result = await this.ping(ip, { type: kind, timeoutMs });
      response.NodeIP = result.ip;
      response.NodeName = result.nodeName;
      response.LatencySeconds = result.latencyMs / 1000;
      if (result.endpoint) response.Endpoint = result.endpoint;
      if (result.derpRegion) response.DERPRegionID = result.derpRegion;
    } catch (err) {
      response.Err = (err as Error).message;
    }
    return response;
  }

  /** The status section, or null without an engine. */
  status(): DataPlaneStatus | null {
    const engine = this.#engine;
    if (!engine) return null;
    const stats = engine.stats;
    return {
      homeDERP: engine.homeRegion ?? null,
      derpConnected: engine.derpConnected,
      direct: engine.direct,
      endpoints: engine.endpoints().map((e) => ({
        addr: e.addr.key,
        type: e.type === EndpointType.STUN ? "stun" : "local",
      })),
      netcheck: engine.netcheckReport ? netcheckStatus(engine.netcheckReport) : null,
      filterRules: engine.filter.filter.ruleCount,
      traffic: {
        derp: { sent: stats.datagramsSent, received: stats.datagramsReceived },
        direct: { sent: stats.udpDatagramsSent, received: stats.udpDatagramsReceived },
      },
      dropped: engine.droppedByReason(),
      sockets: (({ tcpConnections, timeWait, listeners, udpSockets, timers, bufferedBytes }) => ({
        tcpConnections,
        timeWait,
        listeners,
        udpSockets,
        timers,
        bufferedBytes,
      }))(engine.netstack.snapshot()),
    };
  }

  /** TCP connections to `port` on our mesh addresses. */
  listen(port: number, options?: ListenOptions): TcpListener {
    return this.#requireEngine("listen").netstack.listenTCP(port, options);
  }

  /** UDP datagrams to `port` on our mesh addresses. */
  listenPacket(port: number): UdpSocket {
    return this.#requireEngine("listenPacket").netstack.listenUDP(port);
  }

  /**
   * A TCP connection to `port` on the peer `host` names: its mesh IP, its
   * name, hostname or MagicDNS name, resolved from the netmap in this
   * process (no DNS). Throws {@link PeerNotFoundError}, and the stack's
   * `ConnectionRefused`/`TimedOut` errors.
   */
  async dial(host: string, port: number, options?: DialOptions): Promise<TcpConn> {
    const engine = this.#requireEngine("dial");
    const { peerIP } = this.#resolve(host);
    return await engine.netstack.connectTCP(new AddrPort(parseIPAddress(peerIP)!, port), options);
  }

  /** The peer `target` names and the address pair to use (IPv4 first, unless IPv6 was named). */
  #resolve(target: string) {
    const netmap = this.#ctx.session.netmap;
    const peer = findPeer(netmap, target);
    if (!peer) throw new PeerNotFoundError(target);
    const self = netmap.selfAddresses();
    const summary = summarizeNode(peer);
    const v4 = summary.ip && self.ipv4 ? [summary.ip, self.ipv4] : null;
    const v6 = summary.ipv6 && self.ipv6 ? [summary.ipv6, self.ipv6] : null;
    const named6 = v6 && parseIPAddress(target)?.length === 16;
    const pair = (v4 && named6) ? v6 : v4 ?? v6;
    if (!pair) throw new PeerNotFoundError(target);
    return { peer, peerIP: pair[0], ourIP: pair[1] };
  }

  #requireEngine(what: string): Engine {
    if (!this.#engine) throw new DataPlaneNotStartedError(what);
    return this.#engine;
  }

  async #restart(): Promise<void> {
    const old = this.#engine;
    if (!old || this.#ctx.session.signal.aborted) return;
    this.#engine = null;
    await old.close();
    await this.#start();
  }

  /**
   * Starts the engine, then tells Nexus our home DERP region
   * (`NetInfo.PreferredDERP`, data-plane reference §3.9). A data plane that
   * cannot start (DERP unreachable) does not take the node down: it is
   * reported as a warning and retried in the background.
   */
  async #start(): Promise<void> {
    const { options, session, emit } = this.#ctx;
    const warn = (message: string) => emit({ kind: "warning", message });
    let lastSummary: NetcheckSummaryEvent | undefined;
    const engine = new Engine({
      ...options,
      onNetcheck: (report) => {
        options.onNetcheck?.(report);
        const summary = netcheckSummary(report);
        if (
          lastSummary?.udp !== summary.udp || lastSummary.preferredDERP !== summary.preferredDERP
        ) {
          emit(summary);
        }
        lastSummary = summary;
        session.announceNetwork().catch((err) => warn(`netcheck: ${err.message}`));
      },
      onEvent: (event) => {
        // A home that moved after start (fail-over, a new DERP map, netcheck) is told to Nexus.
        if (event.kind === "derp-home" && event.reason !== "start") {
          session.announceHomeDERP(event.region).catch((err) =>
            warn(`telling Nexus the new home DERP: ${err.message}`)
          );
        }
        if (event.kind.startsWith("derp-")) emit({ kind: "derp", event: event as DerpLinkEvent });
        options.onEvent?.(event);
      },
      nodeKey: session.nodeKey!,
      discoKey: this.#ctx.discoKey,
      clock: this.#ctx.clock,
      random: this.#ctx.random,
    });
    this.#engine = engine;
    engine.setNetmap(dataPlaneNetmap(session.netmap));
    await engine.startInBackground({
      signal: session.signal,
      onStarted: (region) => session.announceHomeDERP(region),
      onRetry: (err) => warn(`data plane: ${err.message}; retrying in the background`),
    });
  }
}

/** A `nodekey:` text as a key, or null when it is not one. */
function parseNodeKey(text: string): NodePublicKey | null {
  try {
    return NodePublicKey.parse(text);
  } catch {
    return null;
  }
}

/** Round trips in status are shown to the microsecond. */
function roundLatency(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round(ms * 1000) / 1000;
}

/** The netcheck section of `status --json`. */
function netcheckStatus(report: NetcheckReport): NetcheckStatus {
  const regionLatencyMs: Record<string, number> = {};
  for (const [region, ms] of [...report.regionLatency].sort((a, b) => a[0] - b[0])) {
    regionLatencyMs[String(region)] = roundLatency(ms)!;
  }
  return {
    at: new Date(report.now).toISOString(),
    udp: report.udp,
    globalV4: report.globalV4?.key ?? null,
    globalV6: report.globalV6?.key ?? null,
    mappingVariesByDestIP: report.mappingVariesByDestIP ?? null,
    preferredDERP: report.preferredDERP,
    regionLatencyMs,
  };
}

/** The part of a netcheck report that a log line shows. */
function netcheckSummary(report: NetcheckReport): NetcheckSummaryEvent {
  const latency = report.regionLatency.get(report.preferredDERP);
  return {
    kind: "netcheck",
    udp: report.udp,
    preferredDERP: report.preferredDERP,
    ...(latency === undefined ? {} : { latencyMs: latency }),
  };
}
