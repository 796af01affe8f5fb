/**
 * The packet pipeline: the one road between WireGuard and anything local,
 * as tailscale's `net/tstun/wrap.go` is between its device and its stack.
 *
 * Inbound, every IP packet WireGuard decrypted (over DERP or direct UDP, its
 * source already checked against the sender's allowed IPs) passes, in
 * order: TSMP (answered here, never handed on: data-plane reference §5),
 * the inbound hooks (the packet filter), then the local handlers in the
 * order they were added (the echo responder, our pings' replies, the
 * TCP/UDP stack) until one takes it. A hook's drop is counted by its reason
 * and nothing local sees the packet.
 *
 * Outbound, a local packet passes the outbound hooks (flow tracking) and is
 * then routed to a peer. Replies the pipeline writes itself (TSMP Pongs,
 * echo replies) go straight back to the peer that asked.
 *
 * @module
 */
import type { NodePublicKey } from "../crypto/keys.ts";
import { isTSMPPacket, tsmpPong } from "../netstack/tsmp_responder.ts";

/**
 * Looks at one inbound packet and the peer it came from; returns null to
 * let it pass, or the reason it is dropped (a short, stable word such as
 * `"acl"`, counted per reason).
 */
export type InboundHook = (packet: Uint8Array, from: NodePublicKey) => string | null;

/** Looks at one outbound local packet before routing; null or a drop reason, as {@link InboundHook}. */
export type OutboundHook = (packet: Uint8Array) => string | null;

/**
 * Offered each inbound packet that passed the hooks; returns true when it
 * took the packet (the handlers after it do not see it). `reply` sends a
 * packet back to the same peer.
 */
export type LocalHandler = (
  packet: Uint8Array,
  from: NodePublicKey,
  reply: (packet: Uint8Array) => void,
) => boolean;

/** Counters of a {@link PacketPipeline}. */
export interface PipelineStats {
  /** TSMP Pings answered with a Pong. */
  tsmpPongsSent: number;
  /** Other TSMP packets (pongs, disco-key adverts, rejects), consumed unhandled. */
  tsmpIgnored: number;
  /** Inbound packets a local handler took. */
  packetsDelivered: number;
  /** Inbound packets no local handler took. */
  packetsUnhandled: number;
  /** Inbound packets dropped by a hook, by reason. */
  inboundDropped: Record<string, number>;
  /** Outbound packets dropped by a hook, by reason. */
  outboundDropped: Record<string, number>;
}

/** What a {@link PacketPipeline} needs from its engine. */
export interface PacketPipelineOptions {
  /** Our own mesh addresses, read at every packet. */
  selfIPs: () => readonly Uint8Array[];
  /** Sends a packet to one peer through WireGuard. */
  sendToPeer: (packet: Uint8Array, peer: NodePublicKey) => void;
  /** Routes an outbound packet to the peer owning its destination; false when none does. */
  route: (packet: Uint8Array) => boolean;
  /**
   * Told of each inbound packet a hook dropped, with the reason; `reply`
   * sends a packet back to the same peer (a TSMP rejection for an ACL-dropped
   * SYN, as tailscaled sends one).
   */
  onInboundDrop?: (
    packet: Uint8Array,
    reason: string,
    reply: (packet: Uint8Array) => void,
  ) => void;
}

/**
 * The one packet path of an engine.
 *
 * @example
 * ```ts
 * const pipeline = new PacketPipeline({ selfIPs, sendToPeer, route });
 * pipeline.addInboundHook((packet, peer) => filter.allows(packet) ? null : "acl");
 * pipeline.addLocalHandler((packet, from, reply) => stack.deliver(packet));
 * pipeline.inbound(decrypted, peerKey);
 * ```
 */
export class PacketPipeline {
  /** Counters. */
  readonly stats: PipelineStats = {
    tsmpPongsSent: 0,
    tsmpIgnored: 0,
    packetsDelivered: 0,
    packetsUnhandled: 0,
    inboundDropped: {},
    outboundDropped: {},
  };
  readonly #options: PacketPipelineOptions;
  readonly #inboundHooks: InboundHook[] = [];
  readonly #outboundHooks: OutboundHook[] = [];
  readonly #handlers: LocalHandler[] = [];
  readonly #tsmpObservers: LocalHandler[] = [];

  /** A pipeline with no hooks and no handlers. */
  constructor(options: PacketPipelineOptions) {
    this.#options = options;
  }

  /** Adds a hook that sees every inbound packet before any local handler; returns its removal. */
  addInboundHook(hook: InboundHook): () => void {
    return addTo(this.#inboundHooks, hook);
  }

  /** Adds a hook that sees every outbound local packet before routing; returns its removal. */
  addOutboundHook(hook: OutboundHook): () => void {
    return addTo(this.#outboundHooks, hook);
  }

  /** Adds a local handler after those already there; returns its removal. */
  addLocalHandler(handler: LocalHandler): () => void {
    return addTo(this.#handlers, handler);
  }

  /**
   * Adds an observer of inbound TSMP other than Pings (Pongs to our TSMP
   * pings, disco-key advertisements); it returns true when it took the
   * packet. Returns its removal.
   */
  addTSMPObserver(observer: LocalHandler): () => void {
    return addTo(this.#tsmpObservers, observer);
  }

  /** One inbound packet that WireGuard decrypted from `from`. */
  inbound(packet: Uint8Array, from: NodePublicKey): void {
    if (isTSMPPacket(packet)) {
      const pong = tsmpPong(packet, this.#options.selfIPs());
      if (pong) {
        this.stats.tsmpPongsSent++;
        this.#options.sendToPeer(pong, from);
        return;
      }
      const reply = (out: Uint8Array) => this.#options.sendToPeer(out, from);
      for (const observer of this.#tsmpObservers) if (observer(packet, from, reply)) return;
      this.stats.tsmpIgnored++;
      return;
    }
    for (const hook of this.#inboundHooks) {
      const reason = hook(packet, from);
      if (reason !== null) {
        count(this.stats.inboundDropped, reason);
        this.#options.onInboundDrop?.(
          packet,
          reason,
          (out) => this.#options.sendToPeer(out, from),
        );
        return;
      }
    }
    const reply = (out: Uint8Array) => this.#options.sendToPeer(out, from);
    for (const handler of this.#handlers) {
      if (handler(packet, from, reply)) {
        this.stats.packetsDelivered++;
        return;
      }
    }
    this.stats.packetsUnhandled++;
  }

  /** One outbound local packet; false when a hook dropped it or no peer routes it. */
  outbound(packet: Uint8Array): boolean {
    for (const hook of this.#outboundHooks) {
      const reason = hook(packet);
      if (reason !== null) {
        count(this.stats.outboundDropped, reason);
        return false;
      }
    }
    return this.#options.route(packet);
  }
}

function addTo<T>(list: T[], item: T): () => void {
  list.push(item);
  return () => {
    const at = list.indexOf(item);
    if (at >= 0) list.splice(at, 1);
  };
}

function count(counts: Record<string, number>, reason: string): void {
  counts[reason] = (counts[reason] ?? 0) + 1;
}
