/**
 * The self-healing checks (the Go original's `selfheal.go`): the loop fails,
 * so `work` exits non-zero and its supervisor restarts it, when
 *
 * - it made no successful poll for {@link DEFAULT_STALL_LIMIT_MS} while it
 *   should have been polling, or
 * - one job runs past its own limit plus {@link DEFAULT_STUCK_GRACE_MS} (its
 *   handler should have stopped it at the limit; it did not).
 *
 * Decisions: time spent paused because the node is disconnected, or with
 * every slot busy, does not count as a stall (reconnecting is the network
 * layer's job, and a long job is judged by its own limit); time spent failing
 * to reach Redis does. The Go original's fixed 5 h "stuck" limit becomes each
 * job's own limit plus a grace.
 *
 * @module
 */
import { JobStuckError, WorkerStalledError, type WorkerWatchdogError } from "./worker_errors.ts";

/** No successful poll for this long fails the loop (the Go original's 600 s). */
export const DEFAULT_STALL_LIMIT_MS = 10 * 60_000;

/** How long past its limit a job may take to stop. */
export const DEFAULT_STUCK_GRACE_MS = 60_000;

/** How often the checks run. */
export const DEFAULT_WATCHDOG_INTERVAL_MS = 30_000;

/** What the checks look at (monotonic milliseconds). */
export interface WatchdogInput {
  /** Now. */
  nowMs: number;
  /** Last successful poll, or the last moment the loop was excused from polling. */
  pollReferenceMs: number;
  /** The running jobs. */
  jobs: readonly { jobId: string; startedMs: number; limitMs: number }[];
  /** Stall limit. */
  stallLimitMs: number;
  /** Grace past a job's limit. */
  stuckGraceMs: number;
  /** For the stall message. */
  lastError: string | null;
}

/** The error to fail with, or null when all is well. */
export function checkWatchdog(input: WatchdogInput): WorkerWatchdogError | null {
  for (const job of input.jobs) {
    const running = input.nowMs - job.startedMs;
    if (running > job.limitMs + input.stuckGraceMs) {
      return new JobStuckError(job.jobId, running, job.limitMs);
    }
  }
  const since = input.nowMs - input.pollReferenceMs;
  if (since > input.stallLimitMs) return new WorkerStalledError(since, input.lastError);
  return null;
}
