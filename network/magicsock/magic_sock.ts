/**
 * MagicSock (data-plane reference §2): the one place WireGuard datagrams
 * enter and leave. It sends a datagram to a peer over the best path, and
 * demultiplexes what arrives: on the UDP socket, STUN, disco and WireGuard
 * are told apart by their first bytes (§2.2); over DERP, disco and
 * WireGuard (§2.3). WireGuard datagrams go to one callback with the sender's
 * node key when the path tells it (DERP) — the engine's WireGuard device
 * does the rest.
 *
 * The parts it composes, each its own module: the DERP connections (derp_links.ts),
 * the UDP socket (udp_socket.ts, opt-in; in a worker thread by
 * default, udp_thread_socket.ts), the disco driver
 * (disco_driver.ts) and the peer map (peer_map.ts).
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import type { DERPNode, DERPRegion } from "../control/map_response.ts";
import type {
  DiscoPrivateKey,
  DiscoPublicKey,
  NodePrivateKey,
  NodePublicKey,
} from "../crypto/keys.ts";
import { type RandomSource, systemRandom } from "../crypto/random.ts";
import type { DerpMessage } from "../derp/derp_client.ts";
import { looksLikeDiscoPacket } from "../disco/disco_packet.ts";
import type { AddrPort } from "../netaddr/addr_port.ts";
import type { BestPath } from "../disco/peer_path.ts";
import type { ProxyConfig } from "../proxy/proxy_config.ts";
import { isStunOnSharedSocket } from "../stun/stun_message.ts";
import type { DataPlaneNetmap, DataPlanePeer } from "./data_plane_netmap.ts";
import { type DerpLinkEvent, DerpLinks } from "./derp_links.ts";
import { DiscoDriver, type DiscoPingResult, type DiscoStats } from "./disco_driver.ts";
import { PeerMap } from "./peer_map.ts";
import { type MagicSockUDP, type MagicSockUDPOptions, UdpSocket } from "./udp_socket.ts";
import { UdpThreadSocket } from "./udp_thread_socket.ts";

export type { MagicSockUDPOptions } from "./udp_socket.ts";

/** Options of a {@link MagicSock}. */
export interface MagicSockOptions {
  /** Our node key: the WireGuard static key and our DERP address. */
  nodeKey: NodePrivateKey;
  /** This run's disco key (the one sent to control in `MapRequest.DiscoKey`). */
  discoKey: DiscoPrivateKey;
  /** Time and timers; the system clock when absent. */
  clock?: Clock;
  /** Randomness for disco nonces; the system's when absent. */
  random?: RandomSource;
  /** Extra trusted CA certificates (PEM) for `https:` DERP servers. */
  caCerts?: string[];
  /** HTTP proxy settings for DERP connections (CONNECT). */
  proxy?: ProxyConfig;
  /**
   * Dial DERP over plain HTTP (tailscaled's `TS_DEBUG_USE_DERP_HTTP`): for a
   * control server on plain HTTP whose embedded DERP has no TLS.
   */
  plainHTTPDerp?: boolean;
  /** The region to make home at start when the DERP map offers it. */
  preferredRegion?: number;
  /** Overrides the URL dialled for a region's node (tests). */
  derpURL?: (node: DERPNode, region: DERPRegion) => URL | string;
  /** Receives events worth a log line. */
  onEvent?: (event: MagicSockEvent) => void;
  /**
   * Opt-in direct UDP paths (§2.2–2.8): bind a UDP socket here, advertise it
   * and try direct paths to peers. DERP-only when absent.
   */
  udp?: MagicSockUDPOptions;
}

/** Something that happened in the data plane, for logs and tests. */
export type MagicSockEvent =
  | DerpLinkEvent
  | { kind: "disco-ping"; from: NodePublicKey; txId: Uint8Array };

