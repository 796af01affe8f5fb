/**
 * MagicSock: the data plane that ties WireGuard, disco and DERP together
 * (data-plane reference §2). It keeps one DERP connection to the home region
 * (§3.8), answers disco Pings arriving over it with Pongs (§2.6), and carries
 * WireGuard datagrams to and from peers over it (§2.3, §2.4: with no trusted
 * direct path, tailscaled sends to our home DERP).
 *
 * Opt-in ({@link MagicSockOptions.udp}): one UDP socket carries STUN, disco
 * and WireGuard (§2.2). Each peer then gets a {@link PeerPath} that pings its
 * netmap endpoints; once a Pong over UDP makes a direct path trusted,
 * WireGuard goes there alone, else over DERP (§2.4). Without that option the
 * data plane is DERP-only.
 *
 * Decrypted IP packets go to a handler; TSMP Pings (§5) and
 * ICMP echo requests to our own addresses are answered here (the latter
 * until the userspace stack owns ICMP).
 *
 * Time comes from an injected {@link Clock}: WireGuard timers run on
 * `clock.monotonic()`, and one clock timer is kept armed at the device's
 * next deadline.
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import type { DERPNode, DERPRegion } from "../control/map_response.ts";
import type { DiscoPrivateKey, NodePrivateKey, NodePublicKey } from "../crypto/keys.ts";
import { type RandomSource, systemRandom } from "../crypto/random.ts";
import { DerpClient, type DerpMessage } from "../derp/derp_client.ts";
import {
  DiscoSharedKey,
  looksLikeDiscoPacket,
  openDiscoPacket,
  sealDiscoMessage,
} from "../disco/disco_packet.ts";
import { AddrPort } from "../netaddr/addr_port.ts";
import { isLoopbackIP, parseIPAddress } from "../netaddr/ip_address.ts";
import type { DiscoMessage } from "../disco/disco_message.ts";
import { type DiscoAction, type DiscoPath, PeerPath } from "../disco/peer_path.ts";
import { isStunOnSharedSocket } from "../stun/stun_message.ts";
import { type DeviceOutput, WireGuardDevice } from "../wireguard/device.ts";
import type { PeerStats } from "../wireguard/peer.ts";
import type { DataPlaneNetmap, DataPlanePeer } from "./data_plane_netmap.ts";
import { chooseHomeRegion, derpNodeOf, derpNodeURL } from "./derp_home.ts";
import { buildEchoReply } from "../netstack/echo_responder.ts";
import { ipPacketAddress } from "../netstack/wire/ip_packet.ts";
import { isTSMPPacket, tsmpPong } from "../netstack/tsmp_responder.ts";

/** `tailcfg.DerpMagicIP`: the fake address whose port carries a DERP region ID (§2.4). */
const DERP_MAGIC_IP = Uint8Array.of(127, 3, 3, 40);
/** The Pong source for a Ping that came over DERP: the magic IP and the region (§2.6). */
function derpMagicAddr(via: DiscoPath): AddrPort {
  return via.via === "derp" ? new AddrPort(DERP_MAGIC_IP, via.region) : via.addr;
}

/** Upper bound of the wait between DERP reconnect attempts (§3.8). */
const DERP_RECONNECT_MAX_MS = 5000;
/** First wait before a DERP reconnect. */
const DERP_RECONNECT_MIN_MS = 250;

/** Options of a {@link MagicSock}. */
export interface MagicSockOptions {
  /** Our node key: the WireGuard static key and our DERP address. */
  nodeKey: NodePrivateKey;
  /** This run's disco key (the one sent to control in `MapRequest.DiscoKey`). */
  discoKey: DiscoPrivateKey;
  /** Time and timers; the system clock when absent. */
  clock?: Clock;
  /** Randomness for WireGuard and disco nonces; the system's when absent. */
  random?: RandomSource;
  /** Extra trusted CA certificates (PEM) for `https:` DERP servers. */
  caCerts?: string[];
  /**
   * Dial DERP over plain HTTP (tailscaled's `TS_DEBUG_USE_DERP_HTTP`): for a
   * control server on plain HTTP whose embedded DERP has no TLS.
   */
  plainHTTPDerp?: boolean;
  /** The region to make home when the DERP map offers it. */
  preferredRegion?: number;
  /** Overrides the URL dialled for a region's node (tests). */
  derpURL?: (node: DERPNode, region: DERPRegion) => URL | string;
  /** Receives every decrypted IP packet that is not answered here, with its peer. */
  onPacket?: (packet: Uint8Array, from: NodePublicKey) => void;
  /** Receives events worth a log line. */
  onEvent?: (event: MagicSockEvent) => void;
  /** Answer ICMP echo requests to our addresses (default true). */
  answerEchoRequests?: boolean;
  /**
   * Opt-in direct UDP paths (§2.2–2.8): bind a UDP socket here, advertise it
   * and try direct paths to peers. DERP-only when absent.
   */
  udp?: MagicSockUDPOptions;
}

