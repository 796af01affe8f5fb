/**
 * One DERP region's connection as magicsock keeps it (data-plane reference
 * §3.8): connect, read frames until the connection fails, back off (250 ms
 * doubling to 5 s, as tailscaled's reader loop caps it) and connect again,
 * until closed. Writes made while it is (re)connecting wait in a queue of
 * 32 (tailscaled's `derpWriteQueueDepth`); when it is full the oldest is
 * dropped, so the newest packets, which a peer is likelier to still want,
 * get through.
 *
 * The link knows nothing of homes or peers: derp_links.ts decides which
 * regions to keep and where to send, and hears about everything through
 * {@link DerpRegionLinkHooks}.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { DERPRegion } from "../control/map_response.ts";
import type { NodePublicKey } from "../crypto/keys.ts";
import type { DerpMessage } from "../derp/derp_client.ts";

/** First wait before a DERP reconnect. */
export const DERP_RECONNECT_MIN_MS = 250;
/** Upper bound of the wait between DERP reconnect attempts (§3.6, §3.8). */
export const DERP_RECONNECT_MAX_MS = 5000;
/** Writes held per region while its connection is not up (`derpWriteQueueDepth`, §2.4). */
export const DERP_WRITE_QUEUE_DEPTH = 32;

/** What a link needs of a DERP connection; a `DerpClient` is one. */
export interface DerpConnection {
  /** Whether the connection is closed. */
  readonly closed: boolean;
  /** Sends one packet to `dst`; resolves once written. */
  send(dst: NodePublicKey, packet: Uint8Array): Promise<void>;
  /** Tells the server whether this is our home region (§3.9). */
  notePreferred(preferred: boolean): Promise<void>;
  /** The next packet or peer event; throws when the connection fails. */
  receive(): Promise<DerpMessage>;
  /** Closes the connection. */
  close(): void;
}

/**
 * Opens a connection to a region (its first relaying node), announcing
 * whether it is our home; rejects with the connect's error.
 */
export type DerpConnector = (
  region: DERPRegion,
  preferred: boolean,
  signal: AbortSignal,
) => Promise<{ connection: DerpConnection; url: string }>;

/** What a link reports to its owner. */
export interface DerpRegionLinkHooks {
  /** A connection is up (after a connect or a reconnect). */
  onConnected(link: DerpRegionLink, url: string): void;
  /** A frame arrived on the current connection. */
  onMessage(link: DerpRegionLink, message: DerpMessage): void;
  /** The current connection failed; the next try is in `retryInMs`. */
  onLost(link: DerpRegionLink, error: Error, retryInMs: number): void;
  /** A connect failed (`failures` in a row); the next try is in `retryInMs`. */
  onConnectFailed(link: DerpRegionLink, error: Error, failures: number, retryInMs: number): void;
}

/** Counters of one link. */
export interface DerpRegionLinkStats {
  /** Packets handed to the connection. */
  sent: number;
  /** Packets dropped from a full write queue. */
  queueDrops: number;
  /** Writes that failed on the connection. */
  sendErrors: number;
}

interface QueuedWrite {
  to: NodePublicKey;
  payload: Uint8Array;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * One region's connection, kept up until {@link DerpRegionLink.close}.
 *
 * @example
 * ```ts
 * const link = new DerpRegionLink({ region, preferred: true, clock, connect, hooks });
 * link.write(peerKey, datagram); // queued until connected
 * await link.close();
 * ```
 */
export class DerpRegionLink {
  /** The region's ID. */
  readonly regionID: number;
  /** Counters. */
  readonly stats: DerpRegionLinkStats = { sent: 0, queueDrops: 0, sendErrors: 0 };
  /** Monotonic time of the last write asked of this link (tailscaled's `lastWrite`). */
  lastWriteAt: number;
  /** Monotonic time the link was made. */
  readonly createdAt: number;
  #region: DERPRegion;
  #preferred: boolean;
  readonly #clock: Clock;
  readonly #connect: DerpConnector;
  readonly #hooks: DerpRegionLinkHooks;
  readonly #stop = new AbortController();
  #conn: DerpConnection | undefined;
  #queue: QueuedWrite[] = [];
  #failures = 0;
  #loop: Promise<void>;
  #firstAttempt: Promise<void>;

