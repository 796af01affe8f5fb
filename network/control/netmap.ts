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
  DERPRegion,
  DisplayMessage,
  DNSConfig,
  FilterRule,
  MapResponse,
  Node,
  NodeID,
  PeerChange,
  PingRequest,
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

/** The magic IP of the legacy `Node.DERP` form `"127.3.3.40:<region>"`. */
const DERP_MAGIC_IP = "127.3.3.40";
/** The named filter chunk the legacy `PacketFilter` field stands for (reference §10.1). */
const BASE_FILTER = "base";
/** Key that, with a `null` value, clears all chunks first (`PacketFilters`, `DisplayMessages`). */
const CLEAR_ALL = "*";
/** Version of {@link NetmapSnapshot}. */
const SNAPSHOT_VERSION = 1;

/** Why the netmap refused input. */
export type NetmapErrorCode = "initial-map-lacks-node" | "bad-snapshot";

/** A message or snapshot the netmap cannot take. */
export class NetmapError extends Error {
  /** Machine-readable reason. */
  readonly code: NetmapErrorCode;
  /** Creates the error with its reason code. */
  constructor(code: NetmapErrorCode, message: string) {
    super(message);
    this.name = "NetmapError";
    this.code = code;
  }
}

/** What one {@link Netmap.apply} changed, and the one-shot directives it carried. */
export interface NetmapChange {
  /** The message was a keep-alive (only the directives below may be set). */
  keepAlive: boolean;
  /** The message was the stream's full snapshot. */
  fullMap: boolean;
  /** The self node differs. */
  selfChanged: boolean;
  /** Peers that appeared, sorted. */
  peersAdded: NodeID[];
  /** Peers that went away, sorted. */
  peersRemoved: NodeID[];
  /** Peers still present whose node differs, sorted. */
  peersUpdated: NodeID[];
  /** The merged DERP map differs. */
  derpMapChanged: boolean;
  /** The flattened packet filter differs. */
  filterChanged: boolean;
  /** The DNS configuration differs. */
  dnsChanged: boolean;
  /** The tailnet domain differs. */
  domainChanged: boolean;
  /** A user profile was added or changed. */
  userProfilesChanged: boolean;
  /** The SSH policy differs. */
  sshPolicyChanged: boolean;
  /** Health (`Health` or `DisplayMessages`) differs. */
  healthChanged: boolean;
  /** A ping to answer (the caller dedupes by URL across streams), else null. */
  pingRequest: PingRequest | null;
  /** A URL to open, when it differs from the last one on this stream; else null. */
  popBrowserURL: string | null;
  /** The server's clock, when sent; else null. */
  controlTime: string | null;
  /** Debug directives, when sent; else null. */
  debug: Debug | null;
  /** A new control dial plan, when sent; else null. */
  controlDialPlan: ControlDialPlan | null;
  /** Update availability, when sent; else null. */
  clientVersion: ClientVersion | null;
}

/** Options for {@link Netmap}. */
export interface NetmapOptions {
  /** Time source for `PeerSeenChange` (only `now` is used); defaults to the system clock. */
  clock?: Pick<Clock, "now">;
}

/** The netmap as plain JSON data, for the state cache. */
export interface NetmapSnapshot {
  /** Format version (1). */
  version: number;
  /** The self node. */
  self: Node | null;
  /** Peers, sorted by ID. */
  peers: Node[];
  /** The merged DERP map. */
  derpMap: DERPMap | null;
  /** Named packet-filter chunks. */
  packetFilters: Record<string, FilterRule[]>;
  /** DNS configuration. */
  dnsConfig: DNSConfig | null;
  /** Tailnet domain. */
  domain: string;
  /** User profiles, sorted by ID. */
  userProfiles: UserProfile[];
  /** Whether to report services. */
  collectServices: boolean;
  /** Tailscale SSH policy. */
  sshPolicy: SSHPolicy | null;
  /** Health problems (old form). */
  health: string[] | null;
  /** Structured health messages. */
  displayMessages: Record<string, DisplayMessage>;
  /** Tailnet-lock state. */
  tkaInfo: TKAInfo | null;
  /** Last server clock seen. */
  controlTime: string | null;
}

