/**
 * What the node tells Nexus about its network, apart from the map poll:
 * its endpoints with their kinds, the `NetInfo` netcheck measured with our
 * actual home DERP region as `PreferredDERP` (data-plane reference §3.9),
 * and its disco key. Sent with a lite update whenever it changes, and
 * reclaimed when another session with the node's key replaced our disco key
 * at Nexus.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import type { DiscoPublicKey, NodePrivateKey } from "../crypto/keys.ts";
import type { ControlClient } from "./control_client.ts";
import type { EndpointType, NetInfo } from "./tailcfg.ts";

/** Least time between two lite updates that restore our disco key at Nexus. */
const DISCO_RECLAIM_INTERVAL_MS = 5_000;

/** Options of a {@link NetworkAnnouncer}. */
export interface NetworkAnnouncerOptions {
  /** Time and timers. */
  clock: Clock;
  /** This run's disco key. */
  discoKey: DiscoPublicKey;
  /** Our UDP endpoints (`ip:port` and kind); none when empty. */
  endpoints?: () => readonly { addr: string; type: EndpointType }[];
  /** What we measured of the network (netcheck). */
  netInfo?: () => NetInfo | undefined;
  /** The control client, once logged in. */
  client: () => ControlClient | null;
  /** The current node key, once logged in. */
  nodeKey: () => NodePrivateKey | null;
  /** Ends everything. */
  signal: AbortSignal;
  /** Told of what is worth a log line. */
  onWarning: (message: string) => void;
}

/**
 * Our endpoints, NetInfo and disco key, as Nexus should know them.
 *
 * @example
 * ```ts
 * const announcer = new NetworkAnnouncer({ clock, discoKey, client, nodeKey, signal, onWarning });
 * await announcer.setHomeDERP(region);
 * announcer.noteSelfDiscoKey(netmap.self?.DiscoKey);
 * ```
 */
export class NetworkAnnouncer {
  readonly #options: NetworkAnnouncerOptions;
  #homeDERP = 0;
  /** What the last lite update told Nexus. */
  #announced = "";
  #lastReclaim = -Infinity;
  #reclaimTimer: TimerHandle | null = null;

  /** An announcer that has told Nexus nothing yet. */
  constructor(options: NetworkAnnouncerOptions) {
    this.#options = options;
  }

  /** `Endpoints` and `EndpointTypes` for a map request; empty when there are none. */
  endpointFields(): { endpoints?: string[]; endpointTypes?: EndpointType[] } {
    const endpoints = this.#options.endpoints?.() ?? [];
    if (endpoints.length === 0) return {};
    return {
      endpoints: endpoints.map((e) => e.addr),
      endpointTypes: endpoints.map((e) => e.type),
    };
  }

  /** `Hostinfo.NetInfo`: netcheck's, with our actual home region as `PreferredDERP` (as tailscaled). */
  netInfo(): NetInfo | undefined {
    const measured = this.#options.netInfo?.();
    if (!measured && !this.#homeDERP) return undefined;
    return { ...measured, PreferredDERP: this.#homeDERP || measured?.PreferredDERP || 0 };
  }

  /** Makes `region` our home DERP and tells Nexus at once. */
  async setHomeDERP(region: number): Promise<void> {
    this.#homeDERP = region;
    this.#announced = "";
    await this.announce();
  }

  /** Tells Nexus our endpoints and NetInfo with a lite update when they differ from what it last heard. */
  async announce(): Promise<void> {
    const client = this.#options.client();
    const nodeKey = this.#options.nodeKey();
    if (!client || !nodeKey || this.#options.signal.aborted) return;
    const fields = this.endpointFields();
    const now = JSON.stringify([fields, this.netInfo()]);
    if (now === this.#announced) return;
    this.#announced = now;
    try {
      await client.liteUpdate({
        nodeKey: nodeKey.publicKey(),
        discoKey: this.#options.discoKey,
        ...fields,
        signal: this.#options.signal,
      });
    } catch (err) {
      this.#announced = ""; // try again with the next change
      throw err;
    }
  }

  /**
   * Takes the disco key Nexus holds for our node (the self node's).
   * Nexus keeps one per node, the one of the last map request it saw:
   * another session with this node key (a `citadel status` that connected
   * while `work` started, a copy of the state elsewhere) replaces ours, and
   * peers then seal their disco pings to a key nobody here holds, so they
   * get no pongs for as long as it stays. When it is not ours, tell Nexus
   * ours again, at most every few seconds (two live sessions must not flood
   * it) but never dropping a finding: a later one waits for the interval.
   */
  noteSelfDiscoKey(theirs: string | undefined): void {
    this.#selfDiscoKey = theirs;
    if (!this.#taken() || this.#reclaimTimer !== null) return;
    const clock = this.#options.clock;
    const wait = Math.max(0, this.#lastReclaim + DISCO_RECLAIM_INTERVAL_MS - clock.monotonic());
    this.#reclaimTimer = clock.setTimeout(() => {
      this.#reclaimTimer = null;
      // Look again: a later map may already show our key.
      if (!this.#taken() || this.#options.signal.aborted) return;
      this.#lastReclaim = clock.monotonic();
      this.#options.onWarning(
        "another session with this node's key replaced its disco key at Nexus; restoring it",
      );
      this.#announced = "";
      this.announce().catch((err) =>
        this.#options.onWarning(`could not restore the disco key: ${err.message}`)
      );
    }, wait);
  }

  #selfDiscoKey: string | undefined;

  #taken(): boolean {
    return !!this.#selfDiscoKey && this.#selfDiscoKey !== this.#options.discoKey.toText();
  }

  /** Stops the reclaim timer. */
  close(): void {
    if (this.#reclaimTimer !== null) this.#options.clock.clearTimeout(this.#reclaimTimer);
    this.#reclaimTimer = null;
  }
}
