/**
 * The process-level handler for promise rejections nobody handled. Deno ends
 * the process on one by default; for a long-running node that turns any
 * forgotten `catch` (in our code or a dependency's) into an outage. Here each
 * one is logged as a bug and counted, and the process goes on; the count is
 * in `citadel status --json` and the local API's `GET /status`, so a test or
 * an operator sees that one happened.
 *
 * @module
 */

/** One line about a rejection reason: its name and first message line, never a stack. */
export function describeRejection(reason: unknown): string {
  if (reason instanceof Error) {
    const line = reason.message.split("\n")[0];
    return line ? `${reason.name}: ${line}` : reason.name;
  }
  try {
    return String(reason).split("\n")[0];
  } catch {
    return "a value that cannot be printed";
  }
}

/**
 * Catches unhandled promise rejections: logs each through `log` and counts
 * it. Install once per process.
 *
 * @example
 * ```ts
 * const guard = new RejectionGuard();
 * guard.install(globalThis, (line) => console.error(line));
 * Promise.reject(new Error("forgotten"));
 * // later: guard.count === 1, and the process still runs
 * ```
 */
export class RejectionGuard {
  #count = 0;
  #target: EventTarget | null = null;
  #log: (line: string) => void = () => {};
  readonly #listener = (event: Event) => {
    // Keeps Deno from ending the process.
    event.preventDefault();
    this.#count += 1;
    try {
      this.#log(
        `unhandled promise rejection (a bug; counted, the process goes on): ` +
          describeRejection((event as PromiseRejectionEvent).reason),
      );
    } catch {
      // A failing log must not turn one rejection into a crash.
    }
  };

  /** How many rejections were caught so far. */
  get count(): number {
    return this.#count;
  }

  /** Whether the handler is installed. */
  get installed(): boolean {
    return this.#target !== null;
  }

  /**
   * Starts catching `unhandledrejection` events on `target` (`globalThis` in
   * a real process); a second call only replaces the log.
   */
  install(target: EventTarget, log: (line: string) => void): void {
    this.#log = log;
    if (this.#target !== null) return;
    this.#target = target;
    target.addEventListener("unhandledrejection", this.#listener);
  }

  /** Stops catching. */
  uninstall(): void {
    this.#target?.removeEventListener("unhandledrejection", this.#listener);
    this.#target = null;
  }
}