/** Counters of a {@link MagicSock}. */
export interface MagicSockStats extends DiscoStats {
  /** WireGuard datagrams sent over DERP. */
  datagramsSent: number;
  /** WireGuard datagrams received over DERP and taken by a peer. */
  datagramsReceived: number;
  /** Datagrams over DERP from node keys not in the netmap, dropped (§0.4). */
  droppedUnknownPeer: number;
  /** Sends with no path: no DERP connection, or no peer for the destination. */
  droppedNoRoute: number;
  /** DERP sends that failed. */
  derpSendErrors: number;
  /** WireGuard datagrams sent over direct UDP. */
  udpDatagramsSent: number;
  /** WireGuard datagrams received over direct UDP and taken by a peer. */
  udpDatagramsReceived: number;
  /**
   * UDP sends that failed, or that the UDP worker was too far behind to
   * take (udp_thread_socket.ts).
   */
  udpSendErrors: number;
  /**
   * UDP datagrams lost on our side: the receive callback threw, or the
   * main thread was too far behind the UDP worker to take them.
   */
  udpReceiveErrors: number;
  /** STUN packets on the shared UDP socket with no netcheck to take them. */
  stunIgnored: number;
}

/** {@link MagicSock.start} was called without a netmap, or twice. */
export class MagicSockStateError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "MagicSockStateError";
  }
}

/** Where a WireGuard datagram came from. */
export type DatagramSource =
  | { via: "derp"; region: number; key: NodePublicKey }
  | { via: "udp"; addr: AddrPort };

/**
 * The bytes that name a datagram's sender, to bind a WireGuard cookie to
 * (whitepaper §5.4.7): the IP address and big-endian port for UDP (6 or 18
 * bytes), the sender's node key for DERP (32 bytes; the DERP server vouches
 * for it).
 */
export function datagramSourceBytes(source: DatagramSource): Uint8Array {
  return source.via === "derp" ? source.key.bytes : source.addr.bytes;
}

/**
 * Receives each WireGuard datagram; returns whether a WireGuard peer took
 * it, for the counters.
 */
export type DatagramHandler = (datagram: Uint8Array, source: DatagramSource) => boolean;

/**
 * The sending and demultiplexing half of the data plane.
 *
 * @example
 * ```ts
 * const sock = new MagicSock({ nodeKey, discoKey, plainHTTPDerp: true });
 * sock.onDatagram = (datagram, source) => device.handle(datagram);
 * sock.setNetmap(dataPlaneNetmap(netmap));
 * await sock.start();
 * sock.send(peerKey, datagram);
 * await sock.close();
 * ```
 */
