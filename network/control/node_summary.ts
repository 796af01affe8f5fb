/**
 * Display views of netmap nodes: the pieces `status`, `peers` and the
 * netmap-change log show (addresses without prefix lengths, short names,
 * short keys).
 *
 * @module
 */
import type { DERPRegionID, Node, NodeID } from "./map_response.ts";
import { isGoZeroTime, parseGoTime } from "./go_time.ts";
import { formatIPAddress } from "../netaddr/ip_address.ts";
import { IPPrefix } from "../netaddr/ip_prefix.ts";

/** One peer as the CLI shows it. */
export interface PeerSummary {
  /** Node ID. */
  id: NodeID;
  /** MagicDNS name without the trailing dot, or "". */
  name: string;
  /** `Hostinfo.Hostname`, else the first label of the name. */
  hostname: string;
  /** First mesh IPv4 address, or null. */
  ip: string | null;
  /** First mesh IPv6 address, or null. */
  ipv6: string | null;
  /** Connected to control now; null when unknown. */
  online: boolean | null;
  /** `Hostinfo.OS`, or "". */
  os: string;
  /** ISO time last seen (only offline peers have one), or null. */
  lastSeen: string | null;
  /** Node key in short form, e.g. `nodekey:ab12cd34…`. */
  nodeKey: string;
  /** Home DERP region, or null. */
  homeDERP: DERPRegionID | null;
  /** ISO time the node key expires, or null when it never does. */
  keyExpiry: string | null;
  /** The node key has expired. */
  expired: boolean;
}

/** Addresses of a node, without prefix lengths. */
export interface NodeAddresses {
  /** First IPv4 address, or null. */
  ipv4: string | null;
  /** First IPv6 address, or null. */
  ipv6: string | null;
}

/**
 * The first IPv4 and first IPv6 address among a node's prefixes, without
 * prefix lengths.
 *
 * @example
 * ```ts
 * nodeAddresses(["100.64.0.1/32", "fd7a:115c:a1e0::1/128"]);
 * // { ipv4: "100.64.0.1", ipv6: "fd7a:115c:a1e0::1" }
 * ```
 */
export function nodeAddresses(prefixes: readonly string[] | null | undefined): NodeAddresses {
  let ipv4: string | null = null;
  let ipv6: string | null = null;
  for (const text of prefixes ?? []) {
    const prefix = IPPrefix.tryParse(text);
    if (!prefix) continue;
    if (prefix.is4) ipv4 ??= formatIPAddress(prefix.ip);
    else ipv6 ??= formatIPAddress(prefix.ip);
  }
  return { ipv4, ipv6 };
}

/** A MagicDNS name without its trailing dot. */
export function nodeFQDN(name: string | undefined): string {
  if (!name) return "";
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** The first label of a MagicDNS name (`host` of `host.example.com.`), or null. */
export function nodeShortName(name: string | undefined): string | null {
  const fqdn = nodeFQDN(name);
  if (fqdn === "") return null;
  const dot = fqdn.indexOf(".");
  return dot < 0 ? fqdn : fqdn.slice(0, dot);
}

/**
 * A key's log form: its prefix and first 8 hex digits (the same form as
 * `PublicKey.toShortString` in `network/crypto/keys.ts`).
 */
export function shortKey(text: string | null | undefined): string {
  if (!text) return "";
  const colon = text.indexOf(":");
  if (colon < 0 || text.length < colon + 1 + 8) return text;
  return `${text.slice(0, colon + 1 + 8)}…`;
}

/** A Go time as an ISO string, or null for absent, zero or unparsable times. */
export function isoTime(text: string | null | undefined): string | null {
  if (!text || isGoZeroTime(text)) return null;
  const ms = parseGoTime(text);
  return ms === null ? null : new Date(ms).toISOString();
}

/** The CLI view of one node. */
export function summarizeNode(node: Node): PeerSummary {
  const { ipv4, ipv6 } = nodeAddresses(node.Addresses);
  const hostinfoName = node.Hostinfo?.Hostname;
  return {
    id: node.ID,
    name: nodeFQDN(node.Name),
    hostname: typeof hostinfoName === "string" && hostinfoName !== ""
      ? hostinfoName
      : nodeShortName(node.Name) ?? "",
    ip: ipv4,
    ipv6,
    online: typeof node.Online === "boolean" ? node.Online : null,
    os: typeof node.Hostinfo?.OS === "string" ? node.Hostinfo.OS : "",
    lastSeen: isoTime(node.LastSeen),
    nodeKey: shortKey(node.Key),
    homeDERP: node.HomeDERP ? node.HomeDERP : null,
    keyExpiry: isoTime(node.KeyExpiry),
    expired: node.Expired === true,
  };
}