/** Whether a change has anything worth logging (directives aside). */
export function netmapChanged(change: NetmapChange): boolean {
  return change.selfChanged || change.peersAdded.length > 0 || change.peersRemoved.length > 0 ||
    change.peersUpdated.length > 0 || change.derpMapChanged || change.filterChanged ||
    change.dnsChanged || change.domainChanged || change.userProfilesChanged ||
    change.sshPolicyChanged || change.healthChanged;
}

/**
 * A one-line description of a change for logs, e.g.
 * `"full map: self, +3 peers, DERP map, filter"`; "" when nothing changed.
 */
export function describeNetmapChange(change: NetmapChange): string {
  const parts: string[] = [];
  if (change.selfChanged) parts.push("self");
  const count = (n: number, sign: string, what: string) => {
    if (n > 0) parts.push(`${sign}${n} ${what}${n === 1 ? "" : "s"}`);
  };
  count(change.peersAdded.length, "+", "peer");
  count(change.peersRemoved.length, "-", "peer");
  count(change.peersUpdated.length, "~", "peer");
  if (change.derpMapChanged) parts.push("DERP map");
  if (change.filterChanged) parts.push("filter");
  if (change.dnsChanged) parts.push("DNS");
  if (change.domainChanged) parts.push("domain");
  if (change.userProfilesChanged) parts.push("user profiles");
  if (change.sshPolicyChanged) parts.push("SSH policy");
  if (change.healthChanged) parts.push("health");
  if (parts.length === 0) return change.fullMap ? "full map: no changes" : "";
  return (change.fullMap ? "full map: " : "") + parts.join(", ");
}

/**
 * Normalises a node as the Go client does on receipt (reference §10.2):
 * legacy `DERP` becomes `HomeDERP`, a missing `AllowedIPs` becomes a copy of
 * `Addresses` (also forced for `UnsignedPeerAPIOnly` nodes), a zero
 * `KeyExpiry` is dropped, deprecated `Capabilities` fold into `CapMap`, and
 * client-computed names are dropped. Returns a new object.
 */