/** Where the direct-path UDP socket listens and which of its addresses are advertised. */
export interface MagicSockUDPOptions {
  /** Address to bind (`127.0.0.1`, `0.0.0.0`, …). */
  hostname: string;
  /** Port to bind; 0 or absent picks a free one. */
  port?: number;
  /**
   * Which local addresses {@link MagicSock.localEndpoints} offers peers:
   * `loopback-only` (the default) offers loopback addresses alone, `all`
   * every address of the bound interface(s).
   */
  advertise?: "loopback-only" | "all";
}

/** Something that happened in the data plane, for logs and tests. */
export type MagicSockEvent =
  | { kind: "derp-connected"; region: number; url: string }
  | { kind: "derp-lost"; region: number; error: string; retryInMs: number }
  | { kind: "disco-ping"; from: NodePublicKey; txId: Uint8Array }
  | { kind: "handshake"; peer: NodePublicKey };

/** Counters of a {@link MagicSock}. */
export interface MagicSockStats {
  /** Disco Pings answered with a Pong. */
  discoPingsAnswered: number;
  /** Disco packets dropped (unknown sender, bad box, unhandled message). */
  discoDropped: number;
  /** WireGuard datagrams sent over DERP. */
  datagramsSent: number;
  /** WireGuard datagrams received over DERP and taken by a peer. */
  datagramsReceived: number;
  /** Datagrams from node keys not in the netmap, dropped (§0.4). */
  droppedUnknownPeer: number;
  /** Datagrams the WireGuard device refused. */
  droppedByDevice: number;
  /** Outbound packets with no peer for their destination, or no DERP connection. */
  droppedNoRoute: number;
  /** DERP sends that failed. */
  derpSendErrors: number;
  /** ICMP echo requests answered. */
  echoRepliesSent: number;
  /** TSMP Pings answered with a Pong. */
  tsmpPongsSent: number;
  /** Other TSMP packets (pongs, disco-key adverts, rejects), consumed unhandled. */
  tsmpIgnored: number;
  /** Decrypted IP packets handed to `onPacket`. */
  packetsDelivered: number;
  /** WireGuard datagrams sent over direct UDP. */
  udpDatagramsSent: number;
  /** WireGuard datagrams received over direct UDP and taken by a peer. */
  udpDatagramsReceived: number;
  /** UDP sends that failed. */
  udpSendErrors: number;
  /** Our disco Pings sent (over UDP or DERP). */
  discoPingsSent: number;
  /** Pongs to our disco Pings received. */
  discoPongsReceived: number;
  /** CallMeMaybe messages sent over DERP. */
  callMeMaybeSent: number;
  /** STUN packets on the shared UDP socket, not used yet. */
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

/**
 * The data plane of one node, over DERP.
 *
 * @example
 * ```ts
 * const sock = new MagicSock({ nodeKey, discoKey, plainHTTPDerp: true, onPacket });
 * sock.setNetmap(dataPlaneNetmap(netmap));
 * const home = await sock.start();
 * sock.sendPacket(ipPacket);
 * await sock.close();
 * ```
 */
export class MagicSock {
  /** Traffic counters. */
  readonly stats: MagicSockStats = {
    discoPingsAnswered: 0,
    discoDropped: 0,
    datagramsSent: 0,
    datagramsReceived: 0,
    droppedUnknownPeer: 0,
    droppedByDevice: 0,
    droppedNoRoute: 0,
    derpSendErrors: 0,
    echoRepliesSent: 0,
    tsmpPongsSent: 0,
    tsmpIgnored: 0,
    packetsDelivered: 0,
    udpDatagramsSent: 0,
    udpDatagramsReceived: 0,
    udpSendErrors: 0,
    discoPingsSent: 0,
    discoPongsReceived: 0,
    callMeMaybeSent: 0,
    stunIgnored: 0,
  };
  readonly #options: MagicSockOptions;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #device: WireGuardDevice;
  readonly #stop = new AbortController();
  #netmap: DataPlaneNetmap = { selfAddresses: [], peers: [], derpMap: null };
  #peers = new Map<string, DataPlanePeer>();
  #peersByDisco = new Map<string, DataPlanePeer>();
  #discoKeys = new Map<string, DiscoSharedKey>();
  #selfIPs: Uint8Array[] = [];
  #homeRegion: DERPRegion | undefined;
  #derp: DerpClient | undefined;
  #loop: Promise<void> | undefined;
  #timer: TimerHandle | undefined;
  #timerDeadline: number | undefined;
  #handshakesSeen = new Map<string, number>();
  #udp: Deno.DatagramConn | undefined;
  #udpLoop: Promise<void> | undefined;
  #paths = new Map<string, PeerPath>();
  #discoTimer: TimerHandle | undefined;
  #discoDeadline: number | undefined;

