/**
 * magicsock, the paths to peers (data-plane reference §2): {@link MagicSock}
 * sends WireGuard datagrams to a peer over DERP or a direct UDP path and
 * demultiplexes what arrives, composed of the DERP link, the UDP socket,
 * the disco driver and the peer map; {@link dataPlaneNetmap} takes what it
 * needs from control's netmap. The engine (`../engine/`) drives it.
 *
 * @example
 * ```ts
 * import { dataPlaneNetmap, MagicSock } from "./mod.ts";
 * const sock = new MagicSock({ nodeKey, discoKey });
 * sock.onDatagram = (datagram, source) => device.handle(datagram);
 * sock.setNetmap(dataPlaneNetmap(netmap));
 * await sock.start();
 * ```
 *
 * @module
 */
export * from "./magic_sock.ts";
export * from "./data_plane_netmap.ts";
export * from "./derp_home.ts";
export * from "./derp_links.ts";
export * from "./derp_region_link.ts";
export * from "./disco_driver.ts";
export * from "./peer_map.ts";
export * from "./udp_socket.ts";

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
export type { DerpMessage } from "../derp/derp_client.ts";
export type { ProxyConfig } from "../proxy/proxy_config.ts";
export type { AddrPort } from "../netaddr/addr_port.ts";
export type { IPPrefix } from "../netaddr/ip_prefix.ts";
