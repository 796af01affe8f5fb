/**
 * The DERP side of magicsock (data-plane reference §3.8): a connection per
 * DERP region in use, as tailscaled's `wgengine/magicsock/derp.go` keeps
 * them. DERP servers of different regions do not forward to each other, so
 * a packet must go through the region its peer is connected to:
 *
 * - The **home** connection (our `PreferredDERP`) is kept open for good,
 *   reconnecting with backoff. The caller chooses home ({@link DerpLinks.setHome},
 *   e.g. from netcheck); until it does, the preferred region or the first of
 *   the caller's order or the lowest ID is home.
 * - A send to a peer goes through the peer's home region: over an open
 *   connection to it; else over an open connection the peer was last heard
 *   on (tailscaled's `derpRoute`, which also serves peers whose home is
 *   unknown); else over a new connection to the peer's home, opened on
 *   demand; else through our home.
 * - A non-home connection with no writes for 60 s is closed, checked every
 *   15 s (`derpInactiveCleanupTime`, `derpCleanStaleInterval`).
 * - At most {@link DEFAULT_MAX_DERP_REGIONS} connections are open; opening
 *   one more closes the non-home one written to least recently. tailscaled
 *   has no such bound; ours keeps a netmap from opening a connection per
 *   region of a large map.
 * - When the home region fails ({@link HOME_FAILOVER_AFTER_FAILURES}
 *   connects in a row), home moves to the next region of the caller's order
 *   (netcheck's latencies) that is not failing, and a `derp-home` event
 *   says so, for the node to tell Nexus. tailscaled leaves this to its next
 *   netcheck; a node without working netcheck (UDP blocked) would otherwise
 *   stay unreachable.
 *
 * Frames from every connection go to one callback with their region. The
 * route a peer was heard on is remembered only for netmap peers (the
 * `isPeer` option), so that keys from the wire do not grow the table.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import type { DERPMap, DERPNode, DERPRegion } from "../control/map_response.ts";
import type { NodePrivateKey, NodePublicKey } from "../crypto/keys.ts";
import type { RandomSource } from "../crypto/random.ts";
import { DerpClient, type DerpMessage } from "../derp/derp_client.ts";
import type { ProxyConfig } from "../proxy/proxy_config.ts";
import {
  derpDialAddress,
  derpNodesOf,
  derpNodeURL,
  derpTLSName,
  homeCandidates,
  NoDerpRegionError,
  usableRegion,
} from "./derp_home.ts";
import {
  type DerpConnector,
  DerpRegionLink,
  type DerpRegionLinkHooks,
} from "./derp_region_link.ts";

/** A non-home connection idle this long is closed (`derpInactiveCleanupTime`, §3.8). */
export const DERP_INACTIVE_CLEANUP_MS = 60_000;
/** How often idle connections are looked for while some are open (`derpCleanStaleInterval`). */
export const DERP_CLEAN_STALE_INTERVAL_MS = 15_000;
/** Connect failures in a row after which home moves to another region. */
export const HOME_FAILOVER_AFTER_FAILURES = 3;
/** Open DERP connections at most, home included. */
export const DEFAULT_MAX_DERP_REGIONS = 16;
/** How many regions {@link DerpLinks.start} tries before giving up. */
export const HOME_START_CANDIDATES = 3;
/** Peers whose DERP route is remembered at most. */
const MAX_DERP_ROUTES = 65_536;

/** Why home changed. */
export type DerpHomeReason = "start" | "set" | "failover" | "map-changed";

/** What {@link DerpLinks} reports, for logs, tests and the node. */
export type DerpLinkEvent =
  | { kind: "derp-connected"; region: number; url: string; home: boolean }
  | { kind: "derp-lost"; region: number; error: string; retryInMs: number }
  | {
    kind: "derp-connect-failed";
    region: number;
    error: string;
    failures: number;
    retryInMs: number;
  }
  | { kind: "derp-closed"; region: number; reason: "idle" | "evicted" | "map-changed" }
  | { kind: "derp-home"; region: number; previous: number | undefined; reason: DerpHomeReason };

