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
import type { DiscoPrivateKey, DiscoPublicKey, NodePublicKey } from "../crypto/keys.ts";
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
  /**
   * Disco keys peers advertised over TSMP (data-plane reference §5), by node
   * key: what they said, and what the netmap said then. An advertisement
   * holds until a netmap brings that peer a disco key other than the one it
   * had when the advertisement came (then control knows better).
   */
  readonly #advertised = new Map<string, { key: DiscoPublicKey; netmapKey: string | undefined }>();

  /** An empty map; `discoKey` is ours, for the shared keys. */
  constructor(discoKey: DiscoPrivateKey) {
    this.#discoKey = discoKey;
  }

  /** Takes a new netmap: every index is rebuilt, shared keys of departed peers dropped. */
  setNetmap(received: DataPlaneNetmap): void {
    const netmap = this.#withAdvertisedKeys(received);
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

  /**
   * Takes a disco key a netmap peer advertised over TSMP (inside WireGuard,
   * so authenticated as that peer): it replaces the netmap's until control
   * says something new. Returns whether anything changed.
   */
  learnDiscoKey(from: NodePublicKey, key: DiscoPublicKey): boolean {
    const text = from.toText();
    const peer = this.#byNodeKey.get(text);
    if (!peer || key.isZero() || peer.discoKey?.equals(key)) return false;
    const previous = this.#advertised.get(text);
    this.#advertised.set(text, {
      key,
      netmapKey: previous ? previous.netmapKey : peer.discoKey?.toText(),
    });
    this.setNetmap(this.#netmap);
    return true;
  }

  #withAdvertisedKeys(netmap: DataPlaneNetmap): DataPlaneNetmap {
    if (this.#advertised.size === 0) return netmap;
    const peers = netmap.peers.map((peer) => {
      const text = peer.nodeKey.toText();
      const advert = this.#advertised.get(text);
      if (!advert) return peer;
      const fromNetmap = peer.discoKey?.toText();
      if (fromNetmap !== advert.netmapKey && !peer.discoKey?.equals(advert.key)) {
        this.#advertised.delete(text); // control has news since the advertisement
        return peer;
      }
      return peer.discoKey?.equals(advert.key) ? peer : { ...peer, discoKey: advert.key };
    });
    for (const text of [...this.#advertised.keys()]) {
      if (!peers.some((p) => p.nodeKey.toText() === text)) this.#advertised.delete(text);
    }
    return { ...netmap, peers };
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
