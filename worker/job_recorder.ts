/**
 * What a job leaves in Redis for its producer, as the Go original did:
 *
 * - events on `stream:v1:<jobId>`: `claimed`, `start`, `chunk` (output),
 *   `end` (success, with the result) or `error` (with `recoverable`), and
 *   `dead_lettered`. Each entry has the fields of the Go `StreamEvent`:
 *   `version` (`1.0`), `type`, `jobId`, `rayId` (when given), `timestamp`
 *   (ISO 8601) and `data` (JSON).
 * - the hash `job:<jobId>:status`: `status` (`processing`, `completed`,
 *   `failed`, `retrying`, `dead_lettered`), `worker_id`, `updated_at`, and
 *   `exit_code` / `error` when known.
 *
 * The final record goes with the entry's ack in one script, once per entry
 * (`entry_completion.ts`, which adds the field `final_entry` to the hash);
 * progress records may be written twice after a lost reply.
 *
 * Decisions: the Go original PUBLISHed events (lost when nobody listened);
 * here they are stream entries (XADD), so output can be read after the fact,
 * trimmed to about {@link JOB_STREAM_MAX_LEN} entries. Both keys expire
 * {@link JOB_RECORD_TTL_S} after their last write (the Go API mode's 24 h), so
 * finished jobs do not pile up in Redis.
 *
 * @module
 */
import type { Clock } from "../network/mod.ts";
import type { RespArgument } from "./redis/resp.ts";
import type { RedisConnection } from "./redis/redis_connection.ts";
import { RedisCommandError } from "./redis/redis_errors.ts";

/** Seconds a job's event stream and status hash live after their last write. */
export const JOB_RECORD_TTL_S = 24 * 60 * 60;

/** About how many events a job stream keeps. */
export const JOB_STREAM_MAX_LEN = 10_000;

/** The event stream of a job. */
export function jobStreamOf(jobId: string): string {
  return `stream:v1:${jobId}`;
}

/** The status hash of a job. */
export function jobStatusKeyOf(jobId: string): string {
  return `job:${jobId}:status`;
}

/** The event types a job stream holds. */
export type JobEventType = "claimed" | "start" | "chunk" | "end" | "error" | "dead_lettered";

/** The status values of `job:<id>:status`. */
export type JobStatusValue = "processing" | "completed" | "failed" | "retrying" | "dead_lettered";

/** One write to make: an event, a status, or both. */
export interface JobRecord {
  /** The job id. */
  jobId: string;
  /** Tracing id, when the job had one. */
  rayId: string | null;
  /** An event to append. */
  event?: { type: JobEventType; data: Record<string, unknown> };
  /** A status to set, with extra fields. */
  status?: { value: JobStatusValue; extra?: Record<string, string | number> };
}

/** The commands for one record (pure; exported for tests). */
export function jobRecordCommands(
  record: JobRecord,
  workerId: string,
  nowMs: number,
): RespArgument[][] {
  const timestamp = new Date(nowMs).toISOString();
  const commands: RespArgument[][] = [];
  if (record.event) {
    const stream = jobStreamOf(record.jobId);
    const add: RespArgument[] = [
      "XADD",
      stream,
      "MAXLEN",
      "~",
      JOB_STREAM_MAX_LEN,
      "*",
      "version",
      "1.0",
      "type",
      record.event.type,
      "jobId",
      record.jobId,
    ];
    if (record.rayId !== null) add.push("rayId", record.rayId);
    add.push("timestamp", timestamp, "data", JSON.stringify(record.event.data));
    commands.push(add, ["EXPIRE", stream, JOB_RECORD_TTL_S]);
  }
  if (record.status) {
    const key = jobStatusKeyOf(record.jobId);
    const set: RespArgument[] = [
      "HSET",
      key,
      "status",
      record.status.value,
      "worker_id",
      workerId,
      "updated_at",
      timestamp,
    ];
    for (const [k, v] of Object.entries(record.status.extra ?? {})) set.push(k, v);
    commands.push(set, ["EXPIRE", key, JOB_RECORD_TTL_S]);
  }
  return commands;
}

/** Writes job records over a connection. */
export class JobRecorder {
  readonly #workerId: string;
  readonly #clock: Clock;

  /** A recorder that signs records with `workerId`. */
  constructor(workerId: string, clock: Clock) {
    this.#workerId = workerId;
    this.#clock = clock;
  }

  /** The commands of a record, stamped now (for a completion script). */
  commands(record: JobRecord): RespArgument[][] {
    return jobRecordCommands(record, this.#workerId, this.#clock.now());
  }

  /** Writes a record in one pipelined batch; rejects on the first error. */
  write(connection: RedisConnection, record: JobRecord): Promise<void> {
    return this.writeCommands(connection, this.commands(record));
  }

  /** Writes a record's commands (from {@link commands}) in one pipelined batch. */
  async writeCommands(
    connection: RedisConnection,
    commands: readonly (readonly RespArgument[])[],
  ): Promise<void> {
    const replies = await connection.pipeline(commands);
    for (const reply of replies) if (reply instanceof RedisCommandError) throw reply;
  }
}
