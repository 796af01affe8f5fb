/**
 * When to run netcheck (tailscaled's `ReSTUN` / `updateEndpoints` cadence
 * in magicsock), sans-I/O with time passed in:
 *
 * - A request (start-up, a new DERP map, a DERP read error, a changed set
 *   of local addresses …) runs a report at once; requests made while one
 *   runs collapse into one more report right after it.
 * - After each report, the next periodic one is due in a random 20–26 s
 *   (under the 30 s many NATs keep an idle UDP mapping), as long as the
 *   caller says periodic reports are wanted: tailscaled wants them while it
 *   has peers and was active in the last 45 s
 *   ({@link shouldDoPeriodicReport}).
 * - A change in the host's usable addresses ({@link LocalAddressSnapshot})
 *   is a request (`link-change`).
 *
 * Whether a report is full or incremental is the client's choice
 * (`NetcheckClient`: first, every 5 min, or when asked); a request may ask
 * for a full one, which the caller passes on with `makeNextReportFull`.
 * tailscaled does not force a full report on an address change, and
 * neither does this.
 *
 * @module
 */
import { type RandomSource, systemRandom } from "../crypto/random.ts";
import type { LocalAddressSnapshot } from "./local_addresses.ts";
import {
  PERIODIC_RESTUN_MAX_MS,
  PERIODIC_RESTUN_MIN_MS,
  SESSION_ACTIVE_TIMEOUT_MS,
} from "./netcheck_constants.ts";

/** A report that came due. */
export interface DueReport {
  /** Why it runs (`periodic`, `link-change`, or the caller's reason). */
  readonly reason: string;
  /** Whether a full report was asked for. */
  readonly full: boolean;
}

/** Options of {@link NetcheckScheduler}. */
export interface NetcheckSchedulerOptions {
  /** Jitter of the periodic interval; the system CSPRNG by default. */
  readonly random?: RandomSource;
  /** Lower bound of the periodic interval (20 s). */
  readonly periodicMinMs?: number;
  /** Upper bound of the periodic interval (26 s). */
  readonly periodicMaxMs?: number;
}

/** What decides whether periodic reports are wanted. */
export interface PeriodicReportInputs {
  /** Peers in the netmap. */
  readonly peerCount: number;
  /** Time since the last data-plane activity, in ms (undefined: unknown, counts as active). */
  readonly idleMs?: number;
  /** Whether any network interface is up (tailscaled's `networkDown`). */
  readonly networkUp?: boolean;
  /** Control's `ForceBackgroundSTUN` knob: keep re-STUNning while idle. */
  readonly forceBackgroundSTUN?: boolean;
}

/**
 * tailscaled's `shouldDoPeriodicReSTUNLocked`: periodic reports while the
 * network is up, there are peers, and the node was active in the last 45 s
 * (or control forces background STUN).
 */
export function shouldDoPeriodicReport(inputs: PeriodicReportInputs): boolean {
  if (inputs.networkUp === false || inputs.peerCount === 0) return false;
  if (inputs.idleMs !== undefined && inputs.idleMs > SESSION_ACTIVE_TIMEOUT_MS) {
    return inputs.forceBackgroundSTUN === true;
  }
  return true;
}

/**
 * The netcheck timetable.
 *
 * @example
 * ```ts
 * const scheduler = new NetcheckScheduler();
 * scheduler.request("startup", clock.monotonic());
 * const due = scheduler.poll(clock.monotonic()); // { reason: "startup", full: false }
 * // … run the report …
 * scheduler.noteReportDone(clock.monotonic(), true); // next: periodic in 20–26 s
 * ```
 */
export class NetcheckScheduler {
  readonly #random: RandomSource;
  readonly #periodicMinMs: number;
  readonly #periodicMaxMs: number;
  #running = false;
  #pending: DueReport | undefined;
  #periodicAt: number | undefined;
  #addressKey: string | undefined;

  /** Makes a scheduler with nothing due. */
  constructor(options: NetcheckSchedulerOptions = {}) {
    this.#random = options.random ?? systemRandom;
    this.#periodicMinMs = options.periodicMinMs ?? PERIODIC_RESTUN_MIN_MS;
    this.#periodicMaxMs = options.periodicMaxMs ?? PERIODIC_RESTUN_MAX_MS;
  }

  /** Whether a report is running (between {@link poll} and {@link noteReportDone}). */
  get running(): boolean {
    return this.#running;
  }

  /** Monotonic ms of the next periodic report, or undefined when none is planned. */
  get periodicAt(): number | undefined {
    return this.#periodicAt;
  }

  /**
   * Asks for a report now (after the running one, if any). A request for a
   * full report stays full when merged with others.
   */
  request(reason: string, _now: number, options: { full?: boolean } = {}): void {
    const full = (options.full ?? false) || (this.#pending?.full ?? false);
    this.#pending = { reason, full };
  }

  /**
   * Takes the host's current addresses; a change from the last snapshot is
   * a `link-change` request. The first snapshot only sets the baseline.
   * Returns whether the addresses changed.
   */
  noteLocalAddresses(snapshot: LocalAddressSnapshot, now: number): boolean {
    const previous = this.#addressKey;
    this.#addressKey = snapshot.key;
    if (previous === undefined || previous === snapshot.key) return false;
    this.request("link-change", now);
    return true;
  }

  /**
   * The report due at `now`, if any; it counts as running until
   * {@link noteReportDone}.
   */
  poll(now: number): DueReport | undefined {
    if (this.#running) return undefined;
    let due: DueReport | undefined;
    if (this.#pending) {
      due = this.#pending;
      this.#pending = undefined;
    } else if (this.#periodicAt !== undefined && now >= this.#periodicAt) {
      due = { reason: "periodic", full: false };
    }
    if (due) {
      this.#running = true;
      this.#periodicAt = undefined;
    }
    return due;
  }

  /**
   * Ends the running report (successful or not). With `periodic`, the next
   * periodic report is planned 20–26 s from `now`; without, none is.
   */
  noteReportDone(now: number, periodic: boolean): void {
    this.#running = false;
    if (!periodic) {
      this.#periodicAt = undefined;
      return;
    }
    const bytes = this.#random(4);
    const fraction = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) / 2 ** 32;
    this.#periodicAt = now + this.#periodicMinMs +
      Math.floor(fraction * (this.#periodicMaxMs - this.#periodicMinMs));
  }

  /** When {@link poll} may next return a report (monotonic ms); undefined when nothing is planned. */
  nextDeadline(now: number): number | undefined {
    if (this.#running) return undefined;
    if (this.#pending) return now;
    return this.#periodicAt;
  }
}
