/**
 * Netcheck in a running engine (data-plane reference §4): reports on the
 * magicsock UDP socket when direct paths are on (so the reflexive address
 * STUN sees is the one peers can reach), on sockets of its own otherwise;
 * re-run by netcheck's scheduler (periodically, and when the host's
 * addresses change). Each report yields our endpoints — local interface
 * addresses plus the STUN-mapped ones, with their types as the map request
 * sends them (`Endpoints`, `EndpointTypes`, control reference §9.1) — and
 * the `NetInfo` for control.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { DERPMap } from "../control/map_response.ts";
import { EndpointType, type NetInfo } from "../control/tailcfg.ts";
import type { RandomSource } from "../crypto/random.ts";
import type { AddrPort } from "../netaddr/addr_port.ts";
import { NetcheckClient } from "../netcheck/netcheck_client.ts";
import { NetcheckDriver, type NetcheckTransport } from "../netcheck/netcheck_driver.ts";
import { NetcheckLoop } from "../netcheck/netcheck_loop.ts";
import {
  globalAddresses,
  type NetcheckReport,
  netInfoFromReport,
} from "../netcheck/netcheck_report.ts";
import { NetcheckSockets } from "../netcheck/netcheck_sockets.ts";

/** One endpoint we offer peers, with how we learned it. */
export interface AdvertisedEndpoint {
  /** `ip:port`. */
  readonly addr: AddrPort;
  /** `Local` (an interface address) or `STUN` (as a STUN server saw us). */
  readonly type: (typeof EndpointType)[keyof typeof EndpointType];
}

/** Options of a {@link NetcheckService}. */
export interface NetcheckServiceOptions {
  /** Time (monotonic ms for the reports). */
  clock: Clock;
  /** Jitter of the periodic reports. */
  random: RandomSource;
  /** The current DERP map; no report runs without one. */
  derpMap: () => DERPMap | null;
  /** Sends STUN on the shared magicsock socket; absent: netcheck opens sockets of its own. */
  shared?: NetcheckTransport;
  /** Our local endpoints (the shared socket's interface addresses). */
  localEndpoints: () => readonly AddrPort[];
  /** Each finished report. */
  onReport: (report: NetcheckReport) => void;
  /** A report that failed. */
  onError?: (error: unknown) => void;
}

/**
 * Keeps netcheck running for one engine.
 *
 * @example
 * ```ts
 * const netcheck = new NetcheckService({ clock, random, derpMap, shared, localEndpoints, onReport });
 * netcheck.start();
 * udp.onStun = (packet, from) => netcheck.receiveStun(packet, from);
 * ```
 */
export class NetcheckService {
  readonly #options: NetcheckServiceOptions;
  readonly #driver: NetcheckDriver;
  readonly #loop: NetcheckLoop;
  readonly #sockets: NetcheckSockets | undefined;
  #last: NetcheckReport | undefined;

  /** Prepares the driver (and sockets when none are shared); nothing runs before {@link start}. */
  constructor(options: NetcheckServiceOptions) {
    this.#options = options;
    this.#sockets = options.shared ? undefined : NetcheckSockets.open();
    const transport = options.shared ?? this.#sockets!;
    this.#driver = new NetcheckDriver({
      transport,
      clock: options.clock,
      client: new NetcheckClient({ random: options.random }),
    });
    this.#sockets?.startReceiving((packet, from) => this.receiveStun(packet, from));
    this.#loop = new NetcheckLoop({
      driver: this.#driver,
      clock: options.clock,
      random: options.random,
      derpMap: options.derpMap,
      onReport: (report) => {
        this.#last = report;
        options.onReport(report);
      },
      onError: (error) => options.onError?.(error),
    });
  }

  /** The latest report, once one finished. */
  get lastReport(): NetcheckReport | undefined {
    return this.#last;
  }

  /** Runs a first report now and keeps reporting. */
  start(): void {
    this.#loop.start();
  }

  /** Asks for a report (tailscaled's `ReSTUN(why)`), e.g. when the DERP map changed. */
  request(reason: string): void {
    this.#loop.request(reason);
  }

  /** A STUN datagram that arrived on the shared socket. */
  receiveStun(packet: Uint8Array, from: AddrPort): void {
    this.#driver.receiveStun(packet, from, this.#options.clock.monotonic());
  }

  /**
   * The endpoints to advertise: the local ones, then the STUN-mapped ones
   * of the latest report that are not already listed (only when the
   * report ran on the shared socket: other sockets' mappings reach nothing).
   */
  endpoints(): AdvertisedEndpoint[] {
    const out: AdvertisedEndpoint[] = this.#options.localEndpoints().map((addr) => ({
      addr,
      type: EndpointType.Local,
    }));
    const report = this.#last;
    if (report && this.#options.shared) {
      const { v4, v6 } = globalAddresses(report);
      for (const addr of [...v4, ...v6]) {
        if (!out.some((e) => e.addr.equals(addr))) out.push({ addr, type: EndpointType.STUN });
      }
    }
    return out;
  }

  /** What to tell control in `Hostinfo.NetInfo`, once a report finished. */
  netInfo(): NetInfo | undefined {
    return this.#last ? netInfoFromReport(this.#last) : undefined;
  }

  /** Stops reporting and closes netcheck's own sockets. */
  async stop(): Promise<void> {
    await this.#loop.stop();
    this.#sockets?.close();
  }
}
