/**
 * Typed errors of the job loop. A watchdog error makes `JobLoop.run` reject,
 * so that `citadel work` exits non-zero and its supervisor restarts it.
 *
 * @module
 */

/** The options cannot run a loop (no queue, a bad number, a bad URL). */
export class WorkerConfigError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "WorkerConfigError";
  }
}

/** Base of the watchdog errors. */
export class WorkerWatchdogError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "WorkerWatchdogError";
  }
}

/** No successful poll for too long while the loop should have been polling. */
export class WorkerStalledError extends WorkerWatchdogError {
  /** Milliseconds since the last successful poll. */
  readonly sinceMs: number;
  /** Builds the error. */
  constructor(sinceMs: number, lastError: string | null) {
    super(
      `no successful poll of the job queues for ${Math.round(sinceMs / 1000)} s` +
        (lastError ? ` (last error: ${lastError})` : ""),
    );
    this.name = "WorkerStalledError";
    this.sinceMs = sinceMs;
  }
}

/** A job ran past its own time limit plus the grace the handler had to stop it. */
export class JobStuckError extends WorkerWatchdogError {
  /** The job. */
  readonly jobId: string;
  /** Builds the error. */
  constructor(jobId: string, runningMs: number, limitMs: number) {
    super(
      `job ${jobId} has run ${Math.round(runningMs / 1000)} s, past its limit of ` +
        `${Math.round(limitMs / 1000)} s, and did not stop`,
    );
    this.name = "JobStuckError";
    this.jobId = jobId;
  }
}
