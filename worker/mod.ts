/**
 * The worker that `citadel work` runs: a job loop on Redis Streams
 * (`job_loop.ts`), its jobs (`jobs/`), heartbeats, watchdogs and a status
 * snapshot, over a small Redis client (`redis/`). It never prints or exits:
 * it returns values, throws typed errors and reports events.
 *
 * @example
 * ```ts
 * import { dialTcp, JobLoop } from "./worker/mod.ts";
 * const loop = new JobLoop({ redisURL: "redis://127.0.0.1:6379", dial: dialTcp, … });
 * await loop.run(stopSignal);
 * ```
 *
 * @module
 */
export {
  DEFAULT_GROUP,
  JobLoop,
  type JobLoopOptions,
  type JobLoopResult,
  nodeStreamOf,
} from "./job_loop.ts";
export {
  DEFAULT_MAX_PAYLOAD_BYTES,
  type Job,
  JOB_ID_PATTERN,
  type JobParseResult,
  parseJobEntry,
} from "./job.ts";
export {
  type JobContext,
  type JobHandler,
  type JobOutcome,
  JobPayloadError,
  type PreparedJob,
} from "./job_handler.ts";
export {
  completionCommand,
  type EntryCompletion,
  FINAL_ENTRY_FIELD,
  finalEntryMarker,
} from "./entry_completion.ts";
export { deadLetterStreamOf, JobQueue, type JobQueueOptions } from "./job_queue.ts";
export {
  JOB_RECORD_TTL_S,
  JOB_STREAM_MAX_LEN,
  type JobEventType,
  type JobRecord,
  jobRecordCommands,
  JobRecorder,
  jobStatusKeyOf,
  type JobStatusValue,
  jobStreamOf,
} from "./job_recorder.ts";
export {
  type ActiveEntry,
  type JobCounters,
  JobProcessor,
  type JobProcessorOptions,
} from "./job_processor.ts";
export { ShellJobHandler, type ShellJobOptions } from "./jobs/shell_job.ts";
export { HttpJobHandler, type HttpJobOptions, type JobFetch } from "./jobs/http_job.ts";
export { type JobPing, PingJobHandler, type PingJobOptions } from "./jobs/ping_job.ts";
export {
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_STREAM,
  HEARTBEAT_STREAM_MAX_LEN,
  heartbeatFields,
  HeartbeatTimer,
  type NodeIdentity,
} from "./heartbeat.ts";
export {
  checkWatchdog,
  DEFAULT_STALL_LIMIT_MS,
  DEFAULT_STUCK_GRACE_MS,
  DEFAULT_WATCHDOG_INTERVAL_MS,
  type WatchdogInput,
} from "./watchdog.ts";
export {
  JobStuckError,
  WorkerConfigError,
  WorkerStalledError,
  WorkerWatchdogError,
} from "./worker_errors.ts";
export type { WorkerEvent } from "./worker_events.ts";
export type { WorkerState, WorkerStatus } from "./worker_status.ts";
export * from "./redis/mod.ts";
// Types of the network layer that the worker's options use.
export type { Clock, PingOptions, PingResult, RandomSource, TimerHandle } from "../network/mod.ts";