  /** A data plane with no peers; nothing is sent until {@link MagicSock.start}. */
  constructor(options: MagicSockOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#device = new WireGuardDevice({
      localPrivateKey: options.nodeKey,
      clock: this.#clock,
      random: this.#random,
      // Inbound handshakes only from netmap peers (§0.4), checked against their AllowedIPs.
      lookupPeer: (key) => {
        const peer = this.#peers.get(key.toText());
        return peer ? this.#peerOptions(peer) : undefined;
      },
    });
  }

  /** The home DERP region ID, once {@link MagicSock.start} chose it. */
  get homeRegion(): number | undefined {
    return this.#homeRegion?.RegionID;
  }

  /** The WireGuard counters of the peer with this key, once it has a WireGuard peer. */
  peerStats(key: NodePublicKey): Readonly<PeerStats> | undefined {
    return this.#device.peer(key)?.stats;
  }

  /** Whether the peer with this key has a usable WireGuard session now. */
  hasSession(key: NodePublicKey): boolean {
    return this.#device.peer(key)?.hasSession(this.#clock.monotonic()) ?? false;
  }

  /** The bound direct-path UDP address, once started with {@link MagicSockOptions.udp}. */
  get udpAddress(): AddrPort | undefined {
    const addr = this.#udp?.addr as Deno.NetAddr | undefined;
    if (!addr) return undefined;
    const ip = parseIPAddress(addr.hostname);
    return ip ? new AddrPort(ip, addr.port) : undefined;
  }

  /**
   * Our UDP endpoints to advertise to control (`MapRequest.Endpoints`, all
   * of kind `Local`): empty without a UDP socket. A wildcard bind offers the
   * interface addresses that {@link MagicSockUDPOptions.advertise} allows.
   */
  localEndpoints(): AddrPort[] {
    const bound = this.udpAddress;
    if (!bound) return [];
    const all = this.#options.udp?.advertise === "all";
    const wildcard = bound.ip.every((b) => b === 0);
    const candidates = wildcard
      ? Deno.networkInterfaces()
        .filter((i) => i.family === (bound.is4 ? "IPv4" : "IPv6") && !i.address.includes("%"))
        .map((i) => parseIPAddress(i.address))
        .filter((ip): ip is Uint8Array => !!ip)
      : [bound.ip];
    return candidates
      .filter((ip) => all || isLoopbackIP(ip))
      .map((ip) => new AddrPort(ip, bound.port));
  }

  /**
   * The trusted direct path to the peer with this key (a Pong over UDP in
   * the last 6.5 s, §2.7), or null: then WireGuard goes over DERP.
   */
  directPath(key: NodePublicKey): AddrPort | null {
    const path = this.#paths.get(key.toText());
    return path?.directTrusted ? path.bestPath!.addr : null;
  }

  /** Whether a DERP connection to the home region is up right now. */
  get derpConnected(): boolean {
    return !!this.#derp && !this.#derp.closed;
  }

  /**
   * Takes a new netmap: peers that left lose their WireGuard sessions, and
   * disco from keys no longer listed is dropped from now on.
   */
  setNetmap(netmap: DataPlaneNetmap): void {
    this.#netmap = netmap;
    this.#peers = new Map(netmap.peers.map((p) => [p.nodeKey.toText(), p]));
    this.#peersByDisco = new Map();
    for (const peer of netmap.peers) {
      if (peer.discoKey) this.#peersByDisco.set(peer.discoKey.toText(), peer);
    }
    for (const key of [...this.#discoKeys.keys()]) {
      if (!this.#peersByDisco.has(key)) this.#discoKeys.delete(key);
    }
    for (const peer of [...this.#device.peers]) {
      if (!this.#peers.has(peer.remotePublicKey.toText())) {
        this.#device.removePeer(peer.remotePublicKey);
      }
    }
    this.#selfIPs = netmap.selfAddresses.filter((p) => p.isSingleIP).map((p) => p.ip);
    if (this.#options.udp) this.#updatePaths();
  }

  /**
   * Chooses the home region from the netmap's DERP map, connects to it, and
   * starts receiving. Resolves with the home region ID once connected; the
   * connection is then kept (reconnecting with backoff ≤ 5 s, §3.8) until
   * {@link MagicSock.close}. Throws `NoDerpRegionError`, the DERP errors of
   * the first connect, or {@link MagicSockStateError}.
   */
  async start(signal?: AbortSignal): Promise<number> {
    if (this.#loop) throw new MagicSockStateError("the data plane is already started");
    if (!this.#netmap.derpMap) throw new MagicSockStateError("no DERP map yet: set a netmap first");
    const region = chooseHomeRegion(this.#netmap.derpMap, this.#options.preferredRegion);
    this.#homeRegion = region;
    const derp = await this.#connect(region, signal);
    this.#loop = this.#run(derp, region);
    const udp = this.#options.udp;
    if (udp && !this.#udp) {
      const conn = Deno.listenDatagram({
        transport: "udp",
        hostname: udp.hostname,
        port: udp.port ?? 0,
      });
      this.#udp = conn;
      this.#udpLoop = this.#receiveUDP(conn);
    }
    return region.RegionID;
  }

  /**
   * Sends one IP packet to the peer whose AllowedIPs hold its destination:
   * through WireGuard (handshaking first when needed) and over DERP. Returns
   * false when no peer routes the destination.
   */
  sendPacket(packet: Uint8Array): boolean {
    const destination = ipPacketAddress(packet, "destination");
    const peer = destination ? this.#routeFor(destination) : undefined;
    if (!peer) {
      this.stats.droppedNoRoute++;
      return false;
    }
    const wgPeer = this.#device.addPeer(peer.nodeKey, this.#peerOptions(peer));
    this.#flush({ peer: wgPeer, ...wgPeer.sendPacket(packet, this.#clock.monotonic()) });
    return true;
  }

  /** Closes the DERP connection, stops the timers and erases WireGuard sessions. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#derp?.close();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#discoTimer !== undefined) this.#clock.clearTimeout(this.#discoTimer);
    this.#discoTimer = undefined;
    this.#udp?.close();
    await this.#udpLoop;
    await this.#loop;
    for (const peer of [...this.#device.peers]) this.#device.removePeer(peer.remotePublicKey);
  }

  // --- DERP -----------------------------------------------------------------

  async #connect(region: DERPRegion, signal?: AbortSignal): Promise<DerpClient> {
    const node = derpNodeOf(region);
    const url = this.#options.derpURL?.(node, region) ??
      derpNodeURL(node, this.#options.plainHTTPDerp);
    const derp = await DerpClient.connect({
      url,
      nodeKey: this.#options.nodeKey,
      caCerts: this.#options.caCerts,
      preferred: true,
      clock: this.#clock,
      random: this.#random,
      signal: signal ? AbortSignal.any([signal, this.#stop.signal]) : this.#stop.signal,
    });
    this.#derp = derp;
    this.#options.onEvent?.({ kind: "derp-connected", region: region.RegionID, url: String(url) });
    return derp;
  }

  async #run(first: DerpClient, region: DERPRegion): Promise<void> {
    let derp: DerpClient | undefined = first;
    let delay = DERP_RECONNECT_MIN_MS;
    while (!this.#stop.signal.aborted) {
      if (derp) {
        try {
          for await (const message of derp) this.#onDerpMessage(message, region.RegionID);
        } catch (error) {
          if (this.#stop.signal.aborted) break;
          this.#options.onEvent?.({
            kind: "derp-lost",
            region: region.RegionID,
            error: error instanceof Error ? error.message : String(error),
            retryInMs: delay,
          });
        }
        derp.close();
        if (this.#derp === derp) this.#derp = undefined;
        derp = undefined;
      }
      if (this.#stop.signal.aborted) break;
      try {
        await this.#clock.sleep(delay, this.#stop.signal);
      } catch {
        break;
      }
      try {
        derp = await this.#connect(region);
        delay = DERP_RECONNECT_MIN_MS;
      } catch {
        delay = Math.min(delay * 2, DERP_RECONNECT_MAX_MS);
      }
    }
  }

  #onDerpMessage(message: DerpMessage, region: number): void {
    if (message.type !== "packet") return;
    if (looksLikeDiscoPacket(message.data)) {
      this.#onDisco(message.data, { via: "derp", region }, message.src);
      return;
    }
    const peer = this.#peers.get(message.src.toText());
    if (!peer) {
      this.stats.droppedUnknownPeer++;
      return;
    }
    const output = this.#device.handleDatagram(message.data, this.#clock.monotonic());
    if (!output) {
      this.stats.droppedByDevice++;
      this.#armTimer();
      return;
    }
    this.stats.datagramsReceived++;
    this.#flush(output);
  }

  // --- direct UDP (§2.2) ------------------------------------------------------

  async #receiveUDP(conn: Deno.DatagramConn): Promise<void> {
    for (;;) {
      let packet: Uint8Array, addr: Deno.Addr;
      try {
        [packet, addr] = await conn.receive();
      } catch {
        return; // closed
      }
      const net = addr as Deno.NetAddr;
      const ip = parseIPAddress(net.hostname);
      if (!ip) continue;
      const from = new AddrPort(ip, net.port);
      try {
        this.#onUDP(packet, from);
      } catch {
        this.stats.discoDropped++;
      }
    }
  }

  // One socket, three protocols, told apart by their first bytes (§2.2).
  #onUDP(packet: Uint8Array, from: AddrPort): void {
    if (isStunOnSharedSocket(packet)) {
      this.stats.stunIgnored++;
      return;
    }
    if (looksLikeDiscoPacket(packet)) {
      this.#onDisco(packet, { via: "udp", addr: from }, undefined);
      return;
    }
    const output = this.#device.handleDatagram(packet, this.#clock.monotonic());
    if (!output) {
      this.stats.droppedByDevice++;
      this.#armTimer();
      return;
    }
    this.stats.udpDatagramsReceived++;
    this.#flush(output);
  }

  #sendUDP(to: AddrPort, datagram: Uint8Array): boolean {
    const conn = this.#udp;
    if (!conn) return false;
    conn.send(datagram, { transport: "udp", hostname: to.address, port: to.port })
      .catch(() => this.stats.udpSendErrors++);
    return true;
  }

  /** Keeps one PeerPath per netmap peer with a disco key, fed from the netmap (§2.5). */
  #updatePaths(): void {
    const next = new Map<string, PeerPath>();
    for (const peer of this.#netmap.peers) {
      if (!peer.discoKey) continue;
      const key = peer.nodeKey.toText();
      const path = this.#paths.get(key) ??
        new PeerPath({ clock: this.#clock, random: this.#random });
      path.updateFromNode({
        discoKey: peer.discoKey,
        homeDERP: peer.homeDERP ?? 0,
        endpoints: peer.endpoints ?? [],
      });
      next.set(key, path);
    }
    this.#paths = next;
    this.#armDiscoTimer();
  }

  #perform(peer: DataPlanePeer, actions: readonly DiscoAction[]): void {
    const path = this.#paths.get(peer.nodeKey.toText());
    for (const action of actions) {
      if (action.type === "send-ping") {
        const sent = this.#sendDisco(peer, action.path, {
          type: "ping",
          txId: action.txId,
          nodeKey: this.#options.nodeKey.publicKey(),
          padding: 0,
        });
        if (sent) this.stats.discoPingsSent++;
        else path?.forgetPing(action.txId);
      } else if (action.type === "send-call-me-maybe") {
        const endpoints = this.localEndpoints();
        if (endpoints.length === 0) continue;
        const region = this.#homeRegion?.RegionID ?? action.derpRegion;
        if (this.#sendDisco(peer, { via: "derp", region }, { type: "call-me-maybe", endpoints })) {
          this.stats.callMeMaybeSent++;
        }
      }
    }
    this.#armDiscoTimer();
  }

  #sendDisco(peer: DataPlanePeer, path: DiscoPath, message: DiscoMessage): boolean {
    if (!peer.discoKey) return false;
    const packet = sealDiscoMessage(
      message,
      this.#options.discoKey,
      peer.discoKey,
      this.#random,
      this.#sharedKey(peer.discoKey.toText()),
    );
    if (path.via === "udp") return this.#sendUDP(path.addr, packet);
    // We hold only the home DERP connection; its server forwards to the peer's region (§3.8).
    const derp = this.#derp;
    if (!derp || derp.closed) {
      this.stats.droppedNoRoute++;
      return false;
    }
    derp.send(peer.nodeKey, packet).catch(() => this.stats.derpSendErrors++);
    return true;
  }

  /** Keeps one clock timer at the earliest PeerPath deadline (heartbeats, Ping timeouts). */
  #armDiscoTimer(): void {
    if (this.#stop.signal.aborted) return;
    let deadline: number | undefined;
    for (const path of this.#paths.values()) {
      const next = path.nextDeadline();
      if (next !== null && (deadline === undefined || next < deadline)) deadline = next;
    }
    if (deadline === this.#discoDeadline && this.#discoTimer !== undefined) return;
    if (this.#discoTimer !== undefined) this.#clock.clearTimeout(this.#discoTimer);
    this.#discoTimer = undefined;
    this.#discoDeadline = deadline;
    if (deadline === undefined) return;
    const wait = Math.max(0, deadline - this.#clock.monotonic());
    this.#discoTimer = this.#clock.setTimeout(() => {
      this.#discoTimer = undefined;
      this.#discoDeadline = undefined;
      for (const peer of this.#netmap.peers) {
        const path = this.#paths.get(peer.nodeKey.toText());
        if (path) this.#perform(peer, path.poll());
      }
      this.#armDiscoTimer();
    }, wait);
  }

  #sharedKey(text: string): DiscoSharedKey | undefined {
    return this.#discoKeys.get(text);
  }

  #sendOverDerp(to: NodePublicKey, datagram: Uint8Array): void {
    const derp = this.#derp;
    if (!derp || derp.closed) {
      this.stats.droppedNoRoute++;
      return;
    }
    derp.send(to, datagram).catch(() => this.stats.derpSendErrors++);
  }

  // --- disco (§2.6) -----------------------------------------------------------

  /**
   * A disco packet over DERP (`src` is the frame's node key) or UDP. Pings
   * are answered along the path they came (§2.6); with direct UDP on, Pongs
   * and CallMeMaybe (over DERP only, §2.9) drive the peer's PeerPath.
   */
  #onDisco(packet: Uint8Array, via: DiscoPath, src: NodePublicKey | undefined): void {
    const opened = openDiscoPacket(packet, this.#options.discoKey, (sender) => {
      const text = sender.toText();
      if (!this.#peersByDisco.has(text)) return null;
      let shared = this.#discoKeys.get(text);
      if (!shared) {
        shared = DiscoSharedKey.derive(this.#options.discoKey, sender);
        this.#discoKeys.set(text, shared);
      }
      return shared;
    });
    if (!opened.ok) {
      this.stats.discoDropped++;
      return;
    }
    const peer = this.#peersByDisco.get(opened.sender.toText())!;
    const path = this.#options.udp ? this.#paths.get(peer.nodeKey.toText()) : undefined;
    const message = opened.message;
    if (message.type === "ping") {
      // Over DERP the sender is the frame's node key (§2.6 step 2); a Ping naming another is a lie.
      const claimed = src ?? peer.nodeKey;
      if (message.nodeKey && !message.nodeKey.equals(claimed)) {
        this.stats.discoDropped++;
        return;
      }
      if (via.via === "derp") path?.noteHeardViaDERP(via.region);
      this.#options.onEvent?.({ kind: "disco-ping", from: claimed, txId: message.txId });
      const pong = path
        ? path.handlePing(message, via)
        : { type: "pong" as const, txId: message.txId, src: derpMagicAddr(via) };
      if (!pong) return; // a duplicate Ping on that endpoint
      this.stats.discoPingsAnswered++;
      this.#sendDisco(peer, via, pong);
      this.#armDiscoTimer();
      return;
    }
    if (message.type === "pong" && path) {
      if (path.handlePong(message, via)) this.stats.discoPongsReceived++;
      this.#armDiscoTimer();
      return;
    }
    if (message.type === "call-me-maybe" && path && via.via === "derp") {
      this.#perform(peer, path.handleCallMeMaybe(message));
      return;
    }
    this.stats.discoDropped++;
  }

  // --- WireGuard --------------------------------------------------------------

  #peerOptions(peer: DataPlanePeer) {
    return {
      isAllowedSource: (packet: Uint8Array) => {
        const source = ipPacketAddress(packet, "source");
        return !!source && peer.allowedIPs.some((prefix) => prefix.contains(source));
      },
    };
  }

  #routeFor(destination: Uint8Array): DataPlanePeer | undefined {
    let best: DataPlanePeer | undefined;
    let bestBits = -1;
    for (const peer of this.#netmap.peers) {
      for (const prefix of peer.allowedIPs) {
        if (prefix.bits > bestBits && prefix.contains(destination)) {
          best = peer;
          bestBits = prefix.bits;
        }
      }
    }
    return best;
  }

  #flush(output: DeviceOutput): void {
    const key = output.peer.remotePublicKey;
    for (const datagram of output.send) this.#sendDatagram(key, datagram);
    const handshakes = output.peer.stats.handshakes;
    if (handshakes !== (this.#handshakesSeen.get(key.toText()) ?? 0)) {
      this.#handshakesSeen.set(key.toText(), handshakes);
      this.#options.onEvent?.({ kind: "handshake", peer: key });
    }
    for (const packet of output.deliver) this.#deliver(output, packet);
    this.#armTimer();
  }

  /** One WireGuard datagram: to the trusted direct path alone, else (also) over DERP (§2.4). */
  #sendDatagram(key: NodePublicKey, datagram: Uint8Array): void {
    const path = this.#udp ? this.#paths.get(key.toText()) : undefined;
    if (!path) {
      this.stats.datagramsSent++;
      this.#sendOverDerp(key, datagram);
      return;
    }
    const { route, actions } = path.noteSend();
    const peer = this.#peers.get(key.toText());
    if (peer && actions.length > 0) this.#perform(peer, actions);
    if (route.udp && this.#sendUDP(route.udp, datagram)) this.stats.udpDatagramsSent++;
    if (route.derpRegion !== null || !route.udp) {
      this.stats.datagramsSent++;
      this.#sendOverDerp(key, datagram);
    }
    this.#armDiscoTimer();
  }

  #deliver(output: DeviceOutput, packet: Uint8Array): void {
    // TSMP never reaches the packet handler: it is the data plane's own protocol (§5).
    if (isTSMPPacket(packet)) {
      const pong = tsmpPong(packet, this.#selfIPs);
      if (pong) {
        this.stats.tsmpPongsSent++;
        const peer = output.peer;
        this.#flush({ peer, ...peer.sendPacket(pong, this.#clock.monotonic()) });
      } else {
        this.stats.tsmpIgnored++;
      }
      return;
    }
    if (this.#options.answerEchoRequests ?? true) {
      const reply = buildEchoReply(packet, this.#selfIPs);
      if (reply) {
        this.stats.echoRepliesSent++;
        const peer = output.peer;
        this.#flush({ peer, ...peer.sendPacket(reply, this.#clock.monotonic()) });
        return;
      }
    }
    this.stats.packetsDelivered++;
    this.#options.onPacket?.(packet, output.peer.remotePublicKey);
  }

  /** Keeps one clock timer at the device's earliest deadline. */
  #armTimer(): void {
    if (this.#stop.signal.aborted) return;
    const deadline = this.#device.nextDeadline();
    if (deadline === this.#timerDeadline && this.#timer !== undefined) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDeadline = deadline;
    if (deadline === undefined) return;
    const wait = Math.max(0, deadline - this.#clock.monotonic());
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerDeadline = undefined;
      for (const output of this.#device.tick(this.#clock.monotonic())) this.#flush(output);
      this.#armTimer();
    }, wait);
  }
}
