/**
 * How the netmap takes nodes, peers' patches, DERP maps and filter chunks
 * as the Go client does (reference §10.2–10.4): pure functions over map
 * data, returning new objects.
 *
 * @module
 */
import { isGoZeroTime } from "./go_time.ts";
import type { DERPMap, DERPRegion, FilterRule, Node, NodeID, PeerChange } from "./map_response.ts";

/** The magic IP of the legacy `Node.DERP` form `"127.3.3.40:<region>"`. */
const DERP_MAGIC_IP = "127.3.3.40";
/** Key that, with a `null` value, clears all entries first (`PacketFilters`, `DisplayMessages`). */
const CLEAR_ALL = "*";

/**
 * Applies named entries as `PacketFilters` and `DisplayMessages` carry them
 * (reference §10.1): `"*": null` clears everything first, a null value
 * deletes its entry, any other value sets it.
 */
export function applyNamedEntries<T>(
  target: Map<string, T>,
  patch: Record<string, T | null>,
): void {
  if (CLEAR_ALL in patch && patch[CLEAR_ALL] === null) target.clear();
  for (const [name, value] of Object.entries(patch)) {
    if (name === CLEAR_ALL) continue;
    if (value) target.set(name, value);
    else target.delete(name);
  }
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

/** Applies one `PeersChangedPatch` entry to a copy of the peer (reference §10.3). */
export function patchPeer(peer: Node, patch: PeerChange): Node {
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
export function flattenFilters(chunks: Map<string, FilterRule[]>): FilterRule[] {
  const names = [...chunks.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: FilterRule[] = [];
  for (const name of names) out.push(...chunks.get(name)!);
  return out;
}

/** A node ID from a JSON object key; null when not an exact safe integer. */
export function nodeIDFromKey(key: string): NodeID | null {
  const id = Number(key);
  return Number.isSafeInteger(id) && key.trim() !== "" ? id : null;
}

export function byNumber(a: number, b: number): number {
  return a - b;
}

export function sameList(
  a: readonly string[] | null | undefined,
  b: readonly string[] | null | undefined,
): boolean {
  if (!a || !b) return !a === !b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Structural equality of JSON values, with `undefined` properties treated as
 * absent (as they serialise).
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
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
