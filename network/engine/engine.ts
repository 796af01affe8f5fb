/**
 * The engine: the data plane of one node, as tailscale's
 * `wgengine/userspace.go` wires magicsock, the WireGuard device and the tun
 * wrapper. It owns {@link MagicSock} (paths to peers), the
 * {@link WireGuardDevice} with its timer, and the {@link PacketPipeline} that
 * every IP packet passes between WireGuard and anything local; it starts
 * them, retries them and stops them.
 *
 * Inbound: a datagram from magicsock → the device (which checks the
 * packet's source against the sender's allowed IPs, read from the current
 * netmap at every packet) → the pipeline. Outbound: the pipeline → the peer
 * whose allowed IPs hold the destination → the device → magicsock.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { Backoff } from "../control/backoff.ts";
import type { DiscoPublicKey, NodePublicKey } from "../crypto/keys.ts";
import { type RandomSource, systemRandom } from "../crypto/random.ts";
import type { DataPlaneNetmap } from "../magicsock/data_plane_netmap.ts";
import type { DerpLinks } from "../magicsock/derp_links.ts";
import {
  type DatagramSource,
  datagramSourceBytes,
  MagicSock,
  type MagicSockEvent,
  type MagicSockOptions,
  type MagicSockStats,
} from "../magicsock/magic_sock.ts";
import type { AddrPort } from "../netaddr/addr_port.ts";
import type { BestPath } from "../disco/peer_path.ts";
import { EndpointType, type NetInfo } from "../control/tailcfg.ts";
import { buildEchoReply } from "../netstack/echo_responder.ts";
import { type DeviceOutput, WireGuardDevice } from "../wireguard/device.ts";
import type { PeerStats } from "../wireguard/peer.ts";
import { DeviceTimer } from "./device_timer.ts";
import { ACL_DROP_PREFIX, FilterGate } from "./filter_gate.ts";
import { dropsByReason } from "./drop_reasons.ts";
import { NetStack, type NetStackOptions } from "../netstack/netstack.ts";
import { netstackHandler } from "./netstack_handler.ts";
import { buildConnectReject, connectRejectObserver } from "./connect_rejects.ts";
import { advertisedDiscoKey, buildDiscoKeyAdvert } from "./disco_key_advert.ts";
import { type AdvertisedEndpoint, NetcheckService } from "./netcheck_service.ts";
import type { NetcheckReport } from "../netcheck/netcheck_report.ts";
import { PeerPinger, type PeerPingOptions, type PeerPingResult } from "./peer_pinger.ts";
import { PacketPipeline, type PipelineStats } from "./packet_pipeline.ts";

/** Something that happened in the data plane, for logs and tests. */
export type DataPlaneEvent =
  | MagicSockEvent
  | { kind: "handshake"; peer: NodePublicKey }
  | { kind: "disco-key-learned"; peer: NodePublicKey };

/** Options of an {@link Engine}. */
export interface EngineOptions extends Omit<MagicSockOptions, "onEvent"> {
  /** Receives every inbound packet that no local handler took, with its peer. */
  onPacket?: (packet: Uint8Array, from: NodePublicKey) => void;
  /** Answer ICMP echo requests to our addresses (default true). */
  answerEchoRequests?: boolean;
  /** Receives events worth a log line. */
  onEvent?: (event: DataPlaneEvent) => void;
  /** Receives each netcheck report (our endpoints and NetInfo may have changed). */
  onNetcheck?: (report: NetcheckReport) => void;
  /** Run netcheck once started (default true). */
  netcheck?: boolean;
  /** The TCP/UDP stack's settings (MTU, limits, TCP options). */
  netstack?: Pick<NetStackOptions, "mtu" | "limits" | "tcp">;
}

/** Counters of an {@link Engine}: magicsock's, the pipeline's and WireGuard's. */
export interface EngineStats extends MagicSockStats, PipelineStats {
  /** ICMP echo requests answered. */
  echoRepliesSent: number;
  /** Datagrams the WireGuard device refused (malformed, unauthentic, unknown index or peer). */
  droppedByDevice: number;
  /** Decrypted packets whose source is not among the sending peer's allowed IPs. */
  droppedSourceNotAllowed: number;
  /** TSMP disco-key advertisements sent after handshakes. */
  discoKeyAdvertsSent: number;
  /** TSMP "rejected" messages received (a peer's filter dropped our SYN). */
  connectRejectsReceived: number;
  /** TSMP "rejected" messages sent (our filter dropped a peer's IPv4 SYN). */
  connectRejectsSent: number;
  /** TCP connections aborted because their peer left the netmap. */
  connectionsAbortedPeerGone: number;
  /** WireGuard handshakes started early because TCP found a silent peer (see `#retransmitTimedOut`). */
  handshakesForcedByTcp: number;
  /** Initiations refused under load with a WireGuard cookie reply, sent back by their own path. */
  cookieRepliesSent: number;
}