/** One open region, as {@link DerpLinks.regions} reports it. */
export interface DerpRegionState {
  /** Region ID. */
  region: number;
  /** Whether it is our home. */
  home: boolean;
  /** Whether its connection is up. */
  connected: boolean;
  /** Milliseconds since the last write asked of it. */
  idleMs: number;
  /** Writes waiting for the connection. */
  queued: number;
}

/** Counters summed over every connection, closed ones included. */
export interface DerpLinksStats {
  /** Packets handed to a DERP connection. */
  sent: number;
  /** Packets dropped from a full write queue. */
  queueDrops: number;
  /** Writes that failed on the connection. */
  sendErrors: number;
}

/** Options of {@link DerpLinks}. */
export interface DerpLinksOptions {
  /** Our node key: our DERP address. */
  nodeKey: NodePrivateKey;
  /** Time and timers. */
  clock: Clock;
  /** Randomness for the DERP handshake. */
  random: RandomSource;
  /** Extra trusted CA certificates (PEM) for `https:` DERP servers. */
  caCerts?: string[];
  /** HTTP proxy settings; a DERP server's proxy, if any, carries its connection. */
  proxy?: ProxyConfig;
  /** Dial DERP over plain HTTP (tailscaled's `TS_DEBUG_USE_DERP_HTTP`). */
  plainHTTPDerp?: boolean;
  /** The region to make home at start when the DERP map offers it. */
  preferredRegion?: number;
  /** Overrides the URL dialled for a region's node (tests). */
  derpURL?: (node: DERPNode, region: DERPRegion) => URL | string;
  /** Opens connections (tests); DERP clients to the region's nodes by default. */
  connect?: DerpConnector;
  /** Whether a node key belongs to a netmap peer (only theirs get a remembered route). */
  isPeer?: (key: NodePublicKey) => boolean;
  /** Open connections at most (default {@link DEFAULT_MAX_DERP_REGIONS}). */
  maxRegions?: number;
  /** Receives every frame, with the region it came through. */
  onMessage: (message: DerpMessage, region: number) => void;
  /** Receives connection and home events. */
  onEvent?: (event: DerpLinkEvent) => void;
}

/** Whether two region definitions dial the same nodes the same way. */
function sameNodes(a: DERPRegion, b: DERPRegion): boolean {
  return JSON.stringify(a.Nodes ?? []) === JSON.stringify(b.Nodes ?? []);
}

/**
 * The DERP connections of one data plane.
 *
 * @example
 * ```ts
 * const derp = new DerpLinks({ nodeKey, clock, random, onMessage, onEvent });
 * const home = await derp.start(derpMap);
 * derp.send(peer.nodeKey, datagram, peer.homeDERP);
 * derp.setHome(netcheckReport.preferredDERP);
 * await derp.close();
 * ```
 */
export class DerpLinks {
  readonly #options: DerpLinksOptions;
  readonly #clock: Clock;
  readonly #connect: DerpConnector;
  readonly #links = new Map<number, DerpRegionLink>();
  readonly #routes = new Map<string, DerpRegionLink>();
  readonly #closedStats: DerpLinksStats = { sent: 0, queueDrops: 0, sendErrors: 0 };
  readonly #hooks: DerpRegionLinkHooks;
  #map: DERPMap | null = null;
  #order: readonly number[] = [];
  #home: number | undefined;
  /** A home asked for before start. */
  #wantedHome: number | undefined;
  #started = false;
  #closed = false;
  #cleanup: TimerHandle | undefined;

