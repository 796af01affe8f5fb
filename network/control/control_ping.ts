/**
 * Answering control pings (control reference §10.6). Only the plain form —
 * a HEAD request to the given URL, which Headscale uses for its debug ping
 * and HA health checks — is answered here; disco, TSMP and ICMP pings need
 * the data plane. The URL must be on the Nexus origin: control is trusted,
 * but not to make this process fetch arbitrary addresses. A request repeated
 * in later map messages is answered once.
 *
 * @module
 */
import type { PingRequest } from "./map_response.ts";

/** How long a control ping's HEAD request may take (the Go client's figure, reference §13). */
const PING_TIMEOUT_MS = 15_000;

/** Options of a {@link ControlPingResponder}. */
export interface ControlPingOptions {
  /** The Nexus URL; only its origin is ever fetched. */
  controlURL: string;
  /** Extra trusted CA certificates (PEM) for Nexus. */
  caCerts?: string[];
  /** Ends requests in flight. */
  signal: AbortSignal;
  /** Told when a ping could not be answered. */
  onWarning: (message: string) => void;
}

/**
 * Answers the PingRequests a map stream carries.
 *
 * @example
 * ```ts
 * const pings = new ControlPingResponder({ controlURL, signal, onWarning });
 * if (change.pingRequest) pings.answer(change.pingRequest);
 * ```
 */
export class ControlPingResponder {
  readonly #options: ControlPingOptions;
  readonly #origin: string;
  #lastURL = "";

  /** A responder for one Nexus. */
  constructor(options: ControlPingOptions) {
    this.#options = options;
    this.#origin = new URL(options.controlURL).origin;
  }

  /** Answers `ping` in the background if it is a plain HEAD ping to the Nexus origin. */
  answer(ping: PingRequest): void {
    if (!ping.URL || ping.URL === this.#lastURL) return;
    this.#lastURL = ping.URL;
    if (ping.Types || ping.URLIsNoise) return;
    let url: URL;
    try {
      url = new URL(ping.URL);
    } catch {
      return;
    }
    if (url.origin !== this.#origin) return;
    const { caCerts, signal, onWarning } = this.#options;
    const client = caCerts?.length ? Deno.createHttpClient({ caCerts }) : undefined;
    fetch(url, {
      method: "HEAD",
      signal: AbortSignal.any([signal, AbortSignal.timeout(PING_TIMEOUT_MS)]),
      client,
    } as RequestInit)
      .then((response) => response.body?.cancel())
      .catch((err) => onWarning(`control ping: ${err.message}`))
      .finally(() => client?.close());
  }
}
