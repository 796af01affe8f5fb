/**
 * The data plane's peers, indexed the ways packets find them: by node key
 * (DERP frames, WireGuard), by disco key (disco packets), and by the prefixes
 * they may use (cryptokey routing, {@link AllowedIPs}). Replaced as a whole
 * from each netmap, so that every packet reads the current one. The disco
 * shared keys (one X25519 per peer, data-plane reference §2.6) are cached
 * here and forgotten with their peer.
 *
 * @module
 */
import type { DiscoPrivateKey, NodePublicKey } from "../crypto/keys.ts";
import { DiscoSharedKey } from "../disco/disco_packet.ts";
import { AllowedIPs } from "../wireguard/allowed_ips.ts";
import type { DataPlaneNetmap, DataPlanePeer } from "./data_plane_netmap.ts";

/**
 * Peers of the current netmap.
 *
 * @example
 * ```ts
 * const peers = new PeerMap(discoKey);
 * peers.setNetmap(dataPlaneNetmap(netmap));
 * peers.byNodeKey(key.toText())?.name;
 * ```
 */
export class PeerMap {
  readonly #discoKey: DiscoPrivateKey;
  #netmap: DataPlaneNetmap = { selfAddresses: [], peers: [], derpMap: null };
  #byNodeKey = new Map<string, DataPlanePeer>();
  #byDiscoKey = new Map<string, DataPlanePeer>();
  #sharedKeys = new Map<string, DiscoSharedKey>();
  #allowedIPs = new AllowedIPs<string>();
  #selfIPs: Uint8Array[] = [];

  /** An empty map; `discoKey` is ours, for the shared keys. */
  constructor(discoKey: DiscoPrivateKey) {
    this.#discoKey = discoKey;
  }

  /** Takes a new netmap: every index is rebuilt, shared keys of departed peers dropped. */
  setNetmap(netmap: DataPlaneNetmap): void {
    this.#netmap = netmap;
    this.#byNodeKey = new Map(netmap.peers.map((p) => [p.nodeKey.toText(), p]));
    this.#byDiscoKey = new Map();
    const allowedIPs = new AllowedIPs<string>();
    for (const peer of netmap.peers) {
      if (peer.discoKey) this.#byDiscoKey.set(peer.discoKey.toText(), peer);
      const key = peer.nodeKey.toText();
      for (const prefix of peer.allowedIPs) allowedIPs.insert(prefix, key);
    }
    this.#allowedIPs = allowedIPs;
    for (const key of [...this.#sharedKeys.keys()]) {
      if (!this.#byDiscoKey.has(key)) this.#sharedKeys.delete(key);
    }
    this.#selfIPs = netmap.selfAddresses.filter((p) => p.isSingleIP).map((p) => p.ip);
  }

  /** The current netmap. */
  get netmap(): DataPlaneNetmap {
    return this.#netmap;
  }

  /** The peers of the current netmap. */
  get peers(): readonly DataPlanePeer[] {
    return this.#netmap.peers;
  }

  /** Our own single addresses (4 or 16 bytes each). */
  get selfIPs(): readonly Uint8Array[] {
    return this.#selfIPs;
  }

  /** The cryptokey routing table of the current netmap: prefix → node key text. */
  get allowedIPs(): AllowedIPs<string> {
    return this.#allowedIPs;
  }

  /** The peer with this node key (`nodekey:…` text). */
  byNodeKey(text: string): DataPlanePeer | undefined {
    return this.#byNodeKey.get(text);
  }

  /** The peer with this disco key (`discokey:…` text). */
  byDiscoKey(text: string): DataPlanePeer | undefined {
    return this.#byDiscoKey.get(text);
  }

  /** The peer whose allowed IPs hold `ip` (longest prefix). */
  byAddress(ip: Uint8Array): DataPlanePeer | undefined {
    const key = this.#allowedIPs.lookup(ip);
    return key === undefined ? undefined : this.#byNodeKey.get(key);
  }

  /** The peer whose allowed IPs hold the packet's destination (longest prefix). */
  routeFor(packet: Uint8Array): DataPlanePeer | undefined {
    const key = this.#allowedIPs.lookupPacket(packet, "destination");
    return key === undefined ? undefined : this.#byNodeKey.get(key);
  }

  /** Whether the packet's source address belongs to the peer `from`, per the current netmap. */
  isAllowedSource(packet: Uint8Array, from: NodePublicKey): boolean {
    return this.#allowedIPs.lookupPacket(packet, "source") === from.toText();
  }

  /**
   * The disco shared key with the peer holding disco key `text`, derived on
   * first use; null for a disco key no netmap peer holds.
   */
  sharedKey(text: string): DiscoSharedKey | null {
    const peer = this.#byDiscoKey.get(text);
    if (!peer?.discoKey) return null;
    let shared = this.#sharedKeys.get(text);
    if (!shared) {
      shared = DiscoSharedKey.derive(this.#discoKey, peer.discoKey);
      this.#sharedKeys.set(text, shared);
    }
    return shared;
  }
}
