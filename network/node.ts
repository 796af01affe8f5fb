/**
 * The node facade: one mesh identity, as tsnet's `Server` is the only thing
 * its callers hold. It puts together a control session
 * (control/control_session.ts: login, the map poll, the saved state) and,
 * when asked, an engine (engine/engine.ts: magicsock, WireGuard, the packet
 * pipeline), and answers queries from their netmap. Several nodes, each
 * with its own store, can live in one process.
 *
 * Lifecycle: {@link CitadelNode.start} loads (or creates) the state,
 * registers with Nexus, and resolves once the first netmap has arrived (and
 * the data plane had its first try). The session then keeps the map poll
 * open, reconnecting with backoff after any failure, until
 * {@link CitadelNode.close}.
 *
 * @module
 */
import { type Clock, systemClock } from "./clock.ts";
import { type ControlLoginOptions, ControlSession } from "./control/control_session.ts";
import type { ControlPingType, PingResponse } from "./control/control_ping.ts";
import { nodeShortName, summarizeNode } from "./control/node_summary.ts";
import type { DERPMap } from "./control/map_response.ts";
import { EndpointType } from "./control/tailcfg.ts";
import { DiscoPrivateKey, NodePublicKey } from "./crypto/keys.ts";
import { type RandomSource, systemRandom } from "./crypto/random.ts";
import { Engine, type EngineOptions } from "./engine/engine.ts";
import { dataPlaneNetmap } from "./magicsock/data_plane_netmap.ts";
import type { DerpLinkEvent } from "./magicsock/derp_links.ts";
import { parseIPAddress } from "./netaddr/ip_address.ts";
import { findPeer, type PeerPath, peerStatuses, whoisAddress } from "./node_queries.ts";
import type {
  ConnectResult,
  DataPlaneStatus,
  NodeEvent,
  NodeStatus,
  PeerStatus,
  PingOptions,
  PingResult,
  WhoIs,
} from "./node_types.ts";
import { DataPlaneNotStartedError, PeerNotFoundError, PingTimeoutError } from "./node_errors.ts";

/** How long {@link CitadelNode.ping} waits for an echo reply by default. */
const ECHO_PING_TIMEOUT_MS = 5_000;

/** Options of {@link CitadelNode}: who it is and how it logs in, plus these. */
export interface CitadelNodeOptions extends ControlLoginOptions {
  /** Called with progress and netmap-change events. */
  onEvent?: (event: NodeEvent) => void;
  /** Time and timers. */
  clock?: Clock;
  /** Randomness for keys and jitter. */
  random?: RandomSource;
  /**
   * Opt-in: start the data plane (WireGuard over DERP, disco Pongs) once the
   * first netmap has arrived, with these options; none when absent. Its own
   * opt-in `udp` adds direct UDP paths, whose endpoints are then sent to
   * Nexus in map requests.
   */
  dataPlane?: NodeDataPlaneOptions;
}

/** What the node's data plane takes from its caller (keys, clock and randomness are the node's). */
export type NodeDataPlaneOptions = Omit<
  EngineOptions,
  "nodeKey" | "discoKey" | "clock" | "random"
>;

/**
 * One mesh node.
 *
 * @example
 * ```ts
 * const store = await FileStateStore.open({ dir: "/tmp/citadel-state" });
 * const node = new CitadelNode({ controlURL: "http://127.0.0.1:8080", store, authKey });
 * const { nodeIP } = await node.start();
 * console.log(nodeIP, node.status().peers.length);
 * await node.close();
 * ```
 */
export class CitadelNode {
  readonly #options: CitadelNodeOptions;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #discoKey: DiscoPrivateKey;
  readonly #session: ControlSession;
  #engine: Engine | null = null;
  /** The data plane's latest (re)start, so that start() and close() can wait for it. */
  #dataPlaneStart: Promise<void> = Promise.resolve();
  #started = false;

