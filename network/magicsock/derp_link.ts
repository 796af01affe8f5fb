/**
 * The DERP side of magicsock (data-plane reference §3.8): one connection to
 * the home region, chosen from the netmap's DERP map, kept open with
 * reconnects (backoff 250 ms doubling to 5 s) until closed. Frames that
 * arrive go to one callback; sends go to the home server, which forwards to
 * a peer homed elsewhere.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { DERPMap, DERPNode, DERPRegion } from "../control/map_response.ts";
import type { NodePrivateKey, NodePublicKey } from "../crypto/keys.ts";
import type { RandomSource } from "../crypto/random.ts";
import { DerpClient, type DerpMessage } from "../derp/derp_client.ts";
import { chooseHomeRegion, derpNodeOf, derpNodeURL } from "./derp_home.ts";

/** Upper bound of the wait between DERP reconnect attempts (§3.8). */
const DERP_RECONNECT_MAX_MS = 5000;
/** First wait before a DERP reconnect. */
const DERP_RECONNECT_MIN_MS = 250;

/** What a {@link DerpLink} reports, for logs and tests. */
export type DerpLinkEvent =
  | { kind: "derp-connected"; region: number; url: string }
  | { kind: "derp-lost"; region: number; error: string; retryInMs: number };

/** Options of a {@link DerpLink}. */
export interface DerpLinkOptions {
  /** Our node key: our DERP address. */
  nodeKey: NodePrivateKey;
  /** Time and timers. */
  clock: Clock;
  /** Randomness for the DERP handshake. */
  random: RandomSource;
  /** Extra trusted CA certificates (PEM) for `https:` DERP servers. */
  caCerts?: string[];
  /** Dial DERP over plain HTTP (tailscaled's `TS_DEBUG_USE_DERP_HTTP`). */
  plainHTTPDerp?: boolean;
  /** The region to make home when the DERP map offers it. */
  preferredRegion?: number;
  /** Overrides the URL dialled for a region's node (tests). */
  derpURL?: (node: DERPNode, region: DERPRegion) => URL | string;
  /** Receives every frame from the home server, with the home region's ID. */
  onMessage: (message: DerpMessage, region: number) => void;
  /** Receives connection events. */
  onEvent?: (event: DerpLinkEvent) => void;
}

/**
 * The home DERP connection.
 *
 * @example
 * ```ts
 * const link = new DerpLink({ nodeKey, clock, random, onMessage });
 * const region = await link.start(derpMap);
 * link.send(peerKey, datagram);
 * await link.close();
 * ```
 */
export class DerpLink {
  readonly #options: DerpLinkOptions;
  readonly #stop = new AbortController();
  #home: DERPRegion | undefined;
  #derp: DerpClient | undefined;
  #loop: Promise<void> | undefined;
  /** DERP sends that failed. */
  sendErrors = 0;

  /** A link that connects nowhere until {@link DerpLink.start}. */
  constructor(options: DerpLinkOptions) {
    this.#options = options;
  }

  /** The home region ID, once connected to it. */
  get homeRegion(): number | undefined {
    return this.#home?.RegionID;
  }

  /** Whether a connection to the home region is up right now. */
  get connected(): boolean {
    return !!this.#derp && !this.#derp.closed;
  }

  /** Whether {@link DerpLink.start} has succeeded once. */
  get started(): boolean {
    return this.#loop !== undefined;
  }

  /**
   * Chooses the home region from `derpMap`, connects, and keeps the
   * connection until {@link DerpLink.close}. Resolves with the region ID;
   * throws `NoDerpRegionError` or the first connect's DERP error.
   */
  async start(derpMap: DERPMap, signal?: AbortSignal): Promise<number> {
    const region = chooseHomeRegion(derpMap, this.#options.preferredRegion);
    const derp = await this.#connect(region, signal);
    this.#home = region;
    this.#loop = this.#run(derp, region);
    return region.RegionID;
  }

  /**
   * Sends one frame's payload to `to` through the home server; false when
   * no connection is up (the caller counts the drop).
   */
  send(to: NodePublicKey, payload: Uint8Array): boolean {
    const derp = this.#derp;
    if (!derp || derp.closed) return false;
    derp.send(to, payload).catch(() => this.sendErrors++);
    return true;
  }

  /** Closes the connection and ends the reconnect loop. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#derp?.close();
    await this.#loop;
  }

  async #connect(region: DERPRegion, signal?: AbortSignal): Promise<DerpClient> {
    const options = this.#options;
    const node = derpNodeOf(region);
    const url = options.derpURL?.(node, region) ?? derpNodeURL(node, options.plainHTTPDerp);
    const derp = await DerpClient.connect({
      url,
      nodeKey: options.nodeKey,
      caCerts: options.caCerts,
      preferred: true,
      clock: options.clock,
      random: options.random,
      signal: signal ? AbortSignal.any([signal, this.#stop.signal]) : this.#stop.signal,
    });
    this.#derp = derp;
    options.onEvent?.({ kind: "derp-connected", region: region.RegionID, url: String(url) });
    return derp;
  }

  async #run(first: DerpClient, region: DERPRegion): Promise<void> {
    const stop = this.#stop.signal;
    let derp: DerpClient | undefined = first;
    let delay = DERP_RECONNECT_MIN_MS;
    while (!stop.aborted) {
      if (derp) {
        try {
          for await (const message of derp) this.#options.onMessage(message, region.RegionID);
        } catch (error) {
          if (stop.aborted) break;
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
      if (stop.aborted) break;
      try {
        await this.#options.clock.sleep(delay, stop);
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
}
