/**
 * The disco side of magicsock (data-plane reference §2.5–2.9): opens and
 * seals disco packets, answers Pings along the path they came, and, with
 * direct UDP on, keeps one {@link PeerPath} per peer that pings its
 * endpoints, takes Pongs and CallMeMaybe, and picks the path WireGuard
 * datagrams take. One clock timer stays armed at the earliest PeerPath
 * deadline (heartbeats, Ping timeouts).
 *
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import type { DiscoPrivateKey, NodePublicKey } from "../crypto/keys.ts";
import type { RandomSource } from "../crypto/random.ts";
import type { DiscoMessage } from "../disco/disco_message.ts";
import { openDiscoPacket, sealDiscoMessage } from "../disco/disco_packet.ts";
import { type BestPath, type DiscoAction, type DiscoPath, PeerPath } from "../disco/peer_path.ts";
import { AddrPort } from "../netaddr/addr_port.ts";
import type { DataPlanePeer } from "./data_plane_netmap.ts";
import type { PeerMap } from "./peer_map.ts";

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** `tailcfg.DerpMagicIP`: the fake address whose port carries a DERP region ID (§2.4). */
const DERP_MAGIC_IP = Uint8Array.of(127, 3, 3, 40);

/** The Pong source for a Ping that came over DERP: the magic IP and the region (§2.6). */
function derpMagicAddr(via: DiscoPath): AddrPort {
  return via.via === "derp" ? new AddrPort(DERP_MAGIC_IP, via.region) : via.addr;
}

/** Counters of a {@link DiscoDriver}. */
export interface DiscoStats {
  /** Disco Pings answered with a Pong. */
  discoPingsAnswered: number;
  /** Disco packets dropped (unknown sender, bad box, unhandled message). */
  discoDropped: number;
  /** Our disco Pings sent (over UDP or DERP). */
  discoPingsSent: number;
  /** Pongs to our disco Pings received. */
  discoPongsReceived: number;
  /** CallMeMaybe messages sent over DERP. */
  callMeMaybeSent: number;
}

/** A disco Pong to one of our user-requested Pings (`tailscale ping`'s default kind). */
export interface DiscoPingResult {
  /** Round trip, ms. */
  latencyMs: number;
  /** The path the answered Ping took. */
  path: DiscoPath;
}

/** No Pong to a user-requested disco Ping arrived in time. */
export class DiscoPingTimeoutError extends Error {
  /** Names the peer and the wait. */
  constructor(readonly peer: string, readonly timeoutMs: number) {
    super(`no disco pong from ${peer} within ${timeoutMs} ms`);
    this.name = "DiscoPingTimeoutError";
  }
}

/** Where a WireGuard datagram to one peer goes now (§2.4). */
export interface DatagramRoute {
  /** The direct UDP endpoint, when there is one to use. */
  udp: AddrPort | null;
  /** Whether to send over DERP too (no trusted direct path yet). */
  derp: boolean;
}

/** What a {@link DiscoDriver} needs from the rest of magicsock. */
export interface DiscoDriverOptions {
  /** Our disco key. */
  discoKey: DiscoPrivateKey;
  /** Our node key's public half, carried in our Pings. */
  nodePublicKey: NodePublicKey;
  /** The peers of the current netmap. */
  peers: PeerMap;
  /** Time and timers. */
  clock: Clock;
  /** Randomness for disco nonces and transaction IDs. */
  random: RandomSource;
  /** Whether direct UDP paths are on (then peers get a PeerPath). */
  direct: boolean;
  /** Sends a datagram over UDP; false when there is no socket. */
  sendUDP: (to: AddrPort, packet: Uint8Array) => boolean;
  /**
   * Sends a payload over DERP to a peer, through `region` when given (the
   * region a Ping came on), else the peer's home; false when nothing can carry it.
   */
  sendDERP: (to: NodePublicKey, packet: Uint8Array, region?: number) => boolean;
  /** Our UDP endpoints, for CallMeMaybe. */
  localEndpoints: () => readonly AddrPort[];
  /** Our home DERP region, once known. */
  homeRegion: () => number | undefined;
  /** Told of each Ping answered. */
  onPing?: (from: NodePublicKey, txId: Uint8Array) => void;
}

/**
 * Disco for all peers of one data plane.
 *
 * @example
 * ```ts
 * const disco = new DiscoDriver({ discoKey, nodePublicKey, peers, clock, random, direct: true, … });
 * disco.handlePacket(packet, { via: "derp", region: 1 }, srcKey);
 * const route = disco.routeFor(peer);
 * ```
 */
