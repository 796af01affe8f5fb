/**
 * magicsock, the data plane (data-plane reference §2): {@link MagicSock}
 * carries WireGuard over DERP to the peers of the netmap and answers disco
 * Pings; {@link dataPlaneNetmap} takes what it needs from control's netmap.
 * Direct UDP paths are opt-in (`udp` option): then one UDP socket carries
 * STUN, disco and WireGuard, and each peer's path is found by disco.
 *
 * @example
 * ```ts
 * import { dataPlaneNetmap, MagicSock } from "./mod.ts";
 * const sock = new MagicSock({ nodeKey, discoKey, onPacket: (p, from) => handle(p) });
 * sock.setNetmap(dataPlaneNetmap(netmap));
 * await sock.start();
 * ```
 *
 * @module
 */
export * from "./magic_sock.ts";
export * from "./data_plane_netmap.ts";
export * from "./derp_home.ts";
export * from "../netaddr/ip_prefix.ts";
export * from "../netstack/tsmp_responder.ts";

// Types the API above takes and returns, for readers of this module alone.
export type { Clock, TimerHandle } from "../clock.ts";
export type {
  DERPHomeParams,
  DERPMap,
  DERPNode,
  DERPRegion,
  DERPRegionID,
} from "../control/map_response.ts";
export type {
  DiscoPrivateKey,
  DiscoPublicKey,
  NodePrivateKey,
  NodePublicKey,
  PrivateKey,
  PublicKey,
} from "../crypto/keys.ts";
export type { RandomSource } from "../crypto/random.ts";
export type { AddrPort } from "../netaddr/addr_port.ts";
export type { PeerStats } from "../wireguard/peer.ts";
