/**
 * Runs netcheck reports over real time and a real (or caller-supplied) UDP
 * path. The I/O boundary is two calls, so that magicsock can share its one
 * UDP socket for STUN, disco and WireGuard (data-plane reference §2.2):
 *
 * - out: {@link NetcheckTransport.send} — "send this datagram to ip:port";
 * - in: {@link NetcheckDriver.receiveStun} — "this STUN datagram arrived
 *   from ip:port at time t".
 *
 * DNS: a DERP node is looked up only when its STUN address is not given as
 * an IP (`STUNTestIP`, `IPv4`/`IPv6`, or a literal `HostName`); the look-up
 * happens when its first probe comes due, through the injected resolver
 * (the system's `getaddrinfo` by default, via `node:dns`).
 *
 * @module
 */
import { lookup } from "node:dns/promises";
import { type Clock, systemClock } from "../clock.ts";
import type { DERPMap } from "../control/map_response.ts";
import type { AddrPort } from "../netaddr/addr_port.ts";
import { localAddressSnapshot, probeOSHasIPv6 } from "./local_addresses.ts";
import { REPORT_TIMEOUT_MS } from "./netcheck_constants.ts";
import { NetcheckClient } from "./netcheck_client.ts";
import type { NetcheckReport } from "./netcheck_report.ts";
import type { NetcheckAction, NetcheckRun, StunReceiveOutcome } from "./netcheck_run.ts";
import type { LastDerpActivity } from "./preferred_derp.ts";
import type { InterfaceFamilies } from "./probe_plan.ts";

/** The outbound half of the I/O boundary. */
export interface NetcheckTransport {
  /**
   * Sends one datagram to `to`. Throwing (or rejecting) means it could not
   * be sent, which the report notes (`ipv4CanSend`/`ipv6CanSend`).
   */
  send(datagram: Uint8Array, to: AddrPort): void | Promise<void>;
}

/** Looks a host name up; resolves to IP address texts (empty when none). */
export type HostResolver = (hostname: string) => Promise<readonly string[]>;

/** The system resolver (`getaddrinfo` through `node:dns`), both families. */
export const systemHostResolver: HostResolver = async (
  hostname: string,
): Promise<readonly string[]> => {
  const results = await lookup(hostname, { all: true, verbatim: true });
  return results.map((result) => result.address);
};

/** Options of {@link NetcheckDriver}. */
export interface NetcheckDriverOptions {
  /** Where requests go. */
  readonly transport: NetcheckTransport;
  /** History and planning; a fresh client by default. */
  readonly client?: NetcheckClient;
  /** Time; the system clock by default. */
  readonly clock?: Clock;
  /** DNS for DERP nodes given by name only; {@link systemHostResolver} by default. */
  readonly resolveHost?: HostResolver;
  /** The host's usable families; read from `Deno.networkInterfaces()` by default. */
  readonly interfaces?: () => InterfaceFamilies;
  /** Whether `::1` can be bound; {@link probeOSHasIPv6} by default. */
  readonly osHasIPv6?: () => boolean | undefined;
}

/** Inputs of one {@link NetcheckDriver.run}. */
export interface NetcheckRunInputs {
  /** DERP traffic per region (monotonic ms of the clock given to the driver). */
  readonly lastDerpActivity?: LastDerpActivity;
  /** Stops the report early; `run` then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Counts of what arrived through {@link NetcheckDriver.receiveStun}. */
export type NetcheckReceiveCounts = Record<StunReceiveOutcome | "idle", number>;

function defaultInterfaces(): InterfaceFamilies {
  try {
    return localAddressSnapshot(Deno.networkInterfaces());
  } catch {
    // Without --allow-sys: assume both, as a host that cannot tell would.
    return { haveV4: true, haveV6: true };
  }
}

/**
 * Drives {@link NetcheckClient} reports in real time over a transport.
 *
 * @example
 * ```ts
 * const driver = new NetcheckDriver({ transport: { send: (d, to) => sock.sendTo(d, to) } });
 * // magicsock's receive loop, for datagrams that pass isStunOnSharedSocket():
 * driver.receiveStun(datagram, fromAddrPort);
 * const report = await driver.run(derpMap);
 * ```
 */
export class NetcheckDriver {
  readonly #transport: NetcheckTransport;
  readonly #client: NetcheckClient;
  readonly #clock: Clock;
  readonly #resolveHost: HostResolver;
  readonly #interfaces: () => InterfaceFamilies;
  readonly #osHasIPv6: () => boolean | undefined;
  readonly #counts: NetcheckReceiveCounts = {
    accepted: 0,
    "not-stun": 0,
    request: 0,
    malformed: 0,
    "unknown-transaction": 0,
    "wrong-source": 0,
    finished: 0,
    idle: 0,
  };
  #run: NetcheckRun | undefined;
  #wake: (() => void) | undefined;

