/**
 * The network map: the state a map stream builds up, one `MapResponse` at a
 * time (reference §10, §15 step 8). Pure: no I/O; the time for
 * `PeerSeenChange` comes from an injected {@link Clock}.
 *
 * Each {@link Netmap.apply} returns a {@link NetmapChange} saying what moved,
 * so callers can log netmap changes and react to pings. A map stream's first
 * non-keep-alive message is a full snapshot: after {@link Netmap.startStream}
 * (and initially) that message replaces all state, so peers restored from the
 * cache by {@link Netmap.restore} that the server no longer lists disappear.
 *
 * Node objects held and returned here are never mutated (patches copy), so
 * callers may keep them; they must not change them either.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { formatGoTime, isGoZeroTime, parseGoTime } from "./go_time.ts";
import type {
  ClientVersion,
  ControlDialPlan,
  Debug,
  DERPMap,
  DisplayMessage,
  DNSConfig,
  FilterRule,
  MapResponse,
  Node,
  NodeID,
  SSHPolicy,
  TKAInfo,
  UserID,
  UserProfile,
} from "./map_response.ts";
import {
  type NodeAddresses,
  nodeAddresses,
  nodeShortName,
  type PeerSummary,
  summarizeNode,
} from "./node_summary.ts";
import { NetmapError } from "./control_errors.ts";
import { emptyNetmapChange, type NetmapChange } from "./netmap_change.ts";
import {
  applyNamedEntries,
  byNumber,
  flattenFilters,
  jsonEqual,
  mergeDERPMap,
  nodeIDFromKey,
  normalizeNode,
  patchPeer,
} from "./netmap_nodes.ts";
import { type NetmapSnapshot, parseNetmapSnapshot, SNAPSHOT_VERSION } from "./netmap_snapshot.ts";

// What callers of the netmap use, from the modules that hold it.
export { NetmapError, type NetmapErrorCode } from "./control_errors.ts";
export {
  describeNetmapChange,
  emptyNetmapChange,
  type NetmapChange,
  netmapChanged,
} from "./netmap_change.ts";
export { mergeDERPMap, normalizeNode } from "./netmap_nodes.ts";
export { type NetmapSnapshot, parseNetmapSnapshot } from "./netmap_snapshot.ts";

/** The named filter chunk the legacy `PacketFilter` field stands for (reference §10.1). */
const BASE_FILTER = "base";

/** Options for {@link Netmap}. */
export interface NetmapOptions {
  /** Time source for `PeerSeenChange` (only `now` is used); defaults to the system clock. */
  clock?: Pick<Clock, "now">;
}

/** The network map of one node. */
export class Netmap {
  readonly #clock: Pick<Clock, "now">;
  #self: Node | null = null;
  #peers = new Map<NodeID, Node>();
  #sortedPeers: Node[] | null = null;
  #derpMap: DERPMap | null = null;
  #filterChunks = new Map<string, FilterRule[]>();
  #packetFilter: FilterRule[] | null = null;
  #dnsConfig: DNSConfig | null = null;
  #domain = "";
  #userProfiles = new Map<UserID, UserProfile>();
  #collectServices = false;
  #sshPolicy: SSHPolicy | null = null;
  #health: string[] | null = null;
  #displayMessages = new Map<string, DisplayMessage>();
  #tkaInfo: TKAInfo | null = null;
  #controlTime: string | null = null;
  #domainAuditLogID = "";
  #debug: Debug | null = null;
  #controlDialPlan: ControlDialPlan | null = null;
  #clientVersion: ClientVersion | null = null;
  #lastPopBrowserURL = "";
  #awaitingFullMap = true;
  #live = false;