/** How {@link Engine.startInBackground} reports. */
export interface BackgroundStartOptions {
  /** Ends the retries. */
  signal: AbortSignal;
  /** Called once the data plane is up, with the home DERP region; a throw counts as a failure. */
  onStarted?: (homeRegion: number) => Promise<void> | void;
  /** Called with each failed attempt before the next. */
  onRetry?: (error: Error) => void;
}

/** A peer unheard for this long when TCP retransmits to it gets a new handshake. */
const SILENT_PEER_MS = 1_000;

/** Waits between data-plane start attempts. */
const START_RETRY_MIN_MS = 1_000;
const START_RETRY_MAX_MS = 30_000;

/**
 * The data plane of one node.
 *
 * @example
 * ```ts
 * const engine = new Engine({ nodeKey, discoKey, plainHTTPDerp: true, onPacket });
 * engine.setNetmap(dataPlaneNetmap(netmap));
 * await engine.start();
 * engine.sendPacket(ipPacket);
 * await engine.close();
 * ```
 */
export class Engine {
  readonly #options: EngineOptions;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #sock: MagicSock;
  readonly #device: WireGuardDevice;
  readonly #timer: DeviceTimer;
  readonly #pinger: PeerPinger;
  readonly #handshakesSeen = new Map<string, number>();
  readonly #counters = {
    echoRepliesSent: 0,
    droppedByDevice: 0,
    droppedSourceNotAllowed: 0,
    discoKeyAdvertsSent: 0,
    connectRejectsReceived: 0,
    connectRejectsSent: 0,
    connectionsAbortedPeerGone: 0,
    handshakesForcedByTcp: 0,
    cookieRepliesSent: 0,
  };
  readonly #stop = new AbortController();
  readonly #nodePublicKey: NodePublicKey;
  readonly #discoPublicKey: DiscoPublicKey;
  #netcheck: NetcheckService | undefined;
  /** The one packet path: hooks and local handlers plug in here. */
  readonly pipeline: PacketPipeline;
  /** The netmap's packet filter, the pipeline's first hook both ways. */
  readonly filter: FilterGate;
  /** The TCP/UDP stack: listen and dial on our mesh addresses. */
  readonly netstack: NetStack;

  /** An engine with no peers; nothing is sent until {@link Engine.start}. */
  constructor(options: EngineOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#nodePublicKey = options.nodeKey.publicKey();
    this.#discoPublicKey = options.discoKey.publicKey();
    this.#sock = new MagicSock({ ...options, clock: this.#clock, random: this.#random });
    this.#sock.onDatagram = (datagram, source) => this.#onDatagram(datagram, source);
    const peers = this.#sock.peers;
    this.#device = new WireGuardDevice({
      localPrivateKey: options.nodeKey,
      clock: this.#clock,
      random: this.#random,
      // Inbound handshakes only from netmap peers (§0.4).
      lookupPeer: (key) => peers.byNodeKey(key.toText()) ? this.#peerOptions(key) : undefined,
    });
    this.#timer = new DeviceTimer(this.#device, this.#clock, (output) => this.#flush(output));
    this.pipeline = new PacketPipeline({
      selfIPs: () => peers.selfIPs,
      sendToPeer: (packet, peer) => this.#sendToPeer(packet, peer),
      route: (packet) => this.#route(packet),
      onInboundDrop: (packet, reason, reply) => {
        if (!reason.startsWith(ACL_DROP_PREFIX)) return;
        const reject = buildConnectReject(packet);
        if (!reject) return;
        this.#counters.connectRejectsSent++;
        reply(reject);
      },
    });
    this.filter = new FilterGate(peers);
    this.pipeline.addInboundHook(this.filter.inbound);
    this.pipeline.addOutboundHook(this.filter.outbound);
    if (options.answerEchoRequests ?? true) {
      this.pipeline.addLocalHandler((packet, _from, reply) => {
        const echo = buildEchoReply(packet, peers.selfIPs);
        if (!echo) return false;
        this.#counters.echoRepliesSent++;
        reply(echo);
        return true;
      });
    }
    this.#pinger = new PeerPinger({
      clock: this.#clock,
      random: this.#random,
      send: (packet) => this.sendPacket(packet),
      peerFor: (ip) => peers.byAddress(ip),
      discoPing: (peer, timeoutMs, signal) => this.#sock.discoPing(peer, timeoutMs, signal),
    });
    this.pipeline.addLocalHandler(this.#pinger.echoReplies);
    this.pipeline.addTSMPObserver(this.#pinger.tsmpPongs);
    this.pipeline.addTSMPObserver((packet, from) => {
      const key = advertisedDiscoKey(packet);
      if (!key) return false;
      if (this.#sock.learnDiscoKey(from, key)) {
        this.#options.onEvent?.({ kind: "disco-key-learned", peer: from });
      }
      return true;
    });
    this.netstack = new NetStack({
      addresses: () => peers.selfIPs,
      send: (packet) => void this.sendPacket(packet),
      clock: this.#clock,
      random: this.#random,
      answerPings: false, // the echo responder above answers them
      onRetransmitTimeout: (remote) => this.#retransmitTimedOut(remote),
      ...options.netstack,
    });
    this.pipeline.addLocalHandler(netstackHandler(this.netstack));
    this.pipeline.addTSMPObserver(
      connectRejectObserver(this.netstack, () => this.#counters.connectRejectsReceived++),
    );
    if (options.onPacket) {
      const onPacket = options.onPacket;
      this.pipeline.addLocalHandler((packet, from) => {
        onPacket(packet, from);
        return true;
      });
    }
  }

  /** Traffic counters. */
  get stats(): EngineStats {
    return { ...this.#sock.stats, ...this.pipeline.stats, ...this.#counters };
  }

  /** Our node key, the WireGuard identity this engine speaks for. */
  get nodePublicKey(): NodePublicKey {
    return this.#nodePublicKey;
  }

  /** The home DERP region ID, once started. */
  get homeRegion(): number | undefined {
    return this.#sock.homeRegion;
  }

  /**
   * The DERP connections (magicsock's): `setHome`, `setRegionOrder`,
   * `regions()`; home changes arrive as `derp-home` events.
   */
  get derp(): DerpLinks {
    return this.#sock.derp;
  }

  /** Whether a DERP connection to the home region is up right now. */
  get derpConnected(): boolean {
    return this.#sock.derpConnected;
  }

  /** The bound direct-path UDP address, when direct UDP is on. */
  get udpAddress(): AddrPort | undefined {
    return this.#sock.udpAddress;
  }

  /** Our UDP endpoints to advertise to control; empty without direct UDP. */
  localEndpoints(): AddrPort[] {
    return this.#sock.localEndpoints();
  }

  /**
   * Our endpoints with their types for a map request: the local ones, and
   * the STUN-mapped ones of the latest netcheck; empty without direct UDP.
   */
  endpoints(): AdvertisedEndpoint[] {
    if (!this.#sock.hasUDP) return [];
    return this.#netcheck?.endpoints() ??
      this.#sock.localEndpoints().map((addr) => ({ addr, type: EndpointType.Local }));
  }

  /** Drops by reason, only non-zero ones (see `DataPlaneStatus.dropped`). */
  droppedByReason(): Record<string, number> {
    return dropsByReason(this.stats);
  }

  /**
   * Fault injection for tests: sends `packet` (any bytes) through WireGuard
   * to the peer whose allowed IPs hold its destination, without the
   * outbound hooks, as a hostile or broken peer would; false when no peer
   * routes it.
   */
  injectToPeer(packet: Uint8Array): boolean {
    return this.#route(packet);
  }

  /** Fault injection for tests: see {@link MagicSock.simulateUDPLoss}. */
  simulateUDPLoss(blocked: boolean): void {
    this.#sock.simulateUDPLoss(blocked);
  }

  /** Whether direct UDP paths are tried (the shared socket is bound). */
  get direct(): boolean {
    return this.#sock.hasUDP;
  }

  /** The latest netcheck report, once one finished. */
  get netcheckReport(): NetcheckReport | undefined {
    return this.#netcheck?.lastReport;
  }

  /** What to tell control in `Hostinfo.NetInfo`, once netcheck reported. */
  netInfo(): NetInfo | undefined {
    return this.#netcheck?.netInfo();
  }

  /** The trusted direct path to the peer with this key and its latency, or null (then DERP). */
  directPath(key: NodePublicKey): BestPath | null {
    return this.#sock.directPath(key);
  }

  /** Whether the peer with this key has a usable WireGuard session now. */
  hasSession(key: NodePublicKey): boolean {
    return this.#device.peer(key)?.hasSession(this.#clock.monotonic()) ?? false;
  }

  /** The WireGuard counters of the peer with this key, once it has a WireGuard peer. */
  peerStats(key: NodePublicKey): Readonly<PeerStats> | undefined {
    return this.#device.peer(key)?.stats;
  }

  /**
   * Takes a new netmap. Peers that left lose their WireGuard sessions, and
   * the TCP connections to addresses no peer holds any more are aborted (a
   * peer that left would otherwise hold their buffers and timers until the
   * retransmissions give up, a quarter of an hour); the allowed IPs of those
   * that stay and the packet filter apply from the next packet on.
   */
  setNetmap(netmap: DataPlaneNetmap): void {
    const derpMapBefore = this.#sock.peers.netmap.derpMap;
    this.#sock.setNetmap(netmap);
    this.filter.setNetmap(netmap);
    if (netmap.derpMap !== derpMapBefore) this.#netcheck?.request("derp-map-update");
    const peers = this.#sock.peers;
    for (const peer of [...this.#device.peers]) {
      const text = peer.remotePublicKey.toText();
      if (!peers.byNodeKey(text)) {
        this.#device.removePeer(peer.remotePublicKey);
        this.#handshakesSeen.delete(text);
      }
    }
    this.#counters.connectionsAbortedPeerGone += this.netstack.abortConnections(
      (remote) => !peers.byAddress(remote),
      "closed: the peer left the netmap",
    );
  }

  /**
   * Starts magicsock (home DERP, and the UDP socket when asked). Resolves
   * with the home region ID; throws what {@link MagicSock.start} throws.
   */
  async start(signal?: AbortSignal): Promise<number> {
    const region = await this.#sock.start(
      signal ? AbortSignal.any([signal, this.#stop.signal]) : undefined,
    );
    if ((this.#options.netcheck ?? true) && !this.#netcheck && !this.#stop.signal.aborted) {
      this.#startNetcheck();
    }
    return region;
  }

  /**
   * Home DERP follows netcheck (data-plane reference §3.9): the regions
   * ranked by latency become the fail-over order, and the preferred one
   * (netcheck's own hysteresis keeps it stable) becomes home.
   */
  #followNetcheck(report: NetcheckReport): void {
    const derp = this.#sock.derp;
    derp.setRegionOrder([...report.regionLatency].sort((a, b) => a[1] - b[1]).map(([id]) => id));
    if (report.preferredDERP && report.preferredDERP !== derp.homeRegion) {
      derp.setHome(report.preferredDERP);
    }
  }

  #startNetcheck(): void {
    const sock = this.#sock;
    const netcheck = new NetcheckService({
      clock: this.#clock,
      random: this.#random,
      derpMap: () => sock.peers.netmap.derpMap,
      shared: sock.hasUDP ? { send: (datagram, to) => sock.sendUDPRaw(to, datagram) } : undefined,
      localEndpoints: () => sock.localEndpoints(),
      onReport: (report) => {
        this.#followNetcheck(report);
        this.#options.onNetcheck?.(report);
      },
    });
    if (sock.hasUDP) sock.onStun = (packet, from) => netcheck.receiveStun(packet, from);
    this.#netcheck = netcheck;
    netcheck.start();
  }

  /**
   * Starts the data plane, and when that fails, keeps trying in the
   * background with backoff (1 s doubling to 30 s) until it starts, the
   * signal aborts or the engine closes. Resolves with whether the first
   * attempt succeeded.
   */
  async startInBackground(options: BackgroundStartOptions): Promise<boolean> {
    const signal = AbortSignal.any([options.signal, this.#stop.signal]);
    const attempt = async (): Promise<boolean> => {
      try {
        const region = this.homeRegion ?? await this.start(signal);
        await options.onStarted?.(region);
        return true;
      } catch (err) {
        if (signal.aborted) return true;
        options.onRetry?.(err instanceof Error ? err : new Error(String(err)));
        return false;
      }
    };
    if (await attempt()) return true;
    const backoff = new Backoff({
      random: this.#random,
      baseMs: START_RETRY_MIN_MS,
      maxMs: START_RETRY_MAX_MS,
    });
    void (async () => {
      while (!signal.aborted) {
        try {
          await this.#clock.sleep(backoff.nextDelayMs(), signal);
        } catch {
          return;
        }
        if (await attempt()) return;
      }
    })();
    return false;
  }

  /**
   * Sends one IP packet from us through the pipeline to the peer whose
   * allowed IPs hold its destination (handshaking first when needed).
   * Returns false when a hook dropped it or no peer routes it.
   */
  sendPacket(packet: Uint8Array): boolean {
    return this.pipeline.outbound(packet);
  }

  /**
   * Pings `destination` from `source` (one of ours): ICMP echo or TSMP
   * through WireGuard, or disco outside it (`options.kind`); resolves with
   * the round trip. A send that finds no path is not fatal: the timeout
   * decides.
   */
  ping(
    source: Uint8Array,
    destination: Uint8Array,
    options: PeerPingOptions,
  ): Promise<PeerPingResult> {
    return this.#pinger.ping(source, destination, options);
  }

  /** Closes magicsock, stops the timers and erases WireGuard sessions. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#timer.stop();
    await this.#netcheck?.stop();
    this.netstack.close();
    await this.#sock.close();
    for (const peer of [...this.#device.peers]) this.#device.removePeer(peer.remotePublicKey);
  }

  /**
   * A TCP retransmission timer fired for `remote`. When its peer has sent us
   * nothing authenticated for a while, the WireGuard session may be dead on
   * the far side without our knowing (tailscaled drops a peer's session when
   * it learns the peer's new disco key, which can come just after our first
   * handshake): send nothing more on that session, and start a new handshake
   * now (within WireGuard's REKEY_TIMEOUT limit), instead of after the 15 s
   * of silence the whitepaper's timers wait.
   */
  #retransmitTimedOut(remote: Uint8Array): void {
    const peer = this.#sock.peers.byAddress(remote);
    if (!peer) return;
    const wgPeer = this.#device.peer(peer.nodeKey);
    if (!wgPeer) return;
    const now = this.#clock.monotonic();
    const heard = wgPeer.lastReceivedAt;
    if (heard !== undefined && now - heard < SILENT_PEER_MS) return;
    if (!wgPeer.hasSession(now)) return; // a handshake is already under way
    this.#counters.handshakesForcedByTcp++;
    this.#flush({ peer: wgPeer, ...wgPeer.abandonSession(now) });
  }

  #peerOptions(key: NodePublicKey) {
    const peers = this.#sock.peers;
    return {
      // Cryptokey routing reads the current netmap's table at every packet.
      isAllowedSource: (packet: Uint8Array) => {
        if (peers.isAllowedSource(packet, key)) return true;
        this.#counters.droppedSourceNotAllowed++;
        return false;
      },
    };
  }

  #onDatagram(datagram: Uint8Array, source: DatagramSource): boolean {
    const now = this.#clock.monotonic();
    const output = this.#device.handleDatagram(datagram, now, datagramSourceBytes(source));
    if (!output) {
      this.#counters.droppedByDevice++;
      this.#timer.arm();
      return false;
    }
    if (output.reply !== undefined) {
      // Under load: the sender proves it receives at its source before we spend X25519 on it.
      this.#counters.cookieRepliesSent++;
      this.#sock.replyTo(source, output.reply);
      return false;
    }
    this.#flush(output);
    return true;
  }

  /** Our disco key to a peer we just completed a handshake with (data-plane reference §5). */
  #advertiseDiscoKey(key: NodePublicKey): void {
    const peers = this.#sock.peers;
    const peer = peers.byNodeKey(key.toText());
    if (!peer) return;
    const advert = buildDiscoKeyAdvert(this.#discoPublicKey, peer, peers.selfIPs);
    if (!advert) return;
    this.#counters.discoKeyAdvertsSent++;
    this.#sendToPeer(advert, key);
  }

  #route(packet: Uint8Array): boolean {
    const peer = this.#sock.peers.routeFor(packet);
    if (!peer) {
      this.#sock.noteNoRoute();
      return false;
    }
    this.#sendToPeer(packet, peer.nodeKey);
    return true;
  }

  #sendToPeer(packet: Uint8Array, key: NodePublicKey): void {
    if (!this.#sock.peers.byNodeKey(key.toText())) {
      this.#sock.noteNoRoute(); // a peer that left the netmap gets nothing more
      return;
    }
    const wgPeer = this.#device.addPeer(key, this.#peerOptions(key));
    this.#flush({ peer: wgPeer, ...wgPeer.sendPacket(packet, this.#clock.monotonic()) });
  }

  #flush(output: DeviceOutput): void {
    const key = output.peer.remotePublicKey;
    for (const datagram of output.send) this.#sock.send(key, datagram);
    const handshakes = output.peer.stats.handshakes;
    const text = key.toText();
    if (handshakes !== (this.#handshakesSeen.get(text) ?? 0)) {
      this.#handshakesSeen.set(text, handshakes);
      this.#options.onEvent?.({ kind: "handshake", peer: key });
      this.#advertiseDiscoKey(key);
    }
    for (const packet of output.deliver) this.pipeline.inbound(packet, key);
    this.#timer.arm(output.peer);
  }
}
