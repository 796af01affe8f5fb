/**
 * Our own pings of a peer, of the three kinds tailscaled answers and sends
 * (`tailscale ping`, `--icmp`, `--tsmp`; control's typed PingRequests,
 * control reference §10.6): ICMP echo through WireGuard (answered by the
 * peer's stack), TSMP Ping through WireGuard (answered by the peer's
 * data plane, data-plane reference §5), and disco Ping outside WireGuard
 * (answered by the peer's magicsock, §2.6). Replies are matched to the
 * waiting ping (ICMP by peer, identifier and sequence; TSMP by its 8 bytes;
 * disco by TxID) and taken out of the packet path.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import type { RandomSource } from "../crypto/random.ts";
import type { DataPlanePeer } from "../magicsock/data_plane_netmap.ts";
import type { DiscoPingResult } from "../magicsock/disco_driver.ts";
import { parseIPPacket } from "../netstack/wire/ip_packet.ts";
import { IPProtocol } from "../netaddr/ip_protocol.ts";
import {
  emitTSMPPacket,
  parseTSMPMessage,
  TSMP_PING_DATA_LENGTH,
  tsmpMessageLength,
} from "../netstack/wire/tsmp.ts";
import type { DiscoPath } from "../disco/disco_path.ts";
import { buildEchoRequest, EchoWaiters } from "./echo_ping.ts";
import type { LocalHandler } from "./packet_pipeline.ts";

/** The kinds of ping. */
export type PingKind = "icmp" | "tsmp" | "disco";

/** What one answered ping measured. */
export interface PeerPingResult {
  /** Round trip, ms. */
  latencyMs: number;
  /** For disco pings: the path the answered Ping took. */
  path?: DiscoPath;
  /** For TSMP pings: the peer's peerAPI port, 0 when it has none. */
  peerAPIPort?: number;
}

/** What {@link PeerPinger.ping} takes besides the addresses. */
export interface PeerPingOptions {
  /** Which kind (default ICMP). */
  kind?: PingKind;
  /** How long to wait for the reply. */
  timeoutMs: number;
  /** The error to throw on timeout. */
  timeoutError: () => Error;
  /** Aborts the wait. */
  signal?: AbortSignal;
}

/** What a {@link PeerPinger} needs from its engine. */
export interface PeerPingerOptions {
  /** Time and timers. */
  clock: Clock;
  /** Identifiers and payloads. */
  random: RandomSource;
  /** Sends one of our IP packets through the pipeline. */
  send: (packet: Uint8Array) => boolean;
  /** The peer holding an address. */
  peerFor: (ip: Uint8Array) => DataPlanePeer | undefined;
  /** A disco Ping to a peer. */
  discoPing: (
    peer: DataPlanePeer,
    timeoutMs: number,
    signal?: AbortSignal,
  ) => Promise<DiscoPingResult>;
}

/**
 * Sends pings and takes their replies.
 *
 * @example
 * ```ts
 * const pinger = new PeerPinger({ clock, random, send, peerFor, discoPing });
 * pipeline.addLocalHandler(pinger.echoReplies);
 * pipeline.addTSMPObserver(pinger.tsmpPongs);
 * const { latencyMs } = await pinger.ping(ours, theirs, { kind: "tsmp", timeoutMs: 5000, timeoutError });
 * ```
 */
export class PeerPinger {
  readonly #options: PeerPingerOptions;
  readonly #echo = new EchoWaiters();
  readonly #tsmp = new Map<string, (peerAPIPort: number) => void>();

  /** A pinger with nothing in flight. */
  constructor(options: PeerPingerOptions) {
    this.#options = options;
  }

  /** The local handler that takes echo replies to our ICMP pings. */
  readonly echoReplies: LocalHandler = (packet) => this.#echo.take(packet);

  /** The TSMP observer that takes Pongs to our TSMP pings. */
  readonly tsmpPongs: LocalHandler = (packet) => {
    if (this.#tsmp.size === 0) return false;
    try {
      const ip = parseIPPacket(packet);
      if (ip.protocol !== IPProtocol.TSMP || ip.isFragment) return false;
      const message = parseTSMPMessage(ip.payload);
      if (message.kind !== "pong") return false;
      const done = this.#tsmp.get(dataKey(message.data));
      if (!done) return false;
      done(message.peerAPIPort ?? 0);
      return true;
    } catch {
      return false; // not ours to read
    }
  };

  /**
   * Pings `destination` from `source` (one of ours, same family) and
   * resolves with the round trip. A send that finds no path is not fatal:
   * the timeout decides.
   */
  async ping(
    source: Uint8Array,
    destination: Uint8Array,
    options: PeerPingOptions,
  ): Promise<PeerPingResult> {
    const { clock } = this.#options;
    const started = clock.monotonic();
    let timer: TimerHandle | undefined;
    let onAbort: (() => void) | undefined;
    let cleanup = () => {};
    const failed = new Promise<never>((_, reject) => {
      timer = clock.setTimeout(() => reject(options.timeoutError()), options.timeoutMs);
      onAbort = () => reject(options.signal!.reason);
      options.signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const kind = options.kind ?? "icmp";
      if (kind === "disco") {
        const peer = this.#options.peerFor(destination);
        if (!peer) return await failed;
        const result = await Promise.race([
          this.#options.discoPing(peer, options.timeoutMs, options.signal).catch(() => failed),
          failed,
        ]);
        return { latencyMs: result.latencyMs, path: result.path };
      }
      let answered: Promise<number>;
      let packet: Uint8Array;
      if (kind === "tsmp") {
        const data = this.#options.random(TSMP_PING_DATA_LENGTH);
        const key = dataKey(data);
        answered = new Promise((resolve) => this.#tsmp.set(key, resolve));
        cleanup = () => this.#tsmp.delete(key);
        const ping = { kind: "ping" as const, data };
        packet = new Uint8Array((source.length === 4 ? 20 : 40) + tsmpMessageLength(ping));
        const id = this.#options.random(2);
        emitTSMPPacket(ping, {
          src: source,
          dst: destination,
          identification: (id[0] << 8) | id[1],
        }, packet);
      } else {
        const request = buildEchoRequest(source, destination, this.#options.random);
        const waiter = this.#echo.wait(request.key);
        answered = waiter.replied.then(() => 0);
        cleanup = waiter.cancel;
        packet = request.packet;
      }
      this.#options.send(packet);
      const peerAPIPort = await Promise.race([answered, failed]);
      const latencyMs = clock.monotonic() - started;
      return kind === "tsmp" ? { latencyMs, peerAPIPort } : { latencyMs };
    } finally {
      cleanup();
      failed.catch(() => {});
      if (timer !== undefined) clock.clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener("abort", onAbort);
    }
  }
}

function dataKey(data: Uint8Array): string {
  return String.fromCharCode(...data);
}
