/**
 * A DERP client connection (data-plane reference §3): dial the server's
 * URL over TCP (`http:`) or TLS (`https:`, extra CA certificates allowed),
 * `GET /derp` with `Upgrade: DERP`, run the handshake of derp_handshake.ts,
 * then relay packets addressed by node public key.
 *
 * Receiving is pulled: {@link DerpClient.receive} (or `for await`) reads
 * frames, answers the server's Pings, notes KeepAlives and Pongs, and returns
 * the next packet or peer event. As in Tailscale's client, the server's
 * Pings and our own {@link DerpClient.ping} are only served while someone is
 * receiving, and the read timeout (120 s, twice the server's keep-alive
 * interval, §3.6) runs only during a receive. Sends may come from anywhere;
 * they are written whole, one frame at a time, through a bounded queue
 * (derp_write_queue.ts): a server that floods Pings and never reads gets
 * its excess Pongs dropped and counted, and packets over the queue's bound
 * are dropped and counted too, as a full link drops them.
 *
 * The connect does not return before ServerInfo has arrived, so a server
 * that refuses our node key (§3.7) shows up as a {@link DerpRefusedError}
 * from {@link DerpClient.connect}. Reconnecting, and choosing which region
 * and node to dial, are the caller's business.
 *
 * Plain HTTP is what a Headscale embedded DERP on an `http://` server URL
 * and `derper` off port 443 serve; Tailscale's own clients only use it with
 * `TS_DEBUG_USE_DERP_HTTP`. Dialing, through an HTTP proxy or not, with
 * TLS verified, is derp_dial.ts's.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import type { ConnReader } from "../control/conn_reader.ts";
import { closeQuietly, type ControlConn, writeAll } from "../control/control_dial.ts";
import type { NodePublicKey } from "../crypto/keys.ts";
import { type RandomSource, systemRandom } from "../crypto/random.ts";
import {
  DerpClosedError,
  DerpError,
  DerpFrameError,
  DerpQueueFullError,
  DerpTimeoutError,
} from "./derp_errors.ts";
import {
  type DerpFrame,
  FRAME_HEADER_LENGTH,
  FrameType,
  KEEP_ALIVE_INTERVAL_MS,
  KEY_LENGTH,
  MAX_PACKET_SIZE,
  parseFrame,
  parseFrameHeader,
  PING_DATA_LENGTH,
  serializeFrame,
  writeFrameHeader,
} from "./derp_frame.ts";
import type { DerpServerInfo } from "./derp_handshake.ts";
import {
  DEFAULT_DERP_WRITE_LIMITS,
  type DerpWriteKind,
  type DerpWriteLimits,
  DerpWriteQueue,
} from "./derp_write_queue.ts";
import { TokenBucket } from "./token_bucket.ts";
import type { DerpClientStats, DerpConnectOptions, DerpMessage } from "./derp_client_types.ts";
import { isConnectionEnd, openDerpConnection } from "./derp_connect.ts";

/** Read limit: two of the server's keep-alive intervals (§3.6). */
export const DERP_READ_TIMEOUT_MS = 2 * KEEP_ALIVE_INTERVAL_MS;
/** Default wait for the Pong to {@link DerpClient.ping} (magicsock's rebind check uses 3 s, §3.8). */
export const DERP_PING_TIMEOUT_MS = 3000;

export type { DerpClientStats, DerpConnectOptions, DerpMessage } from "./derp_client_types.ts";
export {
  DERP_CONNECT_TIMEOUT_MS,
  DERP_PATH,
  derpURL,
  FAST_START_HEADER,
  IDEAL_NODE_HEADER,
} from "./derp_connect.ts";

interface PingWaiter {
  sentAt: number;
  resolve: (rttMs: number) => void;
  reject: (error: unknown) => void;
}

/**
 * One connection to a DERP server.
 *
 * @example
 * ```ts
 * const derp = await DerpClient.connect({ url: "http://127.0.0.1:8080/derp", nodeKey });
 * await derp.send(peerKey, packet);
 * for await (const message of derp) {
 *   if (message.type === "packet") console.log(message.src.toShortString(), message.data.length);
 * }
 * ```
 */