  /** Makes a node; nothing happens until {@link CitadelNode.start}. */
  constructor(options: CitadelNodeOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#discoKey = DiscoPrivateKey.generate(this.#random);
    this.#session = new ControlSession({
      ...options,
      onEvent: (event) => options.onEvent?.(event),
      onNetmap: (change) => {
        if (
          this.#engine &&
          (change.fullMap || change.selfChanged || change.derpMapChanged ||
            change.peersAdded.length + change.peersRemoved.length + change.peersUpdated.length > 0)
        ) {
          this.#engine.setNetmap(dataPlaneNetmap(this.#session.netmap));
        }
      },
      clock: this.#clock,
      random: this.#random,
      discoKey: this.#discoKey.publicKey(),
      endpoints: () =>
        this.#engine?.endpoints().map((e) => ({ addr: e.addr.key, type: e.type })) ?? [],
      netInfo: () => this.#engine?.netInfo(),
      pinger: () =>
        this.#engine ? (ip, type, timeoutMs) => this.#controlPing(ip, type, timeoutMs) : null,
      onLogin: (nodeKey) => {
        // A login with a new node key (Nexus expired the old one) needs a new WireGuard identity.
        const engine = this.#engine;
        if (engine && !engine.nodePublicKey.equals(nodeKey.publicKey())) {
          this.#dataPlaneStart = this.#dataPlaneStart.then(() => this.#restartDataPlane());
        }
      },
    });
  }

  /** Registered and receiving the netmap right now. */
  get connected(): boolean {
    return this.#session.connected;
  }

  /**
   * Settles when the node stops for good: null after {@link CitadelNode.close},
   * or the error that ended it (the node was deleted or expired at Nexus and
   * no auth key or login could renew it).
   */
  get stopped(): Promise<Error | null> {
    return this.#session.stopped;
  }

  /**
   * Loads or creates the state, registers, and resolves once the first
   * netmap has arrived. Throws the typed control errors, `NotLoggedInError`
   * when there is no usable state and neither an auth key nor interactive
   * login is allowed, or `NexusMismatchError`.
   */
  async start(signal?: AbortSignal): Promise<ConnectResult> {
    if (this.#started) throw new Error("CitadelNode.start called twice");
    this.#started = true;
    try {
      const dataPlane = this.#options.dataPlane;
      // From saved state, the data plane starts on the cached netmap while Nexus is asked.
      const savedKey = dataPlane ? await this.#session.load() : null;
      if (dataPlane && savedKey) this.#dataPlaneStart = this.#startDataPlane(dataPlane);
      const { newlyRegistered } = await this.#session.start(signal);
      if (dataPlane && !this.#engine) this.#dataPlaneStart = this.#startDataPlane(dataPlane);
      await this.#dataPlaneStart;
      const netmap = this.#session.netmap;
      const addresses = netmap.selfAddresses();
      return {
        nodeName: netmap.nodeName(),
        nodeIP: addresses.ipv4,
        nodeIPv6: addresses.ipv6,
        newlyRegistered,
      };
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** The node's status (cached values while disconnected). */
  status(): NodeStatus {
    const netmap = this.#session.netmap;
    const addresses = netmap.selfAddresses();
    const login = this.#session.state?.login;
    return {
      connected: this.connected,
      nodeName: netmap.nodeName() ?? login?.nodeName ?? null,
      nodeId: netmap.self?.ID ?? login?.nodeId ?? null,
      nodeIP: addresses.ipv4 ?? login?.addresses.v4 ?? null,
      nodeIPv6: addresses.ipv6 ?? login?.addresses.v6 ?? null,
      nexus: this.#options.controlURL,
      keyExpiry: netmap.keyExpiry() ??
        (login?.keyExpiry ? new Date(login.keyExpiry).toISOString() : null),
      peers: this.peers(),
      ...(this.#engine ? { dataPlane: this.#dataPlaneStatus(this.#engine) } : {}),
    };
  }

  #dataPlaneStatus(engine: Engine): DataPlaneStatus {
    const stats = engine.stats;
    return {
      homeDERP: engine.homeRegion ?? null,
      derpConnected: engine.derpConnected,
      direct: engine.direct,
      endpoints: engine.endpoints().map((e) => ({
        addr: e.addr.key,
        type: e.type === EndpointType.STUN ? "stun" : "local",
      })),
      filterRules: engine.filter.filter.ruleCount,
      traffic: {
        derp: { sent: stats.datagramsSent, received: stats.datagramsReceived },
        direct: { sent: stats.udpDatagramsSent, received: stats.udpDatagramsReceived },
      },
      dropped: engine.droppedByReason(),
    };
  }

  /** Visible peers, sorted by node ID. */
  peers(): PeerStatus[] {
    return peerStatuses(this.#session.netmap, (key) => this.#pathTo(key));
  }

  /**
   * Who owns a mesh address (`100.64.0.7`, `fd7a:…`, or with a port as
   * `ip:port` / `[ip]:port`): the node whose key holds it in the current
   * netmap, and its user; null when no node has it.
   */
  whois(address: string): WhoIs | null {
    return whoisAddress(this.#session.netmap, address);
  }

  /**
   * Pings a peer with ICMP echo through the data plane and resolves with
   * the round trip. `target` is a mesh IP, or a peer's name or hostname
   * (exact match first, then case-insensitive). The request goes to the
   * peer's IPv4 address when it has one, else its IPv6 address. Throws
   * {@link PeerNotFoundError}, {@link PingTimeoutError} (no reply within
   * `timeoutMs`, default 5 s), {@link DataPlaneNotStartedError}, or the
   * signal's reason when aborted.
   *
   * @example
   * ```ts
   * const { latencyMs, path } = await node.ping("peer-b", { timeoutMs: 2000 });
   * ```
   */
  async ping(target: string, options: PingOptions = {}): Promise<PingResult> {
    const engine = this.#engine;
    if (!engine) throw new DataPlaneNotStartedError("ping");
    options.signal?.throwIfAborted();
    const netmap = this.#session.netmap;
    const peer = findPeer(netmap, target);
    if (!peer) throw new PeerNotFoundError(target);
    const self = netmap.selfAddresses();
    const summary = summarizeNode(peer);
    const v4 = summary.ip && self.ipv4 ? [summary.ip, self.ipv4] : null;
    const v6 = summary.ipv6 && self.ipv6 ? [summary.ipv6, self.ipv6] : null;
    const pair = (v4 && target === summary.ipv6 && v6) ? v6 : v4 ?? v6;
    if (!pair) throw new PeerNotFoundError(target);
    const [peerIP, ourIP] = pair;
    const timeoutMs = options.timeoutMs ?? ECHO_PING_TIMEOUT_MS;
    const kind = options.type ?? "icmp";
    const result = await engine.ping(parseIPAddress(ourIP)!, parseIPAddress(peerIP)!, {
      kind,
      timeoutMs,
      timeoutError: () => new PingTimeoutError(target, peerIP, timeoutMs),
      signal: options.signal,
    });
    const nodeName = nodeShortName(peer.Name) ?? summary.hostname;
    // A disco Pong says which path it took; WireGuard pings go where the session goes.
    const path = result.path
      ? (result.path.via === "udp" ? "direct" : "relay")
      : this.#pathTo(peer.Key) === "direct"
      ? "direct"
      : "relay";
    const answer: PingResult = {
      ip: peerIP,
      nodeName,
      latencyMs: result.latencyMs,
      path,
      type: kind,
    };
    if (result.path?.via === "udp") answer.endpoint = result.path.addr.key;
    if (result.path?.via === "derp") answer.derpRegion = result.path.region;
    return answer;
  }

  /** The data plane, when started with the `dataPlane` option; null otherwise. */
  get dataPlane(): Engine | null {
    return this.#engine;
  }

  /** The DERP map of the netmap (the cached one until Nexus sends one), or null. */
  get derpMap(): DERPMap | null {
    return this.#session.netmap.derpMap;
  }

  /** How many peers the netmap holds. */
  get peerCount(): number {
    return this.#session.netmap.peerCount;
  }

  /** Stops the data plane and the map poll, writes the netmap cache, and closes the connection. */
  async close(): Promise<void> {
    await this.#session.close();
    await this.#dataPlaneStart;
    await this.#engine?.close();
  }

  /**
   * Logs out: asks Nexus to expire the node key, stops, and clears the
   * store. A node Nexus no longer knows counts as logged out.
   */
  async logout(signal?: AbortSignal): Promise<void> {
    await this.#session.logout(signal);
    await this.#dataPlaneStart;
    await this.#engine?.close();
  }

  /**
   * How packets reach a peer now: "direct" over a trusted UDP path (only with
   * the data plane's opt-in `udp`), else "relay" (DERP) once a WireGuard
   * session is up.
   */
  #pathTo(key: string): PeerPath {
    const engine = this.#engine;
    if (!engine) return "none";
    let nodeKey: NodePublicKey;
    try {
      nodeKey = NodePublicKey.parse(key);
    } catch {
      return "none";
    }
    if (engine.directPath(nodeKey)) return "direct";
    return engine.hasSession(nodeKey) ? "relay" : "none";
  }

  /** A typed control ping (control reference §10.6): our ping of `ip`, as a `PingResponse`. */
  async #controlPing(ip: string, type: ControlPingType, timeoutMs: number): Promise<PingResponse> {
    const response: PingResponse = { Type: type, IP: ip };
    const self = this.#session.netmap.selfAddresses();
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

  #warnQuietly(message: string): void {
    this.#emitQuietly({ kind: "warning", message });
  }

  #emitQuietly(event: NodeEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A listener's failure is not the node's.
    }
  }

  /** Replaces the engine with one for the session's current node key. */
  async #restartDataPlane(): Promise<void> {
    const old = this.#engine;
    const options = this.#options.dataPlane;
    if (!old || !options || this.#session.signal.aborted) return;
    this.#engine = null;
    await old.close();
    await this.#startDataPlane(options);
  }

  /**
   * Starts the engine on the current netmap (the cached one, before Nexus
   * answers), then tells Nexus our home DERP region (`NetInfo.PreferredDERP`,
   * data-plane reference §3.9). A data plane that cannot start (DERP
   * unreachable) does not take the node down: it is reported as a warning
   * and retried in the background.
   */
  async #startDataPlane(options: NodeDataPlaneOptions): Promise<void> {
    const nodeKey = this.#session.nodeKey!;
    const engine = new Engine({
      ...options,
      onNetcheck: (report) => {
        options.onNetcheck?.(report);
        this.#session.announceNetwork().catch((err) =>
          this.#warnQuietly(`netcheck: ${err.message}`)
        );
      },
      onEvent: (event) => {
        // A home that moved after start (failover, a new DERP map, netcheck) is told to Nexus.
        if (event.kind === "derp-home" && event.reason !== "start") {
          this.#session.announceHomeDERP(event.region).catch((err) =>
            this.#warnQuietly(`telling Nexus the new home DERP: ${err.message}`)
          );
        }
        if (event.kind.startsWith("derp-")) {
          this.#emitQuietly({ kind: "derp", event: event as DerpLinkEvent });
        }
        options.onEvent?.(event);
      },
      nodeKey,
      discoKey: this.#discoKey,
      clock: this.#clock,
      random: this.#random,
    });
    this.#engine = engine;
    engine.setNetmap(dataPlaneNetmap(this.#session.netmap));
    await engine.startInBackground({
      signal: this.#session.signal,
      onStarted: (region) => this.#session.announceHomeDERP(region),
      onRetry: (err) => this.#warnQuietly(`data plane: ${err.message}; retrying in the background`),
    });
  }
}
