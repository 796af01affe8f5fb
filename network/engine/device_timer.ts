/**
 * One clock timer kept armed at the WireGuard device's earliest deadline
 * (rekey, keepalive, handshake retry, key expiry: whitepaper §6), so the
 * sans-I/O device runs on the injected clock without a timer per peer.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import type { DeviceOutput, WireGuardDevice } from "../wireguard/device.ts";
import type { WireGuardPeer } from "../wireguard/peer.ts";

/**
 * The device's timer.
 *
 * @example
 * ```ts
 * const timer = new DeviceTimer(device, clock, (output) => flush(output));
 * timer.arm(peer); // after every call into the device about one peer
 * timer.stop();
 * ```
 */
export class DeviceTimer {
  readonly #device: WireGuardDevice;
  readonly #clock: Clock;
  readonly #onOutput: (output: DeviceOutput) => void;
  #timer: TimerHandle | undefined;
  #deadline: number | undefined;
  #stopped = false;

  /** A timer for `device`; `onOutput` takes what each expiry produced. */
  constructor(device: WireGuardDevice, clock: Clock, onOutput: (output: DeviceOutput) => void) {
    this.#device = device;
    this.#clock = clock;
    this.#onOutput = onOutput;
  }

  /**
   * Makes sure the timer fires no later than the earliest deadline: of
   * `peer` alone when given (the one that just sent or received, so a
   * packet costs no walk over all peers), else of the whole device. A
   * deadline that moved later keeps the armed timer: it fires early, runs
   * nothing that is not due, and re-arms at the true deadline. This keeps
   * the data path from clearing and setting a timer on every packet.
   */
  arm(peer?: WireGuardPeer): void {
    if (this.#stopped) return;
    const deadline = peer ? peer.nextDeadline() : this.#device.nextDeadline();
    if (deadline === undefined) return;
    if (this.#timer !== undefined && this.#deadline! <= deadline) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#deadline = deadline;
    const wait = Math.max(0, deadline - this.#clock.monotonic());
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#deadline = undefined;
      for (const output of this.#device.tick(this.#clock.monotonic())) this.#onOutput(output);
      this.arm();
    }, wait);
  }

  /** Disarms for good. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
