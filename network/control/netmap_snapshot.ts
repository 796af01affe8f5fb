/**
 * The netmap as plain JSON data, for the state cache, and its strict
 * reading back: a cache that does not parse is refused with a typed error,
 * never half-loaded.
 *
 * @module
 */
import { NetmapError } from "./control_errors.ts";
import type {
  DERPMap,
  DisplayMessage,
  DNSConfig,
  FilterRule,
  Node,
  SSHPolicy,
  TKAInfo,
  UserProfile,
} from "./map_response.ts";
import { mergeDERPMap, normalizeNode } from "./netmap_nodes.ts";

/** Version of {@link NetmapSnapshot}. */
export const SNAPSHOT_VERSION = 1;

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

/**
 * Reads {@link NetmapSnapshot} data back (e.g. parsed from the state
 * cache), nodes normalised and the DERP map merged as on receipt. Throws
 * {@link NetmapError} (`bad-snapshot`).
 */
export function parseNetmapSnapshot(snapshot: unknown): NetmapSnapshot {
  const bad = (why: string) => new NetmapError("bad-snapshot", `netmap snapshot: ${why}`);
  if (!isObject(snapshot)) throw bad("not an object");
  if (snapshot.version !== SNAPSHOT_VERSION) throw bad(`unsupported version ${snapshot.version}`);
  let self: Node | null = null;
  if (snapshot.self !== null) {
    if (!isNode(snapshot.self)) throw bad("self is not a node");
    self = normalizeNode(snapshot.self);
  }
  if (!Array.isArray(snapshot.peers)) throw bad("peers is not a list");
  const peers: Node[] = [];
  for (const peer of snapshot.peers) {
    if (!isNode(peer)) throw bad("a peer is not a node");
    peers.push(normalizeNode(peer));
  }
  let derpMap: DERPMap | null = null;
  if (snapshot.derpMap !== null) {
    if (!isObject(snapshot.derpMap)) throw bad("derpMap is not an object");
    derpMap = mergeDERPMap(null, snapshot.derpMap as unknown as DERPMap);
  }
  if (!isObject(snapshot.packetFilters)) throw bad("packetFilters is not an object");
  const packetFilters: Record<string, FilterRule[]> = {};
  for (const [name, rules] of Object.entries(snapshot.packetFilters)) {
    if (!Array.isArray(rules)) throw bad(`filter chunk ${name} is not a list`);
    packetFilters[name] = rules;
  }
  if (typeof snapshot.domain !== "string") throw bad("domain is not a string");
  if (!Array.isArray(snapshot.userProfiles)) throw bad("userProfiles is not a list");
  const userProfiles: UserProfile[] = [];
  for (const profile of snapshot.userProfiles) {
    if (!isObject(profile) || typeof profile.ID !== "number") throw bad("bad user profile");
    userProfiles.push(profile as unknown as UserProfile);
  }
  if (snapshot.health !== null && !Array.isArray(snapshot.health)) {
    throw bad("health is not a list");
  }
  if (!isObject(snapshot.displayMessages)) throw bad("displayMessages is not an object");
  if (snapshot.controlTime !== null && typeof snapshot.controlTime !== "string") {
    throw bad("controlTime is not a string");
  }
  return {
    version: SNAPSHOT_VERSION,
    self,
    peers,
    derpMap,
    packetFilters,
    dnsConfig: optionalObject(snapshot.dnsConfig, "dnsConfig", bad) as DNSConfig | null,
    domain: snapshot.domain,
    userProfiles,
    collectServices: snapshot.collectServices === true,
    sshPolicy: optionalObject(snapshot.sshPolicy, "sshPolicy", bad) as SSHPolicy | null,
    health: snapshot.health as string[] | null,
    displayMessages: snapshot.displayMessages as Record<string, DisplayMessage>,
    tkaInfo: optionalObject(snapshot.tkaInfo, "tkaInfo", bad) as TKAInfo | null,
    controlTime: snapshot.controlTime as string | null,
  };
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