export class DerpClient {
  /** The server's public key. */
  readonly serverKey: NodePublicKey;
  /** What the server said in ServerInfo. */
  readonly serverInfo: DerpServerInfo;
  /** Our node public key, our address on this server. */
  readonly publicKey: NodePublicKey;
  /** The server URL (origin and path) this client connected to. */
  readonly url: string;
  /** Counters; read-only for callers. */
  readonly stats: DerpClientStats = {
    packetsSent: 0,
    bytesSent: 0,
    packetsDroppedByRateLimit: 0,
    packetsDroppedQueueFull: 0,
    packetsReceived: 0,
    bytesReceived: 0,
    keepAlives: 0,
    pingsAnswered: 0,
    pongsDropped: 0,
    malformedFrames: 0,
    unknownFrames: 0,
  };

  readonly #conn: ControlConn;
  readonly #reader: ConnReader;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #readTimeoutMs: number;
  readonly #rateLimit: TokenBucket | undefined;
  readonly #pings = new Map<string, PingWaiter>();
  readonly #scratch = new Uint8Array(FRAME_HEADER_LENGTH + 2 * KEY_LENGTH + MAX_PACKET_SIZE);
  readonly #writes: DerpWriteQueue;
  #receiving = false;
  #error: DerpError | undefined;
  #closedByUs = false;

  private constructor(init: {
    conn: ControlConn;
    reader: ConnReader;
    serverKey: NodePublicKey;
    serverInfo: DerpServerInfo;
    publicKey: NodePublicKey;
    url: string;
    clock: Clock;
    random: RandomSource;
    readTimeoutMs: number;
    writeLimits: DerpWriteLimits;
  }) {
    this.#conn = init.conn;
    this.#reader = init.reader;
    this.serverKey = init.serverKey;
    this.serverInfo = init.serverInfo;
    this.publicKey = init.publicKey;
    this.url = init.url;
    this.#clock = init.clock;
    this.#random = init.random;
    this.#readTimeoutMs = init.readTimeoutMs;
    this.#writes = new DerpWriteQueue(init.writeLimits);
    const { tokenBucketBytesPerSecond: rate, tokenBucketBytesBurst: burst } = init.serverInfo;
    if (rate > 0 && burst > 0) this.#rateLimit = new TokenBucket(rate, burst, init.clock);
  }

  /**
   * Connects, upgrades and completes the handshake (derp_connect.ts). Throws
   * {@link DerpConnectError} (dial, TLS, HTTP status), {@link DerpRefusedError}
   * (the server closed the connection instead of admitting our key),
   * {@link DerpHandshakeError}, {@link DerpFrameError},
   * {@link DerpTimeoutError}, or the signal's reason.
   */
  static async connect(options: DerpConnectOptions): Promise<DerpClient> {
    const clock = options.clock ?? systemClock;
    const random = options.random ?? systemRandom;
    const opened = await openDerpConnection({ ...options, clock, random });
    return new DerpClient({
      ...opened,
      publicKey: options.nodeKey.publicKey(),
      clock,
      random,
      readTimeoutMs: options.readTimeoutMs ?? DERP_READ_TIMEOUT_MS,
      writeLimits: { ...DEFAULT_DERP_WRITE_LIMITS, ...options.writeLimits },
    });
  }

  /** Whether the connection is closed (by {@link close}, the server, or an error). */
  get closed(): boolean {
    return this.#error !== undefined;
  }