  /** An empty netmap, waiting for a stream's full map. */
  constructor(options: NetmapOptions = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Marks the start of a new map stream: its first non-keep-alive message is
   * taken as a full snapshot that replaces all state.
   */
  startStream(): void {
    this.#awaitingFullMap = true;
    this.#live = false;
    this.#lastPopBrowserURL = "";
  }

  /** Whether a full map has arrived on the current stream (false while only cached state is held). */
  get live(): boolean {
    return this.#live;
  }

  /**
   * Applies one message. Throws {@link NetmapError} (`initial-map-lacks-node`)
   * when a stream's first non-keep-alive message has no `Node`, leaving the
   * state untouched (the Go client aborts the poll then).
   */
  apply(response: MapResponse): NetmapChange {
    const change = emptyNetmapChange();
    if (response.PingRequest) change.pingRequest = response.PingRequest;
    if (response.PopBrowserURL && response.PopBrowserURL !== this.#lastPopBrowserURL) {
      this.#lastPopBrowserURL = response.PopBrowserURL;
      change.popBrowserURL = response.PopBrowserURL;
    }
    if (
      response.ControlTime && parseGoTime(response.ControlTime) !== null &&
      !isGoZeroTime(response.ControlTime)
    ) {
      this.#controlTime = response.ControlTime;
      change.controlTime = response.ControlTime;
    }
    if (response.KeepAlive) {
      change.keepAlive = true;
      return change;
    }

    const full = this.#awaitingFullMap;
    if (full && !response.Node) {
      throw new NetmapError("initial-map-lacks-node", "the stream's first map message lacks Node");
    }
    const before = this.#capture();
    if (full) {
      change.fullMap = true;
      this.#resetForFullMap();
      this.#awaitingFullMap = false;
      this.#live = true;
    }

    if (response.Node) this.#self = normalizeNode(response.Node);
    const touched = this.#applyPeers(response, before.peers, full);
    this.#applyUserProfiles(response.UserProfiles, before.userProfiles, change);
    if (response.DERPMap) this.#derpMap = mergeDERPMap(this.#derpMap, response.DERPMap);
    this.#applyFilters(response);
    if (response.DNSConfig) this.#dnsConfig = response.DNSConfig;
    if (response.Domain) this.#domain = response.Domain;
    if (typeof response.CollectServices === "boolean") {
      this.#collectServices = response.CollectServices;
    }
    if (response.SSHPolicy) this.#sshPolicy = response.SSHPolicy;
    if (response.Health) this.#health = response.Health;
    if (response.DisplayMessages) {
      applyNamedEntries(this.#displayMessages, response.DisplayMessages);
    }
    if (response.TKAInfo) this.#tkaInfo = response.TKAInfo;
    if (response.DomainDataPlaneAuditLogID) {
      this.#domainAuditLogID = response.DomainDataPlaneAuditLogID;
    }
    if (response.Debug) change.debug = this.#debug = response.Debug;
    if (response.ControlDialPlan) {
      change.controlDialPlan = this.#controlDialPlan = response.ControlDialPlan;
    }
    if (response.ClientVersion) change.clientVersion = this.#clientVersion = response.ClientVersion;

    change.selfChanged = !jsonEqual(before.self, this.#self);
    this.#diffPeers(touched, change);
    change.derpMapChanged = before.derpMap !== this.#derpMap &&
      !jsonEqual(before.derpMap, this.#derpMap);
    change.filterChanged = before.packetFilter !== this.#packetFilter &&
      !jsonEqual(before.packetFilter, this.#packetFilter);
    change.dnsChanged = before.dnsConfig !== this.#dnsConfig &&
      !jsonEqual(before.dnsConfig, this.#dnsConfig);
    change.domainChanged = before.domain !== this.#domain;
    change.sshPolicyChanged = before.sshPolicy !== this.#sshPolicy &&
      !jsonEqual(before.sshPolicy, this.#sshPolicy);
    change.healthChanged =
      (before.health !== this.#health && !jsonEqual(before.health, this.#health)) ||
      !jsonEqual(before.displayMessages, Object.fromEntries(this.#displayMessages));
    return change;
  }

  /** The self node, or null before the first map. */
  get self(): Node | null {
    return this.#self;
  }

  /** Number of peers. */
  get peerCount(): number {
    return this.#peers.size;
  }

  /** One peer by ID. */
  peer(id: NodeID): Node | undefined {
    return this.#peers.get(id);
  }

  /** All peers sorted by ID (the array is cached until the next change; don't modify it). */
  peers(): readonly Node[] {
    if (!this.#sortedPeers) {
      this.#sortedPeers = [...this.#peers.values()].sort((a, b) => a.ID - b.ID);
    }
    return this.#sortedPeers;
  }

  /** The merged DERP map (null regions dropped), or null before one arrived. */
  get derpMap(): DERPMap | null {
    return this.#derpMap;
  }

  /**
   * The packet filter: all named chunks concatenated in key order, or null
   * when none was ever received. An empty list blocks everything.
   */
  get packetFilter(): readonly FilterRule[] | null {
    return this.#packetFilter;
  }

  /** The named packet-filter chunks. */
  get packetFilterChunks(): ReadonlyMap<string, readonly FilterRule[]> {
    return this.#filterChunks;
  }

  /** DNS configuration, or null. */
  get dnsConfig(): DNSConfig | null {
    return this.#dnsConfig;
  }

  /** Tailnet domain, or "". */
  get domain(): string {
    return this.#domain;
  }

  /** User profiles by ID (never removed, reference §10.1). */
  get userProfiles(): ReadonlyMap<UserID, UserProfile> {
    return this.#userProfiles;
  }

  /** Whether control wants `Hostinfo.Services` reported. */
  get collectServices(): boolean {
    return this.#collectServices;
  }

  /** Tailscale SSH policy, or null. */
  get sshPolicy(): SSHPolicy | null {
    return this.#sshPolicy;
  }

  /** Health problems (old form): null unknown, `[]` healthy. */
  get health(): readonly string[] | null {
    return this.#health;
  }

  /** Structured health messages by ID. */
  get displayMessages(): ReadonlyMap<string, DisplayMessage> {
    return this.#displayMessages;
  }

  /** Tailnet-lock state, or null. */
  get tkaInfo(): TKAInfo | null {
    return this.#tkaInfo;
  }

  /** The last server clock seen, or null. */
  get controlTime(): string | null {
    return this.#controlTime;
  }

  /** The tailnet's data-plane audit-log ID, or "". */
  get domainAuditLogID(): string {
    return this.#domainAuditLogID;
  }

  /** The last debug directives, or null. */
  get debug(): Debug | null {
    return this.#debug;
  }

  /** The last control dial plan, or null. */
  get controlDialPlan(): ControlDialPlan | null {
    return this.#controlDialPlan;
  }

  /** The last update-availability notice, or null. */
  get clientVersion(): ClientVersion | null {
    return this.#clientVersion;
  }

  /** The self node's first IPv4 and IPv6 address, without prefix lengths. */
  selfAddresses(): NodeAddresses {
    return nodeAddresses(this.#self?.Addresses);
  }

  /** The self node's name: the first label of its MagicDNS name, or null. */
  nodeName(): string | null {
    return nodeShortName(this.#self?.Name);
  }

  /** ISO time the self node's key expires, or null when it never does (or no map yet). */
  keyExpiry(): string | null {
    const ms = parseGoTime(this.#self?.KeyExpiry);
    return ms === null ? null : new Date(ms).toISOString();
  }

  /** The CLI view of every peer, sorted by ID. */
  peerSummaries(): PeerSummary[] {
    return this.peers().map(summarizeNode);
  }

  /** The state as plain JSON data (shares node objects; serialise it, don't modify it). */
  snapshot(): NetmapSnapshot {
    return {
      version: SNAPSHOT_VERSION,
      self: this.#self,
      peers: [...this.peers()],
      derpMap: this.#derpMap,
      packetFilters: Object.fromEntries(this.#filterChunks),
      dnsConfig: this.#dnsConfig,
      domain: this.#domain,
      userProfiles: [...this.#userProfiles.values()].sort((a, b) => a.ID - b.ID),
      collectServices: this.#collectServices,
      sshPolicy: this.#sshPolicy,
      health: this.#health,
      displayMessages: Object.fromEntries(this.#displayMessages),
      tkaInfo: this.#tkaInfo,
      controlTime: this.#controlTime,
    };
  }

  /**
   * Rebuilds a netmap from {@link Netmap.snapshot} data (e.g. parsed from
   * the state cache). It is not {@link Netmap.live}: the next stream's full
   * map replaces it. Throws {@link NetmapError} (`bad-snapshot`).
   */
  static restore(snapshot: unknown, options: NetmapOptions = {}): Netmap {
    const saved = parseNetmapSnapshot(snapshot);
    const netmap = new Netmap(options);
    netmap.#self = saved.self;
    for (const peer of saved.peers) netmap.#peers.set(peer.ID, peer);
    netmap.#derpMap = saved.derpMap;
    for (const [name, rules] of Object.entries(saved.packetFilters)) {
      netmap.#filterChunks.set(name, rules);
    }
    if (netmap.#filterChunks.size > 0) netmap.#packetFilter = flattenFilters(netmap.#filterChunks);
    netmap.#dnsConfig = saved.dnsConfig;
    netmap.#domain = saved.domain;
    for (const profile of saved.userProfiles) netmap.#userProfiles.set(profile.ID, profile);
    netmap.#collectServices = saved.collectServices;
    netmap.#sshPolicy = saved.sshPolicy;
    netmap.#health = saved.health;
    for (const [id, message] of Object.entries(saved.displayMessages)) {
      netmap.#displayMessages.set(id, message);
    }
    netmap.#tkaInfo = saved.tkaInfo;
    netmap.#controlTime = saved.controlTime;
    return netmap;
  }

  #capture() {
    return {
      self: this.#self,
      peers: this.#peers,
      derpMap: this.#derpMap,
      packetFilter: this.#packetFilter,
      dnsConfig: this.#dnsConfig,
      domain: this.#domain,
      userProfiles: this.#userProfiles,
      sshPolicy: this.#sshPolicy,
      health: this.#health,
      displayMessages: Object.fromEntries(this.#displayMessages),
    };
  }

  /** A new stream starts from nothing (reference §10.1); the old containers stay with the capture. */
  #resetForFullMap(): void {
    this.#self = null;
    this.#peers = new Map();
    this.#sortedPeers = null;
    this.#derpMap = null;
    this.#filterChunks = new Map();
    this.#packetFilter = null;
    this.#dnsConfig = null;
    this.#domain = "";
    this.#userProfiles = new Map();
    this.#collectServices = false;
    this.#sshPolicy = null;
    this.#health = null;
    this.#displayMessages = new Map();
    this.#tkaInfo = null;
    this.#domainAuditLogID = "";
  }

  /**
   * Peer deltas in the Go client's order. Returns the touched IDs with their
   * node before this message (undefined = absent), for the diff.
   */
  #applyPeers(
    response: MapResponse,
    beforePeers: Map<NodeID, Node>,
    full: boolean,
  ): Map<NodeID, Node | undefined> {
    const touched = new Map<NodeID, Node | undefined>();
    const touch = (id: NodeID) => {
      if (!touched.has(id)) touched.set(id, beforePeers.get(id));
    };
    if (full) { for (const id of beforePeers.keys()) touch(id); }

    if (response.Peers && response.Peers.length > 0) {
      // A full list replaces everything and precludes the other peer deltas.
      for (const id of this.#peers.keys()) touch(id);
      const next = new Map<NodeID, Node>();
      for (const node of response.Peers) {
        touch(node.ID);
        next.set(node.ID, normalizeNode(node));
      }
      this.#peers = next;
      this.#sortedPeers = null;
      return touched;
    }

    for (const id of response.PeersRemoved ?? []) {
      if (this.#peers.has(id)) {
        touch(id);
        this.#peers.delete(id);
      }
    }
    for (const node of response.PeersChanged ?? []) {
      touch(node.ID);
      this.#peers.set(node.ID, normalizeNode(node));
    }
    for (const [key, seen] of Object.entries(response.PeerSeenChange ?? {})) {
      const id = nodeIDFromKey(key);
      const peer = id === null ? undefined : this.#peers.get(id);
      if (peer === undefined || id === null) continue;
      touch(id);
      const next = { ...peer };
      if (seen) next.LastSeen = formatGoTime(this.#clock.now());
      else delete next.LastSeen;
      this.#peers.set(id, next);
    }
    for (const [key, online] of Object.entries(response.OnlineChange ?? {})) {
      const id = nodeIDFromKey(key);
      const peer = id === null ? undefined : this.#peers.get(id);
      if (peer === undefined || id === null) continue;
      touch(id);
      this.#peers.set(id, { ...peer, Online: online });
    }
    for (const patch of response.PeersChangedPatch ?? []) {
      const peer = this.#peers.get(patch.NodeID);
      if (peer === undefined) continue;
      touch(patch.NodeID);
      this.#peers.set(patch.NodeID, patchPeer(peer, patch));
    }
    if (touched.size > 0) this.#sortedPeers = null;
    return touched;
  }

  #diffPeers(touched: Map<NodeID, Node | undefined>, change: NetmapChange): void {
    for (const [id, old] of touched) {
      const now = this.#peers.get(id);
      if (old === undefined) {
        if (now !== undefined) change.peersAdded.push(id);
      } else if (now === undefined) {
        change.peersRemoved.push(id);
      } else if (old !== now && !jsonEqual(old, now)) {
        change.peersUpdated.push(id);
      }
    }
    change.peersAdded.sort(byNumber);
    change.peersRemoved.sort(byNumber);
    change.peersUpdated.sort(byNumber);
  }

  #applyUserProfiles(
    profiles: UserProfile[] | null | undefined,
    before: Map<UserID, UserProfile>,
    change: NetmapChange,
  ): void {
    if (this.#userProfiles === before) {
      for (const profile of profiles ?? []) {
        if (!jsonEqual(profile, before.get(profile.ID))) change.userProfilesChanged = true;
        this.#userProfiles.set(profile.ID, profile);
      }
      return;
    }
    // After a full-map reset: compare the whole new set with the old one.
    for (const profile of profiles ?? []) this.#userProfiles.set(profile.ID, profile);
    change.userProfilesChanged = this.#userProfiles.size !== before.size ||
      [...this.#userProfiles].some(([id, p]) => !jsonEqual(p, before.get(id)));
  }

  #applyFilters(response: MapResponse): void {
    if (response.PacketFilter) this.#filterChunks.set(BASE_FILTER, response.PacketFilter);
    if (response.PacketFilters) applyNamedEntries(this.#filterChunks, response.PacketFilters);
    if (response.PacketFilter || response.PacketFilters) {
      this.#packetFilter = flattenFilters(this.#filterChunks);
    }
  }
}