export class MagicSock {
  readonly #options: MagicSockOptions;
  readonly #clock: Clock;
  readonly #peers: PeerMap;
  readonly #derp: DerpLinks;
  readonly #disco: DiscoDriver;
  readonly #counters = {
    datagramsSent: 0,
    datagramsReceived: 0,
    droppedUnknownPeer: 0,
    droppedNoRoute: 0,
    udpDatagramsSent: 0,
    udpDatagramsReceived: 0,
    stunIgnored: 0,
  };
  #udp: MagicSockUDP | undefined;
  #udpBlocked = false;
  #closed = false;
  /** Receives every WireGuard datagram; set by the owner before {@link MagicSock.start}. */
  onDatagram: DatagramHandler = () => false;
  /** Receives STUN datagrams on the shared UDP socket (netcheck); unset, they are counted and dropped. */
  onStun: ((packet: Uint8Array, from: AddrPort) => void) | undefined;

  /** A data plane with no peers; nothing is sent until {@link MagicSock.start}. */
  constructor(options: MagicSockOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    const random = options.random ?? systemRandom;
    this.#peers = new PeerMap(options.discoKey);
    this.#derp = new DerpLinks({
      nodeKey: options.nodeKey,
      clock: this.#clock,
      random,
      caCerts: options.caCerts,
      proxy: options.proxy,
      isPeer: (key) => !!this.#peers.byNodeKey(key.toText()),
      plainHTTPDerp: options.plainHTTPDerp,
      preferredRegion: options.preferredRegion,
      derpURL: options.derpURL,
      onMessage: (message, region) => this.#onDerpMessage(message, region),
      onEvent: options.onEvent,
    });
    this.#disco = new DiscoDriver({
      discoKey: options.discoKey,
      nodePublicKey: options.nodeKey.publicKey(),
      peers: this.#peers,
      clock: this.#clock,
      random,
      direct: !!options.udp,
      sendUDP: (to, packet) => this.#sendUDP(to, packet),
      sendDERP: (to, packet, region) => this.#sendDERP(to, packet, region),
      localEndpoints: () => this.localEndpoints(),
      homeRegion: () => this.#derp.homeRegion,
      onPing: (from, txId) => options.onEvent?.({ kind: "disco-ping", from, txId }),
    });
  }

  /** Traffic counters. */
  get stats(): MagicSockStats {
    return {
      ...this.#disco.stats,
      ...this.#counters,
      derpSendErrors: this.#derp.stats.sendErrors,
      udpSendErrors: this.#udp?.sendErrors ?? 0,
      udpReceiveErrors: this.#udp?.receiveErrors ?? 0,
    };
  }

  /** The peers of the current netmap. */
  get peers(): PeerMap {
    return this.#peers;
  }

  /**
   * The DERP connections: `setHome(region)` and `setRegionOrder(ids)` (from
   * netcheck), `regions()` for status; home changes arrive as `derp-home`
   * events.
   */
  get derp(): DerpLinks {
    return this.#derp;
  }

  /** The home DERP region ID, once {@link MagicSock.start} chose it. */
  get homeRegion(): number | undefined {
    return this.#derp.homeRegion;
  }

  /** Whether a DERP connection to the home region is up right now. */
  get derpConnected(): boolean {
    return this.#derp.connected;
  }

  /** The bound direct-path UDP address, once started with {@link MagicSockOptions.udp}. */
  get udpAddress(): AddrPort | undefined {
    return this.#udp?.address;
  }

  /**
   * Our UDP endpoints to advertise to control (`MapRequest.Endpoints`, all
   * of kind `Local`): empty without a UDP socket.
   */
  localEndpoints(): AddrPort[] {
    return this.#udp?.localEndpoints() ?? [];
  }

  /** The trusted direct path to the peer with this key and its latency, or null (then DERP). */
  directPath(key: NodePublicKey): BestPath | null {
    return this.#disco.directPath(key);
  }

  /**
   * Takes a disco key a peer advertised over TSMP (see
   * {@link PeerMap.learnDiscoKey}); its disco path follows at once.
   */
  learnDiscoKey(from: NodePublicKey, key: DiscoPublicKey): boolean {
    if (!this.#peers.learnDiscoKey(from, key)) return false;
    this.#disco.updatePeers();
    return true;
  }

  /** Takes a new netmap: disco from keys no longer listed is dropped from now on. */
  setNetmap(netmap: DataPlaneNetmap): void {
    this.#peers.setNetmap(netmap);
    this.#derp.setDerpMap(netmap.derpMap);
    this.#disco.updatePeers();
  }

  /**
   * Chooses the home region from the netmap's DERP map, connects to it, and
   * starts receiving; binds the UDP socket when asked. Resolves with the
   * home region ID. Throws `NoDerpRegionError`, the DERP errors of the first
   * connect, or {@link MagicSockStateError}.
   */
  async start(signal?: AbortSignal): Promise<number> {
    if (this.#derp.started) throw new MagicSockStateError("the data plane is already started");
    const derpMap = this.#peers.netmap.derpMap;
    if (!derpMap) throw new MagicSockStateError("no DERP map yet: set a netmap first");
    const region = await this.#derp.start(derpMap, signal);
    const udp = this.#options.udp;
    if (udp && !this.#udp && !this.#closed) {
      const onDatagram = (packet: Uint8Array, from: AddrPort) => this.#onUDP(packet, from);
      const socket = udp.thread === false
        ? UdpSocket.bind(udp, onDatagram)
        : await UdpThreadSocket.bind(udp, onDatagram);
      // Closed while the worker was binding: the socket goes too.
      if (this.#closed) await socket.close();
      else this.#udp = socket;
    }
    return region;
  }

  /**
   * Sends one WireGuard datagram to the peer with this key: over its
   * trusted direct path alone, else over DERP (§2.4). Returns false when
   * nothing could carry it.
   */
  send(key: NodePublicKey, datagram: Uint8Array): boolean {
    const peer = this.#peers.byNodeKey(key.toText());
    const route = peer ? this.#disco.routeFor(peer) : { udp: null, derp: true };
    let sent = false;
    if (route.udp && this.#sendUDP(route.udp, datagram)) {
      this.#counters.udpDatagramsSent++;
      sent = true;
    }
    if (route.derp && this.#sendDERP(key, datagram)) {
      this.#counters.datagramsSent++;
      sent = true;
    }
    return sent;
  }

  /**
   * Sends a WireGuard datagram back by the path another came in on (a
   * cookie reply to an initiation's sender, who need not be a peer with a
   * path yet): over UDP to its address, or over DERP to its key through the
   * region it came by. Returns false when nothing could carry it.
   */
  replyTo(source: DatagramSource, datagram: Uint8Array): boolean {
    if (source.via === "udp") {
      if (!this.#sendUDP(source.addr, datagram)) return false;
      this.#counters.udpDatagramsSent++;
      return true;
    }
    if (!this.#sendDERP(source.key, datagram, source.region)) return false;
    this.#counters.datagramsSent++;
    return true;
  }

  /**
   * Sends a datagram that is not WireGuard (STUN) on the shared UDP socket.
   * Throws when there is no socket or it cannot reach `to`'s family, as
   * netcheck's transport must.
   */
  sendUDPRaw(to: AddrPort, datagram: Uint8Array): void {
    const bound = this.#udp?.address;
    if (!this.#udp || !bound) throw new MagicSockStateError("no UDP socket");
    if (bound.is4 !== to.is4) {
      throw new MagicSockStateError(`the UDP socket cannot reach IPv${to.is4 ? 4 : 6}`);
    }
    this.#udp.send(to, datagram);
  }

  /** Whether the shared UDP socket is bound. */
  get hasUDP(): boolean {
    return !!this.#udp;
  }

  /** A user-requested disco Ping to `peer` (see {@link DiscoDriver.ping}). */
  discoPing(
    peer: DataPlanePeer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<DiscoPingResult> {
    return this.#disco.ping(peer, timeoutMs, signal);
  }

  /**
   * Fault injection for tests of path fail-over: while blocked, every
   * datagram on the direct-path UDP socket is lost both ways, as behind a
   * firewall that starts dropping UDP; DERP is untouched.
   */
  simulateUDPLoss(blocked: boolean): void {
    this.#udpBlocked = blocked;
  }

  /** Counts a packet that found no peer to carry it. */
  noteNoRoute(): void {
    this.#counters.droppedNoRoute++;
  }

  /** Closes DERP and UDP and stops the disco timer. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#disco.close();
    await Promise.all([this.#derp.close(), this.#udp?.close()]);
  }

  /** Over DERP through `region`, else the region the peer is homed in (derp_links.ts). */
  #sendDERP(to: NodePublicKey, payload: Uint8Array, region?: number): boolean {
    const home = region || this.#peers.byNodeKey(to.toText())?.homeDERP;
    if (this.#derp.send(to, payload, home)) return true;
    this.#counters.droppedNoRoute++;
    return false;
  }

  #sendUDP(to: AddrPort, payload: Uint8Array): boolean {
    if (!this.#udp) return false;
    if (this.#udpBlocked) return true; // lost on the way, as a firewall would lose it
    this.#udp.send(to, payload);
    return true;
  }

  #onDerpMessage(message: DerpMessage, region: number): void {
    if (message.type !== "packet") return;
    const known = !!this.#peers.byNodeKey(message.src.toText());
    // The server vouches for the frame's sender: replies may go back this region (§2.3).
    if (known) this.#disco.noteHeardViaDERP(message.src, region);
    if (looksLikeDiscoPacket(message.data)) {
      this.#disco.handlePacket(message.data, { via: "derp", region }, message.src);
      return;
    }
    if (!known) {
      this.#counters.droppedUnknownPeer++;
      return;
    }
    if (this.onDatagram(message.data, { via: "derp", region, key: message.src })) {
      this.#counters.datagramsReceived++;
    }
  }

  // One socket, three protocols, told apart by their first bytes (§2.2).
  #onUDP(packet: Uint8Array, from: AddrPort): void {
    if (this.#udpBlocked) return;
    if (isStunOnSharedSocket(packet)) {
      if (this.onStun) this.onStun(packet, from);
      else this.#counters.stunIgnored++;
      return;
    }
    if (looksLikeDiscoPacket(packet)) {
      this.#disco.handlePacket(packet, { via: "udp", addr: from }, undefined);
      return;
    }
    if (this.onDatagram(packet, { via: "udp", addr: from })) {
      this.#counters.udpDatagramsReceived++;
    }
  }
}