  /** Starts connecting at once. */
  constructor(init: {
    region: DERPRegion;
    preferred: boolean;
    clock: Clock;
    connect: DerpConnector;
    hooks: DerpRegionLinkHooks;
  }) {
    this.regionID = init.region.RegionID;
    this.#region = init.region;
    this.#preferred = init.preferred;
    this.#clock = init.clock;
    this.#connect = init.connect;
    this.#hooks = init.hooks;
    this.createdAt = this.lastWriteAt = init.clock.monotonic();
    let settleFirst!: (error?: Error) => void;
    this.#firstAttempt = new Promise<void>((resolve, reject) => {
      settleFirst = (error) => error ? reject(error) : resolve();
    });
    this.#firstAttempt.catch(() => {}); // observed by whoever awaits firstAttempt
    this.#loop = this.#run(settleFirst);
  }

  /** The region's definition (replaced with {@link DerpRegionLink.updateRegion}). */
  get region(): DERPRegion {
    return this.#region;
  }

  /** Whether a connection is up right now. */
  get connected(): boolean {
    return !!this.#conn && !this.#conn.closed;
  }

  /** Connect failures in a row since the last successful connect. */
  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** Whether {@link DerpRegionLink.close} was called. */
  get closed(): boolean {
    return this.#stop.signal.aborted;
  }

  /** Whether this link is our home region's. */
  get preferred(): boolean {
    return this.#preferred;
  }

  /** Settles after the first connect attempt: resolved if it connected, else its error. */
  get firstAttempt(): Promise<void> {
    return this.#firstAttempt;
  }

  /** Writes waiting for a connection. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Takes a new definition of the region, used from the next (re)connect on. */
  updateRegion(region: DERPRegion): void {
    this.#region = region;
  }

  /** Marks the link home or not, and tells the server when connected (NotePreferred, §3.9). */
  setPreferred(preferred: boolean): void {
    if (this.#preferred === preferred) return;
    this.#preferred = preferred;
    const conn = this.#conn;
    if (conn && !conn.closed) conn.notePreferred(preferred).catch(() => {});
  }

  /**
   * Sends `payload` to `to` through this region: at once when connected,
   * else queued (the oldest dropped when full). Counts as activity for the
   * idle cleanup.
   */
  write(to: NodePublicKey, payload: Uint8Array): void {
    this.lastWriteAt = this.#clock.monotonic();
    const conn = this.#conn;
    if (conn && !conn.closed && this.#queue.length === 0) {
      this.#send(conn, to, payload);
      return;
    }
    if (this.#queue.length >= DERP_WRITE_QUEUE_DEPTH) {
      this.#queue.shift();
      this.stats.queueDrops++;
    }
    this.#queue.push({ to, payload });
  }

  /** Closes the connection and ends the reconnect loop; queued writes are dropped. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#conn?.close();
    this.#queue = [];
    await this.#loop;
  }

  #send(conn: DerpConnection, to: NodePublicKey, payload: Uint8Array): void {
    this.stats.sent++;
    conn.send(to, payload).catch(() => this.stats.sendErrors++);
  }

  #flush(conn: DerpConnection): void {
    const queue = this.#queue;
    this.#queue = [];
    for (const write of queue) this.#send(conn, write.to, write.payload);
  }

  async #run(settleFirst: (error?: Error) => void): Promise<void> {
    const stop = this.#stop.signal;
    let delay = DERP_RECONNECT_MIN_MS;
    let first = true;
    while (!stop.aborted) {
      let conn: DerpConnection;
      try {
        const preferred = this.#preferred;
        const opened = await this.#connect(this.#region, preferred, stop);
        conn = opened.connection;
        if (stop.aborted) {
          conn.close();
          break;
        }
        // Home may have moved while we were connecting.
        if (this.#preferred !== preferred) conn.notePreferred(this.#preferred).catch(() => {});
        this.#failures = 0;
        delay = DERP_RECONNECT_MIN_MS;
        this.#conn = conn;
        this.#hooks.onConnected(this, opened.url);
        if (first) settleFirst();
        first = false;
        this.#flush(conn);
      } catch (error) {
        if (stop.aborted) break;
        this.#failures++;
        const err = asError(error);
        this.#hooks.onConnectFailed(this, err, this.#failures, delay);
        if (first) settleFirst(err);
        first = false;
        if (!(await this.#sleep(delay))) break;
        delay = Math.min(delay * 2, DERP_RECONNECT_MAX_MS);
        continue;
      }
      try {
        for (;;) {
          const message = await conn.receive();
          try {
            this.#hooks.onMessage(this, message);
          } catch {
            // A handler's bug is not the connection's failure.
          }
        }
      } catch (error) {
        conn.close();
        if (this.#conn === conn) this.#conn = undefined;
        if (stop.aborted) break;
        this.#hooks.onLost(this, asError(error), delay);
      }
      if (!(await this.#sleep(delay))) break;
    }
    if (first) settleFirst(new Error(`DERP region ${this.regionID}: closed before connecting`));
  }

  async #sleep(ms: number): Promise<boolean> {
    try {
      await this.#clock.sleep(ms, this.#stop.signal);
      return true;
    } catch {
      return false;
    }
  }
}
