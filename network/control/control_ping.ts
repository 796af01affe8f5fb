/**
 * Answering control pings (control reference §10.6), as tailscaled's
 * `controlclient.Direct.answerPing`:
 *
 * - no `Types`: a HEAD request to `URL` proves liveness (Headscale's debug
 *   ping and HA health checks);
 * - `Types` a comma list of `disco`, `TSMP`, `ICMP`: ping `IP` that way
 *   through the data plane and POST a JSON `PingResponse` to `URL`;
 * - `c2n` and `peerapi` are not answered: Citadel runs no c2n handlers and
 *   no peerAPI server (the request is counted as unsupported).
 *
 * Plain requests go only to the Nexus origin: control is trusted, but not
 * to make this process fetch arbitrary addresses. `URLIsNoise` answers go
 * over the Noise channel. A request repeated in later map messages is
 * answered once.
 *
 * @module
 */
import { proxyCredentials } from "../proxy/connect_tunnel.ts";
import type { ProxyConfig } from "../proxy/proxy_config.ts";
import type { PingRequest } from "./map_response.ts";

/** How long a control ping's HEAD or POST may take (the Go client's figure, reference §13). */
const PING_TIMEOUT_MS = 15_000;
/** How long the data-plane ping itself may take (Go's `doPingerPing`). */
const PINGER_TIMEOUT_MS = 10_000;

/** A ping type of `PingRequest.Types` (`tailcfg.PingType`) that Citadel answers. */
export type ControlPingType = "disco" | "TSMP" | "ICMP";

/** `tailcfg.PingResponse`: what a typed ping found, POSTed back to control. */
export interface PingResponse {
  /** The ping type. */
  Type: ControlPingType;
  /** The ping destination. */
  IP?: string;
  /** The Tailscale IP of the node that answered. */
  NodeIP?: string;
  /** Its name (first label of the MagicDNS name, else the hostname). */
  NodeName?: string;
  /** Why the ping failed, when it did. */
  Err?: string;
  /** Round trip, in seconds. */
  LatencySeconds?: number;
  /** `ip:port` when a direct UDP path answered (disco). */
  Endpoint?: string;
  /** The DERP region that carried it (disco over DERP). */
  DERPRegionID?: number;
  /** The peer's peerAPI port (TSMP). */
  PeerAPIPort?: number;
  /** Whether the target is one of our own addresses. */
  IsLocalIP?: boolean;
}

/** Pings `ip` through the data plane and describes the outcome (never throws). */
export type ControlPinger = (
  ip: string,
  type: ControlPingType,
  timeoutMs: number,
) => Promise<PingResponse>;

/** Options of a {@link ControlPingResponder}. */
export interface ControlPingOptions {
  /** The Nexus URL; plain requests only ever go to its origin. */
  controlURL: string;
  /** Extra trusted CA certificates (PEM) for Nexus. */
  caCerts?: string[];
  /** HTTP proxy settings, for the plain requests to Nexus. */
  proxy?: ProxyConfig;
  /** Ends requests in flight. */
  signal: AbortSignal;
  /** Told when a ping could not be answered. */
  onWarning: (message: string) => void;
  /** Typed pings go through this; without it they are not answered. */
  pinger?: () => ControlPinger | null;
  /** POSTs a JSON body over the Noise channel (for `URLIsNoise`). */
  postOverNoise?: (pathAndQuery: string, body: unknown, signal: AbortSignal) => Promise<number>;
}

/** What a {@link ControlPingResponder} did, for tests and diagnostics. */
export interface ControlPingStats {
  /** HEAD pings sent. */
  head: number;
  /** Typed ping results POSTed back. */
  answered: number;
  /** Requests not answered: unsupported types, foreign URLs, no data plane. */
  unsupported: number;
}

const TYPES: readonly string[] = ["disco", "TSMP", "ICMP"];

/**
 * Answers the PingRequests a map stream carries.
 *
 * @example
 * ```ts
 * const pings = new ControlPingResponder({ controlURL, signal, onWarning, pinger });
 * if (change.pingRequest) pings.answer(change.pingRequest);
 * ```
 */
export class ControlPingResponder {
  /** Counters. */
  readonly stats: ControlPingStats = { head: 0, answered: 0, unsupported: 0 };
  readonly #options: ControlPingOptions;
  readonly #origin: string;
  #lastURL = "";

  /** A responder for one Nexus. */
  constructor(options: ControlPingOptions) {
    this.#options = options;
    this.#origin = new URL(options.controlURL).origin;
  }

  /** Answers `ping` in the background. */
  answer(ping: PingRequest): void {
    if (!ping.URL || ping.URL === this.#lastURL) return;
    this.#lastURL = ping.URL;
    let url: URL;
    try {
      url = new URL(ping.URL);
    } catch {
      this.stats.unsupported++;
      return;
    }
    if (!ping.URLIsNoise && url.origin !== this.#origin) {
      this.stats.unsupported++;
      return;
    }
    if (!ping.Types) {
      if (ping.URLIsNoise) this.stats.unsupported++;
      else this.#head(url);
      return;
    }
    const pinger = this.#options.pinger?.();
    for (const type of ping.Types.split(",")) {
      if (!TYPES.includes(type) || !pinger || !ping.IP) {
        this.stats.unsupported++;
        continue;
      }
      pinger(ping.IP, type as ControlPingType, PINGER_TIMEOUT_MS)
        .then((response) => this.#post(url, !!ping.URLIsNoise, response))
        .then(() => this.stats.answered++)
        .catch((err) => this.#options.onWarning(`control ping (${type}): ${err.message}`));
    }
  }

  #head(url: URL): void {
    this.stats.head++;
    const { signal, onWarning } = this.#options;
    const client = this.#httpClient(url);
    fetch(url, {
      method: "HEAD",
      signal: AbortSignal.any([signal, AbortSignal.timeout(PING_TIMEOUT_MS)]),
      client,
    } as RequestInit)
      .then((response) => response.body?.cancel())
      .catch((err) => onWarning(`control ping: ${err.message}`))
      .finally(() => client?.close());
  }

  /**
   * A fetch client with our CA certificates and, when the proxy settings
   * name one for `url`, that proxy (with its credentials); undefined when
   * neither applies.
   */
  #httpClient(url: URL): Deno.HttpClient | undefined {
    const { caCerts, proxy } = this.#options;
    const via = proxy?.proxyFor(url);
    if (!caCerts?.length && !via) return undefined;
    const options: Deno.CreateHttpClientOptions = {};
    if (caCerts?.length) options.caCerts = caCerts;
    if (via) {
      options.proxy = { url: `http://${via.url.host}`, basicAuth: proxyCredentials(via.url) };
    }
    return Deno.createHttpClient(options);
  }

  async #post(url: URL, overNoise: boolean, body: PingResponse): Promise<void> {
    const signal = AbortSignal.any([this.#options.signal, AbortSignal.timeout(PING_TIMEOUT_MS)]);
    if (overNoise) {
      const post = this.#options.postOverNoise;
      if (!post) throw new Error("no Noise channel to answer on");
      await post(url.pathname + url.search, body, signal);
      return;
    }
    const client = this.#httpClient(url);
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal,
        client,
      } as RequestInit);
      await response.body?.cancel();
    } finally {
      client?.close();
    }
  }
}
