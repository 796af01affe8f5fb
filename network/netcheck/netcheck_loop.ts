/**
 * The glue that keeps netcheck current in a running node: a
 * {@link NetcheckScheduler} on a {@link Clock}, a {@link NetcheckDriver}
 * to run the reports, and the host's addresses read every few seconds to
 * notice a network change.
 *
 * Deno has no link-change events (tailscaled on Linux gets them from
 * netlink), so the addresses are polled, every 5 s by default.
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import type { DERPMap } from "../control/map_response.ts";
import type { RandomSource } from "../crypto/random.ts";
import { type InterfaceAddress, localAddressSnapshot } from "./local_addresses.ts";
import type { NetcheckDriver } from "./netcheck_driver.ts";
import type { NetcheckReport } from "./netcheck_report.ts";
import { NetcheckScheduler } from "./netcheck_scheduler.ts";
import type { LastDerpActivity } from "./preferred_derp.ts";

/** How often the host's addresses are read by default. */
export const LOCAL_ADDRESS_POLL_MS = 5000;

/** Options of {@link NetcheckLoop}. */
export interface NetcheckLoopOptions {
  /** Runs the reports. */
  readonly driver: NetcheckDriver;
  /** The current DERP map; no report runs while there is none. */
  readonly derpMap: () => DERPMap | null | undefined;
  /** Each finished report, with the reason it ran. */
  readonly onReport: (report: NetcheckReport, reason: string) => void;
  /** A report that failed (never for a missing DERP map). */
  readonly onError?: (error: unknown, reason: string) => void;
  /** Time; the system clock by default. Must be the driver's clock. */
  readonly clock?: Clock;
  /** Jitter of the periodic interval. */
  readonly random?: RandomSource;
  /** The host's addresses; `Deno.networkInterfaces()` by default. */
  readonly localAddresses?: () => readonly InterfaceAddress[];
  /** Address polling interval (5 s). */
  readonly addressPollMs?: number;
  /** Whether periodic reports are wanted now (see `shouldDoPeriodicReport`); always by default. */
  readonly periodicAllowed?: () => boolean;
  /** DERP traffic per region, for the home hysteresis. */
  readonly lastDerpActivity?: LastDerpActivity;
}

/**
 * Runs netcheck whenever the scheduler says so, until {@link stop}.
 *
 * @example
 * ```ts
 * const loop = new NetcheckLoop({ driver, derpMap: () => netmap.derpMap, onReport: publish });
 * loop.start(); // a first report at once
 * loop.request("derp-map-update");
 * await loop.stop();
 * ```
 */
export class NetcheckLoop {
  readonly #options: NetcheckLoopOptions;
  readonly #clock: Clock;
  readonly #scheduler: NetcheckScheduler;
  readonly #abort = new AbortController();
  #timer: TimerHandle | undefined;
  #nextAddressPoll = 0;
  #started = false;
  #stopped = false;
  #current: Promise<void> | undefined;

  /** Makes the loop; nothing runs before {@link start}. */
  constructor(options: NetcheckLoopOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#scheduler = new NetcheckScheduler({ random: options.random });
  }

  /** The scheduler (for its state in status output and tests). */
  get scheduler(): NetcheckScheduler {
    return this.#scheduler;
  }

  /** Starts: reads the addresses and runs a first report (`startup`). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#scheduler.request("startup", this.#clock.monotonic());
    this.#tick();
  }

  /** Asks for a report now, or right after the running one (tailscaled's `ReSTUN(why)`). */
  request(reason: string, options: { full?: boolean } = {}): void {
    if (this.#stopped) return;
    this.#scheduler.request(reason, this.#clock.monotonic(), options);
    if (this.#started) this.#tick();
  }

  /** Stops: cancels the timer and the running report, and waits for it to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort.abort(new Error("netcheck loop stopped"));
    await this.#current;
  }

  #tick(): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = this.#clock.monotonic();
    if (now >= this.#nextAddressPoll) {
      this.#nextAddressPoll = now + (this.#options.addressPollMs ?? LOCAL_ADDRESS_POLL_MS);
      const read = this.#options.localAddresses ?? (() => Deno.networkInterfaces());
      try {
        this.#scheduler.noteLocalAddresses(localAddressSnapshot(read()), now);
      } catch {
        // Addresses unreadable (no --allow-sys): no link-change detection.
      }
    }
    const due = this.#scheduler.poll(now);
    if (due) this.#current = this.#runReport(due.reason, due.full);
    const next = Math.min(this.#scheduler.nextDeadline(now) ?? Infinity, this.#nextAddressPoll);
    this.#timer = this.#clock.setTimeout(() => this.#tick(), Math.max(0, next - now));
  }

  async #runReport(reason: string, full: boolean): Promise<void> {
    const { driver, onReport, onError } = this.#options;
    const derpMap = this.#options.derpMap();
    try {
      if (derpMap) {
        if (full) driver.client.makeNextReportFull();
        const report = await driver.run(derpMap, {
          lastDerpActivity: this.#options.lastDerpActivity,
          signal: this.#abort.signal,
        });
        if (!this.#stopped) onReport(report, reason);
      }
    } catch (error) {
      if (!this.#stopped) onError?.(error, reason);
    } finally {
      const periodic = this.#options.periodicAllowed?.() ?? true;
      this.#scheduler.noteReportDone(this.#clock.monotonic(), periodic);
      this.#tick();
    }
  }
}