  /** Makes a driver; nothing is sent until {@link run}. */
  constructor(options: NetcheckDriverOptions) {
    this.#transport = options.transport;
    this.#client = options.client ?? new NetcheckClient();
    this.#clock = options.clock ?? systemClock;
    this.#resolveHost = options.resolveHost ?? systemHostResolver;
    this.#interfaces = options.interfaces ?? defaultInterfaces;
    this.#osHasIPv6 = options.osHasIPv6 ?? probeOSHasIPv6;
  }

  /** The client (history, last report, forced region). */
  get client(): NetcheckClient {
    return this.#client;
  }

  /** Whether a report is running. */
  get running(): boolean {
    return this.#run !== undefined;
  }

  /** What {@link receiveStun} was given so far, by outcome. */
  get receiveCounts(): Readonly<NetcheckReceiveCounts> {
    return { ...this.#counts };
  }

  /**
   * Takes a datagram that arrived from `from` at monotonic `at` (now by
   * default). Returns `"idle"` when no report runs. Never throws.
   */
  receiveStun(
    packet: Uint8Array,
    from: AddrPort,
    at: number = this.#clock.monotonic(),
  ): StunReceiveOutcome | "idle" {
    const run = this.#run;
    const outcome = run ? run.receive(packet, from, at) : "idle";
    this.#counts[outcome]++;
    if (outcome === "accepted") this.#wake?.();
    return outcome;
  }

  /**
   * Runs one report against `derpMap` and returns it. Rejects with
   * `NetcheckBusyError` while another runs, `NetcheckNoDerpMapError`
   * without a map, or the signal's reason when aborted.
   */
  async run(
    derpMap: DERPMap | null | undefined,
    inputs: NetcheckRunInputs = {},
  ): Promise<NetcheckReport> {
    inputs.signal?.throwIfAborted();
    const clock = this.#clock;
    const run = this.#client.startReport(derpMap, {
      now: clock.monotonic(),
      interfaces: this.#interfaces(),
      osHasIPv6: this.#osHasIPv6(),
      lastDerpActivity: inputs.lastDerpActivity,
    });
    this.#run = run;
    const hardDeadline = run.startedAt + REPORT_TIMEOUT_MS;
    try {
      while (!run.finished) {
        inputs.signal?.throwIfAborted();
        const now = clock.monotonic();
        if (now >= hardDeadline) {
          run.abort();
          break;
        }
        for (const action of run.poll(now)) this.#perform(run, action);
        if (run.finished) break;
        await this.#sleepUntil(Math.min(run.nextDeadline() ?? now, hardDeadline), inputs.signal);
      }
      return this.#client.finishReport(run, clock.monotonic(), clock.now());
    } finally {
      this.#run = undefined;
      this.#client.abandon(run);
    }
  }

  #perform(run: NetcheckRun, action: NetcheckAction): void {
    if (action.kind === "send") {
      const { probeId, family } = action;
      let sending: Promise<void>;
      try {
        run.noteSending(probeId, this.#clock.monotonic());
        sending = Promise.resolve(this.#transport.send(action.datagram, action.to));
      } catch (error) {
        sending = Promise.reject(error);
      }
      sending.then(
        () => run.noteSent(probeId, family, true),
        () => run.noteSent(probeId, family, false),
      );
      return;
    }
    const hostname = action.hostname;
    this.#resolveHost(hostname).then(
      (addresses) => run.noteResolved(hostname, addresses),
      () => run.noteResolved(hostname, []),
    ).finally(() => {
      if (this.#run === run) this.#wake?.();
    });
  }

  #sleepUntil(deadline: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.#clock.clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const timer = this.#clock.setTimeout(done, Math.max(0, deadline - this.#clock.monotonic()));
      this.#wake = done;
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
