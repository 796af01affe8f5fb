/**
 * What the data plane needs from the netmap (data-plane reference §0.4): our
 * addresses, each peer's node key, disco key, home DERP region and allowed
 * IPs, and the DERP map. Taken from control's `Netmap` by
 * {@link dataPlaneNetmap}, so magicsock never reads control's types itself.
 *
 * @module
 */
import type { DERPMap, FilterRule } from "../control/map_response.ts";
import { DiscoPublicKey, NodePublicKey } from "../crypto/keys.ts";
import { IPPrefix } from "../netaddr/ip_prefix.ts";

/** One peer as the data plane sees it. */
export interface DataPlanePeer {
  /** The peer's node key: its WireGuard static key and DERP address. */
  readonly nodeKey: NodePublicKey;
  /** The peer's disco key; absent for peers that never sent one (then no disco with them). */
  readonly discoKey?: DiscoPublicKey;
  /** The peer's home DERP region, 0 or absent when unknown. */
  readonly homeDERP?: number;
  /** Prefixes the peer may send from and we route to it (its `AllowedIPs`). */
  readonly allowedIPs: readonly IPPrefix[];
  /** The peer's name, for diagnostics only. */
  readonly name?: string;
  /** The peer's advertised UDP endpoints (`ip:port`, netmap `Endpoints`), for direct paths (§2.5). */
  readonly endpoints?: readonly string[];
  /** The node capabilities the peer holds (its `CapMap` keys), for `cap:` filter sources. */
  readonly capabilities?: readonly string[];
}

/** The data plane's view of the netmap. */
export interface DataPlaneNetmap {
  /** Our own mesh addresses (host prefixes). */
  readonly selfAddresses: readonly IPPrefix[];
  /** The peers. */
  readonly peers: readonly DataPlanePeer[];
  /** The DERP map; null before the first one arrives. */
  readonly derpMap: DERPMap | null;
  /**
   * The packet filter's rules; null or absent when the netmap has none
   * (then only replies to our own traffic come in, §6.5).
   */
  readonly packetFilter?: readonly FilterRule[] | null;
}

/** The fields of a control `Node` the data plane reads (a `Node` is one). */
export interface NetmapNode {
  /** `nodekey:<hex>`. */
  readonly Key: string;
  /** `discokey:<hex>`, when the node sent one. */
  readonly DiscoKey?: string;
  /** The node's own addresses. */
  readonly Addresses: readonly string[] | null;
  /** Prefixes routed to the node; its addresses when absent. */
  readonly AllowedIPs?: readonly string[] | null;
  /** Home DERP region; 0 or absent when unknown. */
  readonly HomeDERP?: number;
  /** MagicDNS name. */
  readonly Name?: string;
  /** The node's UDP endpoints, `ip:port`. */
  readonly Endpoints?: readonly string[] | null;
  /** The node's capabilities. */
  readonly CapMap?: Readonly<Record<string, unknown>> | null;
}

/** What {@link dataPlaneNetmap} reads from control's `Netmap` (a `Netmap` is one). */
export interface NetmapSource {
  /** The self node, once known. */
  readonly self: Pick<NetmapNode, "Addresses"> | null;
  /** The peers. */
  peers(): readonly NetmapNode[];
  /** The merged DERP map. */
  readonly derpMap: DERPMap | null;
  /** The flattened packet filter. */
  readonly packetFilter: readonly FilterRule[] | null;
}

function prefixes(texts: readonly string[] | null | undefined): IPPrefix[] {
  const out: IPPrefix[] = [];
  for (const text of texts ?? []) {
    try {
      out.push(IPPrefix.parse(text));
    } catch {
      // A prefix we cannot read routes nothing; the rest of the node still works.
    }
  }
  return out;
}

/** The data plane's view of one control node; `undefined` when its node key is unreadable. */
export function dataPlanePeer(node: NetmapNode): DataPlanePeer | undefined {
  let nodeKey: NodePublicKey;
  try {
    nodeKey = NodePublicKey.parse(node.Key);
  } catch {
    return undefined;
  }
  let discoKey: DiscoPublicKey | undefined;
  try {
    if (node.DiscoKey) discoKey = DiscoPublicKey.parse(node.DiscoKey);
  } catch {
    discoKey = undefined;
  }
  return {
    nodeKey,
    discoKey,
    homeDERP: node.HomeDERP ?? 0,
    allowedIPs: prefixes(node.AllowedIPs ?? node.Addresses),
    name: node.Name,
    endpoints: node.Endpoints ?? [],
    capabilities: Object.keys(node.CapMap ?? {}),
  };
}

/**
 * The data plane's view of control's netmap.
 *
 * @example
 * ```ts
 * magicSock.setNetmap(dataPlaneNetmap(netmap));
 * ```
 */
export function dataPlaneNetmap(netmap: NetmapSource): DataPlaneNetmap {
  const peers: DataPlanePeer[] = [];
  for (const node of netmap.peers()) {
    const peer = dataPlanePeer(node);
    if (peer) peers.push(peer);
  }
  return {
    selfAddresses: prefixes(netmap.self?.Addresses),
    peers,
    derpMap: netmap.derpMap,
    packetFilter: netmap.packetFilter,
  };
}