  /** Links that connect nowhere until {@link DerpLinks.start}. */
  constructor(options: DerpLinksOptions) {
    this.#options = options;
    this.#clock = options.clock;
    this.#connect = options.connect ??
      ((region, preferred, signal) => this.#dialRegion(region, preferred, signal));
    this.#hooks = {
      onConnected: (link, url) =>
        this.#emit({ kind: "derp-connected", region: link.regionID, url, home: link.preferred }),
      onMessage: (link, message) => this.#onMessage(link, message),
      onLost: (link, error, retryInMs) => {
        this.#forgetRoutes(link);
        this.#emit({ kind: "derp-lost", region: link.regionID, error: error.message, retryInMs });
      },
      onConnectFailed: (link, error, failures, retryInMs) => {
        this.#emit({
          kind: "derp-connect-failed",
          region: link.regionID,
          error: error.message,
          failures,
          retryInMs,
        });
        if (
          link.regionID === this.#home && failures >= HOME_FAILOVER_AFTER_FAILURES &&
          this.#links.get(link.regionID) === link
        ) {
          this.#failover(link.regionID);
        }
      },
    };
  }

  /** Our home region ID, once started. */
  get homeRegion(): number | undefined {
    return this.#home;
  }

  /** Whether the connection to the home region is up right now. */
  get connected(): boolean {
    return this.#home !== undefined && !!this.#links.get(this.#home)?.connected;
  }

  /** Whether {@link DerpLinks.start} has succeeded. */
  get started(): boolean {
    return this.#started;
  }

  /** Counters over every connection so far. */
  get stats(): DerpLinksStats {
    const out = { ...this.#closedStats };
    for (const link of this.#links.values()) {
      out.sent += link.stats.sent;
      out.queueDrops += link.stats.queueDrops;
      out.sendErrors += link.stats.sendErrors;
    }
    return out;
  }

  /** The open regions, home first, then by ID. */
  regions(): DerpRegionState[] {
    const now = this.#clock.monotonic();
    return [...this.#links.values()]
      .map((link) => ({
        region: link.regionID,
        home: link.regionID === this.#home,
        connected: link.connected,
        idleMs: now - link.lastWriteAt,
        queued: link.queued,
      }))
      .sort((a, b) => Number(b.home) - Number(a.home) || a.region - b.region);
  }

  /**
   * Connects home and keeps it until {@link DerpLinks.close}: the preferred
   * region, else the first of the order, else the lowest ID; when that
   * connect fails, the next candidates (at most {@link HOME_START_CANDIDATES}
   * in all). Resolves with the home region ID; throws `NoDerpRegionError`,
   * the first candidate's connect error, or the signal's reason.
   */
  async start(derpMap: DERPMap, signal?: AbortSignal): Promise<number> {
    if (this.#started || this.#closed) throw new Error("DerpLinks: already started or closed");
    this.#map = derpMap;
    const preferred = this.#wantedHome ?? this.#options.preferredRegion;
    const candidates = homeCandidates(derpMap, preferred, this.#order);
    if (candidates.length === 0) throw new NoDerpRegionError();
    let firstError: unknown;
    for (const region of candidates.slice(0, HOME_START_CANDIDATES)) {
      signal?.throwIfAborted();
      const link = this.#open(region, true);
      this.#home = region.RegionID;
      const onAbort = () => void this.#closeLink(link);
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        await link.firstAttempt;
        this.#started = true;
        this.#emit({
          kind: "derp-home",
          region: region.RegionID,
          previous: undefined,
          reason: "start",
        });
        return region.RegionID;
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        firstError ??= error;
        this.#home = undefined;
        await this.#closeLink(link);
        if (this.#closed) throw firstError;
      } finally {
        signal?.removeEventListener("abort", onAbort);
      }
    }
    throw firstError;
  }

  /**
   * Makes `region` home (netcheck's `PreferredDERP`): NotePreferred moves
   * to it, and it is connected now if it was not. Returns false, changing
   * nothing, for a region the map does not offer as a home. Before
   * {@link DerpLinks.start} it only says where start should look first.
   */
  setHome(region: number): boolean {
    return this.#setHome(region, "set");
  }

  /**
   * The caller's ranking of regions, best first (netcheck's latencies):
   * where home goes when it fails, and where a (re)start looks first after
   * the preferred region.
   */
  setRegionOrder(regions: readonly number[]): void {
    this.#order = [...regions];
  }

  /**
   * Takes a new DERP map: connections to regions that are gone or whose
   * nodes changed are closed (tailscaled's "derp-region-redefined"); a
   * redefined home reconnects, a vanished home moves to the next region.
   */
  setDerpMap(derpMap: DERPMap | null): void {
    this.#map = derpMap;
    if (!this.#started || this.#closed) return;
    const regions = derpMap?.Regions ?? {};
    let homeGone = false;
    for (const link of [...this.#links.values()]) {
      const next = regions[String(link.regionID)] ?? undefined;
      if (next && sameNodes(next, link.region)) {
        link.updateRegion(next);
        continue;
      }
      const wasHome = link.regionID === this.#home;
      void this.#closeLink(link);
      this.#emit({ kind: "derp-closed", region: link.regionID, reason: "map-changed" });
      if (!wasHome) continue;
      if (usableRegion(next)) this.#open(next, true);
      else homeGone = true;
    }
    if (homeGone) {
      const previous = this.#home!;
      this.#home = undefined;
      const next = homeCandidates(derpMap, undefined, this.#order)[0];
      if (next) this.#setHome(next.RegionID, "map-changed", previous);
    }
  }

  /**
   * Sends one payload to `to`, whose home region is `peerRegion` (0 or
   * undefined when unknown), by the rules in the module notes. Returns
   * false when there is no connection at all to carry it (not started,
   * closed); a packet queued for a connection being opened counts as sent.
   */
  send(to: NodePublicKey, payload: Uint8Array, peerRegion?: number): boolean {
    if (!this.#started || this.#closed) return false;
    const region = peerRegion && this.#map?.Regions?.[String(peerRegion)] ? peerRegion : 0;
    const direct = region ? this.#links.get(region) : undefined;
    if (direct) {
      direct.write(to, payload);
      return true;
    }
    const heard = this.#routes.get(to.toText());
    if (heard && this.#links.get(heard.regionID) === heard) {
      heard.write(to, payload);
      return true;
    }
    const opened = region ? this.#openOnDemand(region) : undefined;
    const link = opened ?? (this.#home !== undefined ? this.#links.get(this.#home) : undefined);
    if (!link) return false;
    link.write(to, payload);
    return true;
  }

  /** Closes every connection and stops the cleanup timer. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopCleanup();
    await Promise.all([...this.#links.values()].map((link) => this.#closeLink(link)));
  }

  #emit(event: DerpLinkEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A listener's failure is not the data plane's.
    }
  }

  #open(region: DERPRegion, home: boolean): DerpRegionLink {
    const link = new DerpRegionLink({
      region,
      preferred: home,
      clock: this.#clock,
      connect: this.#connect,
      hooks: this.#hooks,
    });
    this.#links.set(region.RegionID, link);
    if (!home) this.#scheduleCleanup();
    return link;
  }

  async #closeLink(link: DerpRegionLink): Promise<void> {
    if (this.#links.get(link.regionID) === link) this.#links.delete(link.regionID);
    this.#forgetRoutes(link);
    const closing = link.close();
    this.#closedStats.sent += link.stats.sent;
    this.#closedStats.queueDrops += link.stats.queueDrops;
    this.#closedStats.sendErrors += link.stats.sendErrors;
    await closing;
  }

  #setHome(region: number, reason: DerpHomeReason, previous = this.#home): boolean {
    if (this.#closed) return false;
    if (!this.#started) {
      // Checked against the map when start() chooses home.
      this.#wantedHome = region;
      return true;
    }
    const next = this.#map?.Regions?.[String(region)];
    if (!usableRegion(next)) return false;
    if (region === this.#home) return true;
    const old = this.#home !== undefined ? this.#links.get(this.#home) : undefined;
    this.#home = region;
    old?.setPreferred(false);
    const link = this.#links.get(region);
    if (link) link.setPreferred(true);
    else this.#open(next, true);
    // The old home is now an ordinary connection: it stays while written to.
    if (old) {
      old.lastWriteAt = this.#clock.monotonic();
      this.#scheduleCleanup();
    }
    this.#emit({ kind: "derp-home", region, previous, reason });
    return true;
  }

  /** Home `failed` has failed to connect too often: move to the best region that is not failing. */
  #failover(failed: number): void {
    const failing = (id: number) =>
      (this.#links.get(id)?.consecutiveFailures ?? 0) >= HOME_FAILOVER_AFTER_FAILURES;
    const next = homeCandidates(this.#map, undefined, this.#order)
      .find((region) => region.RegionID !== failed && !failing(region.RegionID));
    if (next) this.#setHome(next.RegionID, "failover");
  }

  /** A connection to `region` for a peer homed there; may close the idlest to stay in bounds. */
  #openOnDemand(region: number): DerpRegionLink | undefined {
    const definition = this.#map?.Regions?.[String(region)];
    if (!definition || derpNodesOf(definition).length === 0) return undefined;
    const max = Math.max(1, this.#options.maxRegions ?? DEFAULT_MAX_DERP_REGIONS);
    if (this.#links.size >= max) {
      let idlest: DerpRegionLink | undefined;
      for (const link of this.#links.values()) {
        if (link.regionID === this.#home) continue;
        if (!idlest || link.lastWriteAt < idlest.lastWriteAt) idlest = link;
      }
      if (!idlest) return undefined;
      void this.#closeLink(idlest);
      this.#emit({ kind: "derp-closed", region: idlest.regionID, reason: "evicted" });
    }
    return this.#open(definition, false);
  }

  #onMessage(link: DerpRegionLink, message: DerpMessage): void {
    if (message.type === "packet") {
      const text = message.src.toText();
      if (
        this.#routes.get(text) !== link && (this.#options.isPeer?.(message.src) ?? false) &&
        (this.#routes.has(text) || this.#routes.size < MAX_DERP_ROUTES)
      ) {
        this.#routes.set(text, link);
      }
    } else if (message.type === "peerGone") {
      const text = message.peer.toText();
      if (this.#routes.get(text) === link) this.#routes.delete(text);
    }
    this.#options.onMessage(message, link.regionID);
  }

  #forgetRoutes(link: DerpRegionLink): void {
    for (const [key, via] of this.#routes) if (via === link) this.#routes.delete(key);
  }

  #scheduleCleanup(): void {
    if (this.#cleanup !== undefined || this.#closed) return;
    this.#cleanup = this.#clock.setTimeout(() => {
      this.#cleanup = undefined;
      this.#cleanStale();
    }, DERP_CLEAN_STALE_INTERVAL_MS);
  }

  #stopCleanup(): void {
    if (this.#cleanup !== undefined) this.#clock.clearTimeout(this.#cleanup);
    this.#cleanup = undefined;
  }

  /** Closes non-home connections idle past {@link DERP_INACTIVE_CLEANUP_MS} (`cleanStaleDerp`). */
  #cleanStale(): void {
    if (this.#closed) return;
    const tooOld = this.#clock.monotonic() - DERP_INACTIVE_CLEANUP_MS;
    let someOpen = false;
    for (const link of [...this.#links.values()]) {
      if (link.regionID === this.#home) continue;
      if (link.lastWriteAt < tooOld) {
        void this.#closeLink(link);
        this.#emit({ kind: "derp-closed", region: link.regionID, reason: "idle" });
      } else {
        someOpen = true;
      }
    }
    if (someOpen) this.#scheduleCleanup();
  }

  /** Dials the region's relaying nodes in order until one connects (`dialRegion`, §3.1). */
  async #dialRegion(
    region: DERPRegion,
    preferred: boolean,
    signal: AbortSignal,
  ): Promise<{ connection: DerpClient; url: string }> {
    const options = this.#options;
    const nodes = derpNodesOf(region);
    if (nodes.length === 0) {
      throw new NoDerpRegionError(`DERP region ${region.RegionID} has no relay node`);
    }
    let firstError: unknown;
    for (const node of nodes) {
      signal.throwIfAborted();
      const custom = options.derpURL?.(node, region);
      const url = custom ?? derpNodeURL(node, options.plainHTTPDerp);
      const dialHostname = custom ? undefined : derpDialAddress(node);
      if (dialHostname === null) {
        firstError ??= new NoDerpRegionError(
          `DERP node ${node.Name} has both IPv4 and IPv6 switched off`,
        );
        continue;
      }
      try {
        const connection = await DerpClient.connect({
          url,
          nodeKey: options.nodeKey,
          caCerts: options.caCerts,
          proxy: options.proxy,
          dialHostname,
          tlsServerName: custom ? undefined : derpTLSName(node),
          idealNode: node === nodes[0] ? undefined : region.Nodes?.[0]?.Name,
          preferred,
          clock: options.clock,
          random: options.random,
          signal,
        });
        return { connection, url: String(url) };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        firstError ??= error;
      }
    }
    throw firstError;
  }
}