export function normalizeNode(input: Node): Node {
  const node: Node = { ...input };
  if (node.DERP !== undefined) {
    if (!node.HomeDERP && typeof node.DERP === "string") {
      const colon = node.DERP.lastIndexOf(":");
      const region = Number(node.DERP.slice(colon + 1));
      if (node.DERP.slice(0, colon) === DERP_MAGIC_IP && Number.isSafeInteger(region)) {
        node.HomeDERP = region;
      }
    }
    delete node.DERP;
  }
  if (
    node.AllowedIPs == null ||
    (node.UnsignedPeerAPIOnly && !sameList(node.AllowedIPs, node.Addresses))
  ) {
    node.AllowedIPs = node.Addresses ? [...node.Addresses] : null;
  }
  if (node.KeyExpiry !== undefined && (node.KeyExpiry === null || isGoZeroTime(node.KeyExpiry))) {
    delete node.KeyExpiry;
  }
  if (node.Capabilities && node.Capabilities.length > 0) {
    const capMap = { ...(node.CapMap ?? {}) };
    for (const cap of node.Capabilities) if (!(cap in capMap)) capMap[cap] = null;
    node.CapMap = capMap;
    delete node.Capabilities;
  }
  delete node.ComputedName;
  delete node.ComputedNameWithHost;
  return node;
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
    const change = emptyChange();
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
    if (response.DisplayMessages) this.#applyDisplayMessages(response.DisplayMessages);
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
    const bad = (why: string) => new NetmapError("bad-snapshot", `netmap snapshot: ${why}`);
    if (!isObject(snapshot)) throw bad("not an object");
    if (snapshot.version !== SNAPSHOT_VERSION) throw bad(`unsupported version ${snapshot.version}`);
    const netmap = new Netmap(options);
    if (snapshot.self !== null) {
      if (!isNode(snapshot.self)) throw bad("self is not a node");
      netmap.#self = normalizeNode(snapshot.self);
    }
    if (!Array.isArray(snapshot.peers)) throw bad("peers is not a list");
    for (const peer of snapshot.peers) {
      if (!isNode(peer)) throw bad("a peer is not a node");
      netmap.#peers.set(peer.ID, normalizeNode(peer));
    }
    if (snapshot.derpMap !== null) {
      if (!isObject(snapshot.derpMap)) throw bad("derpMap is not an object");
      netmap.#derpMap = mergeDERPMap(null, snapshot.derpMap as unknown as DERPMap);
    }
    if (!isObject(snapshot.packetFilters)) throw bad("packetFilters is not an object");
    for (const [name, rules] of Object.entries(snapshot.packetFilters)) {
      if (!Array.isArray(rules)) throw bad(`filter chunk ${name} is not a list`);
      netmap.#filterChunks.set(name, rules);
    }
    if (netmap.#filterChunks.size > 0) netmap.#packetFilter = flattenFilters(netmap.#filterChunks);
    netmap.#dnsConfig = optionalObject(snapshot.dnsConfig, "dnsConfig", bad) as DNSConfig | null;
    if (typeof snapshot.domain !== "string") throw bad("domain is not a string");
    netmap.#domain = snapshot.domain;
    if (!Array.isArray(snapshot.userProfiles)) throw bad("userProfiles is not a list");
    for (const profile of snapshot.userProfiles) {
      if (!isObject(profile) || typeof profile.ID !== "number") throw bad("bad user profile");
      netmap.#userProfiles.set(profile.ID, profile as unknown as UserProfile);
    }
    netmap.#collectServices = snapshot.collectServices === true;
    netmap.#sshPolicy = optionalObject(snapshot.sshPolicy, "sshPolicy", bad) as SSHPolicy | null;
    if (snapshot.health !== null && !Array.isArray(snapshot.health)) {
      throw bad("health is not a list");
    }
    netmap.#health = snapshot.health as string[] | null;
    if (!isObject(snapshot.displayMessages)) throw bad("displayMessages is not an object");
    for (const [id, message] of Object.entries(snapshot.displayMessages)) {
      netmap.#displayMessages.set(id, message as DisplayMessage);
    }
    netmap.#tkaInfo = optionalObject(snapshot.tkaInfo, "tkaInfo", bad) as TKAInfo | null;
    if (snapshot.controlTime !== null && typeof snapshot.controlTime !== "string") {
      throw bad("controlTime is not a string");
    }
    netmap.#controlTime = snapshot.controlTime as string | null;
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
    let touched = false;
    if (response.PacketFilter) {
      this.#filterChunks.set(BASE_FILTER, response.PacketFilter);
      touched = true;
    }
    const named = response.PacketFilters;
    if (named) {
      touched = true;
      if (CLEAR_ALL in named && named[CLEAR_ALL] === null) this.#filterChunks.clear();
      for (const [name, rules] of Object.entries(named)) {
        if (name === CLEAR_ALL) continue;
        if (rules) this.#filterChunks.set(name, rules);
        else this.#filterChunks.delete(name);
      }
    }
    if (touched) this.#packetFilter = flattenFilters(this.#filterChunks);
  }

  #applyDisplayMessages(messages: Record<string, DisplayMessage | null>): void {
    if (CLEAR_ALL in messages && messages[CLEAR_ALL] === null) this.#displayMessages.clear();
    for (const [id, message] of Object.entries(messages)) {
      if (id === CLEAR_ALL) continue;
      if (message) this.#displayMessages.set(id, message);
      else this.#displayMessages.delete(id);
    }
  }
}

