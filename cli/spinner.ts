/**
 * A waiting indicator on stderr. On a terminal it animates in place; anywhere
 * else (a pipe, a log file, a container) it prints each distinct message once
 * as a plain line, so logs stay readable.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../network/clock.ts";
import type { Output } from "./output.ts";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const FRAME_MS = 100;

/** A spinner bound to one {@link Output}'s stderr. */
export class Spinner {
  readonly #out: Output;
  readonly #clock: Clock;
  readonly #animate: boolean;
  #text = "";
  #frame = 0;
  #timer: TimerHandle | null = null;
  #started = 0;

  /**
   * A stopped spinner.
   *
   * @param animate true only when stderr is a terminal.
   */
  constructor(out: Output, clock: Clock, animate: boolean) {
    this.#out = out;
    this.#clock = clock;
    this.#animate = animate;
  }

  /** Whether it is running. */
  get running(): boolean {
    return this.#timer !== null || (!this.#animate && this.#text !== "");
  }

  /** Starts (or retitles) the spinner with `text`. */
  start(text: string): void {
    if (!this.#animate) {
      if (text !== this.#text) this.#out.info(text);
      this.#text = text;
      return;
    }
    this.#text = text;
    if (this.#timer === null) {
      this.#started = this.#clock.monotonic();
      this.#tick();
    }
  }

  /** Stops it, clearing the line; prints `finalLine` on stderr if given. */
  stop(finalLine?: string): void {
    if (this.#timer !== null) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = null;
      this.#out.writeStderr("\r\x1b[2K");
    }
    this.#text = "";
    if (finalLine !== undefined) this.#out.info(finalLine);
  }

  #tick(): void {
    const seconds = Math.floor((this.#clock.monotonic() - this.#started) / 1000);
    const elapsed = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
    const frame = this.#out.stderrPaint.paint(FRAMES[this.#frame], "cyan");
    this.#out.writeStderr(
      `\r\x1b[2K${frame} ${this.#text} ${this.#out.stderrPaint.paint(elapsed, "dim")}`,
    );
    this.#frame = (this.#frame + 1) % FRAMES.length;
    this.#timer = this.#clock.setTimeout(() => this.#tick(), FRAME_MS);
  }
}
