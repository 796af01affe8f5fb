/**
 * What a job type plugs into the loop: a handler checks a job's payload
 * ({@link JobHandler.prepare}) and returns the work to run, with the time
 * limit the watchdog holds it to.
 *
 * Outcomes: `succeeded`; `failed` and not retryable (acked: a command that
 * exited non-zero, a timeout, a bad payload: running it again would not help,
 * or would repeat side effects); `failed` and retryable (not acked: the entry
 * stays pending, another delivery comes after the claim idle time, and it is
 * dead-lettered after `maxRetries` deliveries), for transient trouble such as
 * an HTTP request that could not connect.
 *
 * @module
 */
import type { Clock } from "../network/mod.ts";
import type { Job } from "./job.ts";

/** A job's result. */
export type JobOutcome =
  | { status: "succeeded"; result: Record<string, unknown> }
  | { status: "failed"; error: string; retryable: boolean; result?: Record<string, unknown> };

/** What a running job may use. */
export interface JobContext {
  /** The job. */
  readonly job: Job;
  /** Aborted when the loop abandons the job (drain deadline passed, or a watchdog fired). */
  readonly signal: AbortSignal;
  /** Time. */
  readonly clock: Clock;
  /** Streams a piece of output to `stream:v1:<jobId>`; never rejects. */
  output(stream: "stdout" | "stderr", text: string): Promise<void>;
}

/** A job whose payload was checked, ready to run. */
export interface PreparedJob {
  /** Longest it may run, in milliseconds; the handler itself stops it then. */
  readonly limitMs: number;
  /** Runs it. Resolves with the outcome; should not reject (a rejection counts as a terminal failure). */
  run(ctx: JobContext): Promise<JobOutcome>;
}

/** One job type. */
export interface JobHandler {
  /** The `type` field it handles. */
  readonly type: string;
  /** Checks the payload; throws {@link JobPayloadError} when it cannot run. */
  prepare(job: Job): PreparedJob;
}

/** A payload the handler cannot run; a terminal failure of that job. */
export class JobPayloadError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "JobPayloadError";
  }
}

/** Reads `timeout_seconds` from a payload: the default when absent, an error when bad or over the cap. */
export function payloadTimeoutMs(
  payload: Record<string, unknown>,
  defaultMs: number,
  maxMs: number,
): number {
  const raw = payload.timeout_seconds;
  if (raw === undefined || raw === null) return defaultMs;
  if (typeof raw !== "number" || !Number.isFinite(raw) || raw <= 0) {
    throw new JobPayloadError("timeout_seconds must be a positive number");
  }
  const ms = Math.ceil(raw * 1000);
  if (ms > maxMs) {
    throw new JobPayloadError(`timeout_seconds is over this node's limit of ${maxMs / 1000} s`);
  }
  return ms;
}
