/**
 * The node facade: one mesh identity, as tsnet's `Server` is the only thing
 * its callers hold. It puts together a control session
 * (control/control_session.ts: login, the map poll, the saved state) and,
 * when asked, a data plane (node_data_plane.ts over engine/: magicsock,
 * WireGuard, the packet pipeline, the TCP/UDP stack), and answers queries
 * from their netmap. Several nodes, each with its own store, can live in one
 * process.
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
import type { DERPMap } from "./control/map_response.ts";
import { DiscoPrivateKey } from "./crypto/keys.ts";
import { type RandomSource, systemRandom } from "./crypto/random.ts";
import type { Engine } from "./engine/engine.ts";
import type { ConnectOptions as DialOptions, ListenOptions } from "./netstack/netstack.ts";
import type { TcpConn } from "./netstack/socket/tcp_conn.ts";
import type { TcpListener } from "./netstack/socket/tcp_listener.ts";
import type { UdpSocket } from "./netstack/socket/udp_socket.ts";
import { NodeDataPlane, type NodeDataPlaneOptions } from "./node_data_plane.ts";
import { peerStatuses, whoisAddress } from "./node_queries.ts";
import type {
  ConnectResult,
  NodeEvent,
  NodeStatus,
  PeerStatus,
  PingOptions,
  PingResult,
  WhoIs,
} from "./node_types.ts";
import { DataPlaneNotStartedError } from "./node_errors.ts";

export type { NodeDataPlaneOptions } from "./node_data_plane.ts";

/** Options of {@link CitadelNode}: who it is and how it logs in, plus these. */
export interface CitadelNodeOptions extends ControlLoginOptions {
  /** Called with progress and netmap-change events. */
  onEvent?: (event: NodeEvent) => void;
  /** Time and timers. */
  clock?: Clock;
  /** Randomness for keys and jitter. */
  random?: RandomSource;
  /**
   * Opt-in: start the data plane (WireGuard over DERP, disco, the TCP/UDP
   * stack) with these options; none when absent. Its own `udp` adds direct
   * UDP paths, whose endpoints are then sent to Nexus in map requests.
   */
  dataPlane?: NodeDataPlaneOptions;
}

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
  readonly #session: ControlSession;
  readonly #dataPlane: NodeDataPlane | null;
  #started = false;

  /** Makes a node; nothing happens until {@link CitadelNode.start}. */
  constructor(options: CitadelNodeOptions) {
    this.#options = options;
    const clock = options.clock ?? systemClock;
    const random = options.random ?? systemRandom;
    const discoKey = DiscoPrivateKey.generate(random);
    const emit = (event: NodeEvent) => {
      try {
        options.onEvent?.(event);
      } catch {
        // A listener's failure is not the node's.
      }
    };
    this.#session = new ControlSession({
      ...options,
      onEvent: emit,
      onNetmap: (change) => {
        if (
          change.fullMap || change.selfChanged || change.derpMapChanged || change.filterChanged ||
          change.peersAdded.length + change.peersRemoved.length + change.peersUpdated.length > 0
        ) {
          this.#dataPlane?.refreshNetmap();
        }
      },
      clock,
      random,
      discoKey: discoKey.publicKey(),
      endpoints: () =>
        this.#engine?.endpoints().map((e) => ({ addr: e.addr.key, type: e.type })) ?? [],
      netInfo: () => this.#engine?.netInfo(),
      pinger: () =>
        this.#engine
          ? (ip, type, timeoutMs) => this.#dataPlane!.controlPing(ip, type, timeoutMs)
          : null,
      // A login with a new node key (Nexus expired the old one) needs a new WireGuard identity.
      onLogin: (nodeKey) => this.#dataPlane?.noteLogin(nodeKey.publicKey()),
    });
    this.#dataPlane = options.dataPlane
      ? new NodeDataPlane({
        options: options.dataPlane,
        session: this.#session,
        discoKey,
        clock,
        random,
        emit,
      })
      : null;
  }

  get #engine(): Engine | null {
    return this.#dataPlane?.engine ?? null;
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
      const dataPlane = this.#dataPlane;
      // From saved state, the data plane starts on the cached netmap while Nexus is asked.
      const early = dataPlane && await this.#session.load() ? dataPlane.start() : undefined;
      const { newlyRegistered } = await this.#session.start(signal);
      await (early ?? dataPlane?.start());
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
      dataPlane: this.#dataPlane?.status() ?? null,
    };
  }

  /** Visible peers, sorted by node ID. */
  peers(): PeerStatus[] {
    return peerStatuses(
      this.#session.netmap,
      (node) => this.#dataPlane?.peerStatus(node) ?? { path: "none" },
    );
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
   * Pings a peer through the data plane and resolves with the round trip:
   * ICMP echo by default, or TSMP or disco (`options.type`). `target` is a
   * mesh IP, or a peer's name or hostname (exact match first, then
   * case-insensitive); the ping goes to its IPv4 address when it has one.
   * Throws `PeerNotFoundError`, `PingTimeoutError` (no reply within
   * `timeoutMs`, default 5 s), {@link DataPlaneNotStartedError}, or the
   * signal's reason when aborted.
   *
   * @example
   * ```ts
   * const { latencyMs, path } = await node.ping("peer-b", { timeoutMs: 2000 });
   * ```
   */
  ping(target: string, options: PingOptions = {}): Promise<PingResult> {
    if (!this.#dataPlane) return Promise.reject(new DataPlaneNotStartedError("ping"));
    return this.#dataPlane.ping(target, options);
  }

  /**
   * Accepts TCP connections to `port` on this node's mesh addresses, and
   * only there: nothing listens on the host. The packet filter admits (or
   * not) each connection before the stack sees it.
   *
   * @example
   * ```ts
   * for await (const conn of node.listen(8080)) conn.readable.pipeTo(conn.writable);
   * ```
   */
  listen(port: number, options?: ListenOptions): TcpListener {
    if (!this.#dataPlane) throw new DataPlaneNotStartedError("listen");
    return this.#dataPlane.listen(port, options);
  }

  /**
   * Opens a TCP connection to `port` on a peer: `host` is its mesh IP, name,
   * hostname or MagicDNS name, resolved from the netmap in this process.
   * Throws `PeerNotFoundError`, `Deno.errors.ConnectionRefused`,
   * `Deno.errors.TimedOut`, {@link DataPlaneNotStartedError}.
   *
   * @example
   * ```ts
   * const conn = await node.dial("db-host", 5432);
   * ```
   */
  dial(host: string, port: number, options?: DialOptions): Promise<TcpConn> {
    if (!this.#dataPlane) return Promise.reject(new DataPlaneNotStartedError("dial"));
    return this.#dataPlane.dial(host, port, options);
  }

  /** Receives and sends UDP datagrams on `port` of this node's mesh addresses. */
  listenPacket(port: number): UdpSocket {
    if (!this.#dataPlane) throw new DataPlaneNotStartedError("listenPacket");
    return this.#dataPlane.listenPacket(port);
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
    await this.#dataPlane?.close();
  }

  /**
   * Logs out: asks Nexus to expire the node key, stops, and clears the
   * store. A node Nexus no longer knows counts as logged out.
   */
  async logout(signal?: AbortSignal): Promise<void> {
    await this.#session.logout(signal);
    await this.#dataPlane?.close();
  }
}