export class DiscoDriver {
  /** Counters. */
  readonly stats: DiscoStats = {
    discoPingsAnswered: 0,
    discoDropped: 0,
    discoPingsSent: 0,
    discoPongsReceived: 0,
    callMeMaybeSent: 0,
  };
  readonly #options: DiscoDriverOptions;
  #paths = new Map<string, PeerPath>();
  /** Our user-requested Pings waiting for a Pong, by TxID (hex). */
  readonly #waiting = new Map<
    string,
    { sentAt: number; path: DiscoPath; done: (r: DiscoPingResult) => void }
  >();
  #timer: TimerHandle | undefined;
  #deadline: number | undefined;
  #closed = false;

  /** A driver with no paths yet; call {@link DiscoDriver.updatePeers} after each netmap. */
  constructor(options: DiscoDriverOptions) {
    this.#options = options;
  }

  /** Keeps one PeerPath per netmap peer with a disco key, fed from the netmap (§2.5). */
  updatePeers(): void {
    if (!this.#options.direct) return;
    const next = new Map<string, PeerPath>();
    for (const peer of this.#options.peers.peers) {
      if (!peer.discoKey) continue;
      const key = peer.nodeKey.toText();
      const path = this.#paths.get(key) ??
        new PeerPath({ clock: this.#options.clock, random: this.#options.random });
      path.updateFromNode({
        discoKey: peer.discoKey,
        homeDERP: peer.homeDERP ?? 0,
        endpoints: peer.endpoints ?? [],
      });
      next.set(key, path);
    }
    this.#paths = next;
    this.#armTimer();
  }

  /**
   * The trusted direct path to the peer with this key (a Pong over UDP in
   * the last 6.5 s, §2.7), or null.
   */
  directPath(key: NodePublicKey): BestPath | null {
    const path = this.#paths.get(key.toText());
    return path?.directTrusted ? path.bestPath : null;
  }

  /**
   * Where a WireGuard datagram to `peer` goes: the trusted direct path
   * alone, else over DERP (and to a candidate endpoint while discovering).
   * Notes the send, which may start disco Pings (§2.4).
   */
  routeFor(peer: DataPlanePeer): DatagramRoute {
    const path = this.#paths.get(peer.nodeKey.toText());
    if (!path) return { udp: null, derp: true };
    const { route, actions } = path.noteSend();
    if (actions.length > 0) this.#perform(peer, actions);
    return { udp: route.udp ?? null, derp: route.derpRegion !== null || !route.udp };
  }

  /**
   * One disco packet over DERP (`src` is the frame's node key) or UDP.
   * Pings are answered along the path they came (§2.6); with direct UDP on,
   * Pongs and CallMeMaybe (over DERP only, §2.9) drive the peer's PeerPath.
   */
  handlePacket(packet: Uint8Array, via: DiscoPath, src: NodePublicKey | undefined): void {
    const peers = this.#options.peers;
    const opened = openDiscoPacket(
      packet,
      this.#options.discoKey,
      (sender) => peers.sharedKey(sender.toText()),
    );
    if (!opened.ok) {
      this.stats.discoDropped++;
      return;
    }
    const peer = peers.byDiscoKey(opened.sender.toText())!;
    const path = this.#paths.get(peer.nodeKey.toText());
    const message = opened.message;
    if (message.type === "ping") {
      // Over DERP the sender is the frame's node key (§2.6 step 2); a Ping naming another is a lie.
      const claimed = src ?? peer.nodeKey;
      if (message.nodeKey && !message.nodeKey.equals(claimed)) {
        this.stats.discoDropped++;
        return;
      }
      if (via.via === "derp") path?.noteHeardViaDERP(via.region);
      this.#options.onPing?.(claimed, message.txId);
      const pong = path
        ? path.handlePing(message, via)
        : { type: "pong" as const, txId: message.txId, src: derpMagicAddr(via) };
      if (!pong) return; // a duplicate Ping on that endpoint
      this.stats.discoPingsAnswered++;
      this.#send(peer, via, pong);
      this.#armTimer();
      return;
    }
    if (message.type === "pong") {
      const waiter = this.#waiting.get(hex(message.txId));
      const result = path?.handlePong(message, via);
      if (!result && !waiter) {
        this.stats.discoDropped++;
        return;
      }
      this.stats.discoPongsReceived++;
      if (waiter) {
        waiter.done(
          result
            ? { latencyMs: result.latencyMs, path: result.path }
            : { latencyMs: this.#options.clock.monotonic() - waiter.sentAt, path: waiter.path },
        );
      }
      this.#armTimer();
      return;
    }
    if (message.type === "call-me-maybe" && path && via.via === "derp") {
      this.#perform(peer, path.handleCallMeMaybe(message));
      return;
    }
    this.stats.discoDropped++;
  }

  /**
   * Notes that a frame from the peer with this key came over DERP `region`,
   * so that replies can go back that way while its home is unknown (§2.3).
   */
  noteHeardViaDERP(key: NodePublicKey, region: number): void {
    this.#paths.get(key.toText())?.noteHeardViaDERP(region);
  }

  /**
   * A user-requested disco Ping (`tailscale ping`): over the peer's best
   * direct path and its home DERP at once when direct UDP is on, else over
   * DERP; resolves with the first Pong. Throws {@link DiscoPingTimeoutError}
   * or the signal's reason.
   */
  async ping(
    peer: DataPlanePeer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<DiscoPingResult> {
    const options = this.#options;
    const path = this.#paths.get(peer.nodeKey.toText());
    const sends: { txId: Uint8Array; path: DiscoPath }[] = [];
    if (path) {
      const actions = path.cliPing();
      for (const action of actions) {
        if (action.type === "send-ping") sends.push({ txId: action.txId, path: action.path });
      }
    } else if (peer.discoKey) {
      const region = peer.homeDERP || options.homeRegion();
      if (region) sends.push({ txId: options.random(12), path: { via: "derp", region } });
    }
    let resolve!: (result: DiscoPingResult) => void;
    const answered = new Promise<DiscoPingResult>((r) => resolve = r);
    const keys: string[] = [];
    const now = options.clock.monotonic();
    for (const send of sends) {
      const key = hex(send.txId);
      keys.push(key);
      this.#waiting.set(key, { sentAt: now, path: send.path, done: resolve });
      const message = {
        type: "ping" as const,
        txId: send.txId,
        nodeKey: options.nodePublicKey,
        padding: 0,
      };
      if (this.#send(peer, send.path, message)) this.stats.discoPingsSent++;
    }
    this.#armTimer();
    let timer: TimerHandle | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const failed = new Promise<never>((_, reject) => {
        timer = options.clock.setTimeout(
          () =>
            reject(new DiscoPingTimeoutError(peer.name ?? peer.nodeKey.toShortString(), timeoutMs)),
          timeoutMs,
        );
        onAbort = () => reject(signal!.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      return await Promise.race([answered, failed]);
    } finally {
      for (const key of keys) this.#waiting.delete(key);
      if (timer !== undefined) options.clock.clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Stops the timer; nothing is sent afterwards. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #perform(peer: DataPlanePeer, actions: readonly DiscoAction[]): void {
    const path = this.#paths.get(peer.nodeKey.toText());
    for (const action of actions) {
      if (action.type === "send-ping") {
        const sent = this.#send(peer, action.path, {
          type: "ping",
          txId: action.txId,
          nodeKey: this.#options.nodePublicKey,
          padding: 0,
        });
        if (sent) this.stats.discoPingsSent++;
        else path?.forgetPing(action.txId);
      } else if (action.type === "send-call-me-maybe") {
        const endpoints = this.#options.localEndpoints();
        if (endpoints.length === 0) continue;
        // To the peer's home region: that is where it listens (tailscaled's `derpAddr`).
        const region = action.derpRegion;
        const message = { type: "call-me-maybe" as const, endpoints: [...endpoints] };
        if (this.#send(peer, { via: "derp", region }, message)) this.stats.callMeMaybeSent++;
      }
    }
    this.#armTimer();
  }

  #send(peer: DataPlanePeer, path: DiscoPath, message: DiscoMessage): boolean {
    if (!peer.discoKey) return false;
    const options = this.#options;
    const packet = sealDiscoMessage(
      message,
      options.discoKey,
      peer.discoKey,
      options.random,
      options.peers.sharedKey(peer.discoKey.toText()) ?? undefined,
    );
    if (path.via === "udp") return options.sendUDP(path.addr, packet);
    // Servers of different regions do not forward to each other: the path's region it is (§3.8).
    return options.sendDERP(peer.nodeKey, packet, path.region);
  }

  /** Keeps one clock timer at the earliest PeerPath deadline. */
  #armTimer(): void {
    if (this.#closed) return;
    const clock = this.#options.clock;
    let deadline: number | undefined;
    for (const path of this.#paths.values()) {
      const next = path.nextDeadline();
      if (next !== null && (deadline === undefined || next < deadline)) deadline = next;
    }
    if (deadline === this.#deadline && this.#timer !== undefined) return;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#deadline = deadline;
    if (deadline === undefined) return;
    const wait = Math.max(0, deadline - clock.monotonic());
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      this.#deadline = undefined;
      for (const peer of this.#options.peers.peers) {
        const path = this.#paths.get(peer.nodeKey.toText());
        if (path) this.#perform(peer, path.poll());
      }
      this.#armTimer();
    }, wait);
  }
}