/** Applies one `PeersChangedPatch` entry to a copy of the peer (reference §10.3). */
function patchPeer(peer: Node, patch: PeerChange): Node {
  const next: Node = { ...peer };
  if (patch.DERPRegion) next.HomeDERP = patch.DERPRegion;
  if (patch.Cap) next.Cap = patch.Cap;
  if (patch.CapMap != null) next.CapMap = patch.CapMap;
  if (patch.Endpoints != null) next.Endpoints = patch.Endpoints;
  if (patch.Key != null) next.Key = patch.Key;
  if (patch.KeySignature != null) next.KeySignature = patch.KeySignature;
  if (patch.DiscoKey != null) next.DiscoKey = patch.DiscoKey;
  if (patch.Online != null) next.Online = patch.Online;
  if (patch.LastSeen != null) next.LastSeen = patch.LastSeen;
  if (patch.KeyExpiry != null) {
    // Headscale sends the zero time to clear an expiry on relogin.
    if (isGoZeroTime(patch.KeyExpiry)) delete next.KeyExpiry;
    else next.KeyExpiry = patch.KeyExpiry;
  }
  return next;
}

/**
 * Merges a received DERP map into the previous one (reference §10.4): null
 * regions are dropped; null `Regions` keeps the old regions and
 * `omitDefaultRegions`; null `HomeParams` keeps the old one; null
 * `HomeParams.RegionScore` keeps the old scores.
 */
export function mergeDERPMap(previous: DERPMap | null, received: DERPMap): DERPMap {
  let regions: Record<string, DERPRegion> | null = null;
  if (received.Regions) {
    regions = {};
    for (const [id, region] of Object.entries(received.Regions)) if (region) regions[id] = region;
  }
  const merged: DERPMap = { Regions: regions ?? {} };
  let omit = received.omitDefaultRegions === true;
  let homeParams = received.HomeParams ?? null;
  if (previous) {
    if (regions === null) {
      merged.Regions = previous.Regions;
      omit = previous.omitDefaultRegions === true;
    }
    if (homeParams === null) {
      homeParams = previous.HomeParams ?? null;
    } else if (previous.HomeParams && homeParams.RegionScore == null) {
      homeParams = { ...homeParams, RegionScore: previous.HomeParams.RegionScore };
    }
  }
  if (homeParams) merged.HomeParams = homeParams;
  if (omit) merged.omitDefaultRegions = true;
  return merged;
}

/** All chunks concatenated in key order (Go's sorted string keys). */
function flattenFilters(chunks: Map<string, FilterRule[]>): FilterRule[] {
  const names = [...chunks.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: FilterRule[] = [];
  for (const name of names) out.push(...chunks.get(name)!);
  return out;
}

/** A node ID from a JSON object key; null when not an exact safe integer. */
function nodeIDFromKey(key: string): NodeID | null {
  const id = Number(key);
  return Number.isSafeInteger(id) && key.trim() !== "" ? id : null;
}

function emptyChange(): NetmapChange {
  return {
    keepAlive: false,
    fullMap: false,
    selfChanged: false,
    peersAdded: [],
    peersRemoved: [],
    peersUpdated: [],
    derpMapChanged: false,
    filterChanged: false,
    dnsChanged: false,
    domainChanged: false,
    userProfilesChanged: false,
    sshPolicyChanged: false,
    healthChanged: false,
    pingRequest: null,
    popBrowserURL: null,
    controlTime: null,
    debug: null,
    controlDialPlan: null,
    clientVersion: null,
  };
}

function byNumber(a: number, b: number): number {
  return a - b;
}

function sameList(
  a: readonly string[] | null | undefined,
  b: readonly string[] | null | undefined,
): boolean {
  if (!a || !b) return !a === !b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNode(value: unknown): value is Node {
  return isObject(value) && Number.isSafeInteger(value.ID);
}

function optionalObject(value: unknown, what: string, bad: (why: string) => Error): object | null {
  if (value === null || value === undefined) return null;
  if (!isObject(value)) throw bad(`${what} is not an object`);
  return value;
}

/**
 * Structural equality of JSON values, with `undefined` properties treated as
 * absent (as they serialise).
 */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  let count = 0;
  for (const key in ao) {
    if (ao[key] === undefined) continue;
    count++;
    if (!jsonEqual(ao[key], bo[key])) return false;
  }
  for (const key in bo) if (bo[key] !== undefined) count--;
  return count === 0;
}
