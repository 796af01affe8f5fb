/**
 * What the node facade answers from its netmap: the peer list with each
 * peer's path, who owns a mesh address, and which peer a ping target names.
 * Pure reads of control's {@link Netmap}; identity comes from the node key
 * Nexus bound to an address, never from the address alone.
 *
 * @module
 */
import type { Node } from "./control/map_response.ts";
import type { Netmap } from "./control/netmap.ts";
import { nodeShortName, summarizeNode } from "./control/node_summary.ts";
import { AddrPort } from "./netaddr/addr_port.ts";
import { formatIPAddress, ipAddressEquals, parseIPAddress } from "./netaddr/ip_address.ts";
import { IPPrefix } from "./netaddr/ip_prefix.ts";
import type { PeerDataPlaneStatus, PeerStatus, WhoIs } from "./node_types.ts";

/** How packets reach a peer now. */
export type PeerPath = "direct" | "relay" | "none";

/** The address `ip`, `ip:port` or `[ipv6]:port` names, as bytes; null when it names none. */
export function addressOf(text: string): Uint8Array | null {
  return parseIPAddress(text) ?? AddrPort.tryParse(text)?.ip ?? null;
}

/** A node's own addresses (its host prefixes' addresses). */
function nodeIPs(node: Node): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const text of node.Addresses ?? []) {
    const prefix = IPPrefix.tryParse(text);
    if (prefix) out.push(prefix.ip);
  }
  return out;
}

function holds(node: Node, ip: Uint8Array): boolean {
  return nodeIPs(node).some((own) => ipAddressEquals(own, ip));
}

/**
 * The visible peers, sorted by node ID, each with what the data plane
 * knows of it (`dataPlaneOf`: at least its path).
 */
export function peerStatuses(
  netmap: Netmap,
  dataPlaneOf: (node: Node) => PeerDataPlaneStatus | { path: PeerPath },
): PeerStatus[] {
  return netmap.peers().map((node) => {
    const p = summarizeNode(node);
    return {
      hostname: p.hostname,
      ip: p.ip,
      ipv6: p.ipv6,
      online: p.online,
      os: p.os,
      lastSeen: p.lastSeen,
      ...dataPlaneOf(node),
    };
  });
}

/**
 * Who owns a mesh address (`100.64.0.7`, `fd7a:…`, `ip:port` or
 * `[ip]:port`): the node whose key holds it in the netmap, and its user;
 * null when no node has it.
 */
export function whoisAddress(netmap: Netmap, address: string): WhoIs | null {
  const ip = addressOf(address);
  if (!ip) return null;
  const self = netmap.self;
  const candidates = self ? [self, ...netmap.peers()] : netmap.peers();
  const node = candidates.find((n) => holds(n, ip));
  if (!node) return null;
  const summary = summarizeNode(node);
  const profile = netmap.userProfiles.get(node.User);
  return {
    nodeId: node.ID,
    nodeName: nodeShortName(node.Name),
    hostname: summary.hostname,
    nodeKey: node.Key,
    addresses: nodeIPs(node).map(formatIPAddress),
    os: summary.os,
    tags: node.Tags ?? [],
    user: profile && !(node.Tags?.length)
      ? { id: profile.ID, loginName: profile.LoginName, displayName: profile.DisplayName }
      : null,
    self: node === self,
  };
}

/**
 * The peer `target` names: by address (with or without a port), then by
 * name, hostname or MagicDNS name exactly, then ignoring case.
 */
export function findPeer(netmap: Netmap, target: string): Node | undefined {
  const peers = netmap.peers();
  const ip = addressOf(target);
  if (ip) return peers.find((node) => holds(node, ip));
  const names = (node: Node) =>
    [nodeShortName(node.Name), summarizeNode(node).hostname, node.Name?.replace(/\.$/, "")]
      .filter((n): n is string => !!n);
  const trimmed = target.replace(/\.$/, "");
  const lower = trimmed.toLowerCase();
  return peers.find((node) => names(node).includes(trimmed)) ??
    peers.find((node) => names(node).some((n) => n.toLowerCase() === lower));
}