  /**
   * Sends `packet` (at most 64 KiB) to the node with key `dst`. Resolves once
   * the frame is written. A packet over the server's rate limit (§3.5), or
   * over the write queue's bound, is dropped silently and counted. Throws
   * {@link DerpFrameError} for an oversize packet and {@link DerpClosedError}
   * once closed.
   */
  send(dst: NodePublicKey, packet: Uint8Array): Promise<void> {
    if (packet.length > MAX_PACKET_SIZE) {
      return Promise.reject(
        new DerpFrameError(`packet of ${packet.length} bytes exceeds ${MAX_PACKET_SIZE}`),
      );
    }
    if (
      this.#rateLimit && !this.#rateLimit.take(FRAME_HEADER_LENGTH + KEY_LENGTH + packet.length)
    ) {
      this.stats.packetsDroppedByRateLimit++;
      return this.#error ? Promise.reject(this.#error) : Promise.resolve();
    }
    return this.#enqueueWrite("packet", () => {
      const length = KEY_LENGTH + packet.length;
      writeFrameHeader(this.#scratch, 0, FrameType.SEND_PACKET, length);
      this.#scratch.set(dst.bytes, FRAME_HEADER_LENGTH);
      this.#scratch.set(packet, FRAME_HEADER_LENGTH + KEY_LENGTH);
      this.stats.packetsSent++;
      this.stats.bytesSent += packet.length;
      return this.#scratch.subarray(0, FRAME_HEADER_LENGTH + length);
    }) ?? this.#dropPacket();
  }

  /**
   * Mesh clients only: asks the server to deliver `packet` to `dst` as if
   * `src` had sent it. The server closes the connection of a client without
   * the mesh key.
   */
  forwardPacket(src: NodePublicKey, dst: NodePublicKey, packet: Uint8Array): Promise<void> {
    let frame: Uint8Array;
    try {
      frame = serializeFrame({ type: "forwardPacket", src, dst, data: packet });
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#enqueueWrite("packet", () => {
      this.stats.packetsSent++;
      this.stats.bytesSent += packet.length;
      return frame;
    }) ?? this.#dropPacket();
  }

  /** Tells the server whether this is our home DERP (statistics only, §3.9). */
  notePreferred(preferred: boolean): Promise<void> {
    const frame = serializeFrame({ type: "notePreferred", preferred });
    return this.#enqueueControl(frame);
  }

  /**
   * Mesh clients only: subscribe to PeerPresent/PeerGone for every client of
   * the server. They arrive through {@link receive}.
   */
  watchConnectionChanges(): Promise<void> {
    const frame = serializeFrame({ type: "watchConns" });
    return this.#enqueueControl(frame);
  }

  /** Mesh clients only: asks the server to close the connection of `peer`. */
  closePeer(peer: NodePublicKey): Promise<void> {
    const frame = serializeFrame({ type: "closePeer", peer });
    return this.#enqueueControl(frame);
  }

  /**
   * Sends a Ping and resolves with the round trip in milliseconds when the
   * Pong comes back. Someone must be receiving meanwhile (see the module
   * notes). Rejects with {@link DerpTimeoutError} or {@link DerpClosedError}.
   */
  ping(timeoutMs: number = DERP_PING_TIMEOUT_MS): Promise<number> {
    if (this.#error) return Promise.reject(this.#error);
    const data = this.#random(PING_DATA_LENGTH).slice(0, PING_DATA_LENGTH);
    const key = toHex(data);
    return new Promise<number>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        this.#pings.delete(key);
        reject(new DerpTimeoutError(`no Pong from ${this.url} within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = () => {
        this.#clock.clearTimeout(timer);
        this.#pings.delete(key);
      };
      this.#pings.set(key, {
        sentAt: this.#clock.monotonic(),
        resolve: (rtt) => {
          settle();
          resolve(rtt);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      const frame = serializeFrame({ type: "ping", data });
      this.#enqueueControl(frame).catch((error) => this.#pings.get(key)?.reject(error));
    });
  }

  /**
   * Reads until the next packet or peer event, answering Pings and noting
   * KeepAlives and Pongs on the way. Throws {@link DerpTimeoutError} when
   * nothing arrives within the read timeout, {@link DerpClosedError} when
   * the connection is or becomes closed, {@link DerpFrameError} for an
   * oversize frame; any of these closes the connection.
   */
  async receive(): Promise<DerpMessage> {
    if (this.#error) throw this.#error;
    if (this.#receiving) throw new DerpError("another receive is already waiting");
    this.#receiving = true;
    try {
      for (;;) {
        const frame = await this.#readFrameWithTimeout();
        if (frame === undefined) continue;
        switch (frame.type) {
          case "recvPacket": {
            this.stats.packetsReceived++;
            this.stats.bytesReceived += frame.data.length;
            return { type: "packet", src: frame.src, data: frame.data };
          }
          case "keepAlive":
            this.stats.keepAlives++;
            continue;
          case "ping": {
            const pong = serializeFrame({ type: "pong", data: frame.data });
            const written = this.#enqueueWrite("pong", () => pong);
            if (written) this.stats.pingsAnswered++;
            else this.stats.pongsDropped++;
            written?.catch(() => {});
            continue;
          }
          case "pong": {
            const waiter = this.#pings.get(toHex(frame.data));
            waiter?.resolve(this.#clock.monotonic() - waiter.sentAt);
            continue;
          }
          case "peerGone":
          case "peerPresent":
          case "health":
          case "restarting":
            return frame;
          default:
            // ServerKey after fast start, ServerInfo again, frames meant for servers, unknown types.
            if (frame.type === "unknown") this.stats.unknownFrames++;
            continue;
        }
      }
    } catch (error) {
      throw this.#fail(error);
    } finally {
      this.#receiving = false;
    }
  }

  /**
   * Messages until the connection closes: ends quietly after {@link close},
   * throws what {@link receive} throws otherwise.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<DerpMessage, void, undefined> {
    for (;;) {
      let message: DerpMessage;
      try {
        message = await this.receive();
      } catch (error) {
        if (this.#closedByUs) return;
        throw error;
      }
      yield message;
    }
  }

  /** Closes the connection; pending pings and receives fail with {@link DerpClosedError}. */
  close(): void {
    if (!this.#error) this.#closedByUs = true;
    this.#fail(new DerpClosedError(`DERP connection to ${this.url} closed`));
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Reads one frame; undefined for a malformed frame of known type (skipped, §3.4). */
  async #readFrameWithTimeout(): Promise<DerpFrame | undefined> {
    const timer = this.#clock.setTimeout(() => {
      this.#fail(
        new DerpTimeoutError(`nothing from ${this.url} for ${this.#readTimeoutMs / 1000} s`),
      );
    }, this.#readTimeoutMs);
    try {
      const header = parseFrameHeader(await this.#reader.readExact(FRAME_HEADER_LENGTH));
      const payload = await this.#reader.readExact(header.length);
      try {
        return parseFrame(header.frameType, payload);
      } catch (error) {
        if (!(error instanceof DerpFrameError)) throw error;
        this.stats.malformedFrames++;
        return undefined;
      }
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  /**
   * Queues a frame, built when its turn comes (packets share one scratch
   * buffer); null, queuing nothing, when `kind`'s queue is full.
   */
  #enqueueWrite(kind: DerpWriteKind, build: () => Uint8Array): Promise<void> | null {
    if (this.#error) return Promise.reject(this.#error);
    return this.#writes.offer(kind, async () => {
      if (this.#error) throw this.#error;
      try {
        await writeAll(this.#conn, build());
      } catch (error) {
        throw this.#fail(error);
      }
    });
  }

  /** A packet the full queue could not take: dropped and counted, as a full link drops. */
  #dropPacket(): Promise<void> {
    this.stats.packetsDroppedQueueFull++;
    return Promise.resolve();
  }

  /** Queues a control frame, or refuses it with {@link DerpQueueFullError}. */
  #enqueueControl(frame: Uint8Array): Promise<void> {
    return this.#enqueueWrite("control", () => frame) ?? Promise.reject(
      new DerpQueueFullError(`${this.url} is not reading: too many frames wait to be written`),
    );
  }

  /** Records the first error, closes the connection, fails waiters; returns the error to throw. */
  #fail(error: unknown): DerpError {
    if (!this.#error) {
      this.#error = error instanceof DerpError ? error : new DerpClosedError(
        `DERP connection to ${this.url} ended: ${
          isConnectionEnd(error) ? "closed by the server" : (error as Error).message
        }`,
        { cause: error },
      );
      closeQuietly(this.#conn);
      for (const waiter of [...this.#pings.values()]) waiter.reject(this.#error);
    }
    return this.#error;
  }
}

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
