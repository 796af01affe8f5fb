/**
 * What happens to one delivered stream entry, in order:
 *
 * 1. an entry deleted while pending is acked and dropped;
 * 2. past `maxRetries` deliveries it goes to the dead-letter stream
 *    (`deadLetterStreamOf`) with the Go original's fields and is acked;
 * 3. an entry that is not a valid job fails terminally (recorded, acked);
 * 4. a job addressed to another node is acked and skipped (nothing recorded:
 *    it is that node's job; only our group's pending entry is cleared);
 * 5. an unknown type, or a payload its handler refuses, fails terminally;
 * 6. otherwise `claimed` and `start` are recorded, the handler runs, and the
 *    outcome is recorded: success or terminal failure → acked; retryable
 *    failure → left pending for a later delivery; abandoned (drain deadline
 *    or watchdog) → left pending, nothing recorded.
 *
 * Delivery semantics are at least once: a worker that dies while running a
 * job runs it again on the next delivery. Completion is exactly once as Redis
 * shows it: the final record and the ack are one script that writes only if
 * that entry's completion is not there yet (`entry_completion.ts`), so a job
 * has one `end` (or final `error`) event per entry. When Redis is unreachable,
 * or answers "not now" (`LOADING` after a restart), the completion is kept and
 * retried after the loop reconnects ({@link JobProcessor.flushRetries}), so a
 * Redis restart neither loses a finished job nor runs it again.
 *
 * Decision (the Go original's quirk): it compared the delivery count with
 * `>=` before running, so a job ran at most `MaxAttempts - 1` times, and as it
 * never reclaimed pending entries a failed job was never delivered again.
 * Here a job runs at most `maxRetries` times and is dead-lettered on the next
 * delivery; retries do happen (reclaim after the idle time).
 *
 * @module
 */
import type { Clock } from "../network/mod.ts";
import { type Job, parseJobEntry } from "./job.ts";
import {
  type JobHandler,
  type JobOutcome,
  JobPayloadError,
  type PreparedJob,
} from "./job_handler.ts";
import { deadLetterStreamOf, type JobQueue } from "./job_queue.ts";
import { type JobRecord, JobRecorder, jobStatusKeyOf } from "./job_recorder.ts";
import { isTransientRedisError, RedisCommandError } from "./redis/redis_errors.ts";
import { type RespArgument, RespOversized } from "./redis/resp.ts";
import type { StreamEntry } from "./redis/stream_replies.ts";
import type { WorkerEvent } from "./worker_events.ts";

/** Counters the processor keeps (the status snapshot reads them). */
export interface JobCounters {
  /** Jobs running. */
  running: number;
  /** Succeeded. */
  succeeded: number;
  /** Failed (terminal or retryable). */
  failed: number;
  /** Dead-lettered. */
  deadLettered: number;
  /** Skipped (another node's). */
  skipped: number;
  /** Completions found already recorded on a retry (only acked again). */
  completionsDeduplicated: number;
}

/** One entry being handled. */
export interface ActiveEntry {
  /** `queue entryId`. */
  readonly key: string;
  /** Its queue. */
  readonly queue: string;
  /** Its entry id. */
  readonly entryId: string;
  /** Its job id, once known. */
  jobId: string | null;
  /** Monotonic start of the handler run, or null before it. */
  startedMs: number | null;
  /** The handler's limit, once known. */
  limitMs: number;
  /** Aborted to abandon the job. */
  readonly abort: AbortController;
}

/** Options of {@link JobProcessor}. */
export interface JobProcessorOptions {
  /** Time. */
  clock: Clock;
  /** This worker's consumer name (the `worker_id` of records). */
  consumer: string;
  /** Citadel's version (the `agent_version` of `claimed`). */
  version: string;
  /** This node's Nexus id, or null when unknown (then every addressed job is skipped). */
  nodeId: string | null;
  /** Deliveries a job may have; the next one dead-letters it. */
  maxRetries: number;
  /** Largest payload accepted. */
  maxPayloadBytes: number;
  /** Handlers by type. */
  handlers: ReadonlyMap<string, JobHandler>;
  /** The current queue, or null while disconnected from Redis. */
  queue: () => JobQueue | null;
  /** Reports an event. */
  onEvent: (event: WorkerEvent) => void;
  /** Records the last error. */
  onError: (message: string) => void;
}

/** Writes kept while Redis is unreachable, done in order once it is back. */
type Write = (queue: JobQueue) => Promise<void>;

/**
 * Most writes kept while Redis is unreachable before progress records are
 * dropped (completions and acks are always kept). While Redis is away no new
 * job is read, so only running jobs add to them, each within its output
 * limit; this bounds the rest.
 */
export const MAX_KEPT_WRITES = 10_000;

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Handles delivered entries; see the module documentation. */
export class JobProcessor {
  readonly #o: JobProcessorOptions;
  readonly #recorder: JobRecorder;
  readonly #pendingWrites: Write[] = [];

  /** The counters. */
  readonly counters: JobCounters = {
    running: 0,
    succeeded: 0,
    failed: 0,
    deadLettered: 0,
    skipped: 0,
    completionsDeduplicated: 0,
  };

  /** A processor with the given options. */
  constructor(options: JobProcessorOptions) {
    this.#o = options;
    this.#recorder = new JobRecorder(options.consumer, options.clock);
  }

  /** Writes kept for a reconnect. */
  get pendingWrites(): number {
    return this.#pendingWrites.length;
  }

  /** Retries the kept writes in order; stops at the first that fails again. */
  async flushRetries(): Promise<void> {
    while (this.#pendingWrites.length > 0) {
      const queue = this.#o.queue();
      if (!queue) return;
      try {
        await this.#pendingWrites[0](queue);
      } catch (e) {
        // A refusal that will not change (not a lost connection, not LOADING) is final.
        if (!(e instanceof RedisCommandError) || isTransientRedisError(e)) throw e;
        this.#o.onError(errorText(e));
      }
      this.#pendingWrites.shift();
    }
  }

  /**
   * Handles one entry. `deliveries` is known for a fresh read (1); null means
   * ask Redis (XPENDING). Never rejects.
   */
  async process(entry: StreamEntry, active: ActiveEntry, deliveries: number | null): Promise<void> {
    try {
      await this.#process(entry, active, deliveries);
    } catch (e) {
      this.#o.onError(`entry ${active.entryId} on ${active.queue}: ${errorText(e)}`);
    }
  }

  async #process(entry: StreamEntry, active: ActiveEntry, known: number | null): Promise<void> {
    const { queue, entryId } = active;
    if (entry.fields === null) return await this.#must((q) => q.ack(queue, entryId));
    let deliveries = known;
    if (deliveries === null) {
      const q = this.#o.queue();
      if (!q) return; // Still pending: a later claim delivers it again.
      deliveries = await q.deliveries(queue, entryId);
      if (deliveries === null) return; // Acked meanwhile by another consumer.
    }
    const parsed = parseJobEntry(queue, entry, this.#o.maxPayloadBytes);
    if (deliveries > this.#o.maxRetries) {
      return await this.#deadLetter(entry, active, deliveries, parsed.ok ? parsed.job : null);
    }
    if (!parsed.ok) {
      active.jobId = parsed.jobId;
      return await this.#finishTerminal(active, parsed.jobId, parsed.rayId, "invalid", {
        status: "failed",
        error: `invalid job: ${parsed.reason}`,
        retryable: false,
      });
    }
    const job = parsed.job;
    active.jobId = job.jobId;
    if (job.targetNode !== null && job.targetNode !== this.#o.nodeId) {
      this.counters.skipped++;
      this.#o.onEvent({ kind: "job-skipped", jobId: job.jobId, targetNode: job.targetNode });
      return await this.#must((q) => q.ack(queue, entryId));
    }
    const handler = this.#o.handlers.get(job.type);
    if (!handler) {
      return await this.#finishTerminal(active, job.jobId, job.rayId, job.type, {
        status: "failed",
        error: `unsupported job type "${job.type}" (this node runs: ${
          [...this.#o.handlers.keys()].join(", ")
        })`,
        retryable: false,
        result: { unsupported_job_type: true, job_type: job.type },
      });
    }
    let prepared: PreparedJob;
    try {
      prepared = handler.prepare(job);
    } catch (e) {
      if (!(e instanceof JobPayloadError)) throw e;
      return await this.#finishTerminal(active, job.jobId, job.rayId, job.type, {
        status: "failed",
        error: `bad payload: ${e.message}`,
        retryable: false,
      });
    }
    await this.#run(job, prepared, active, deliveries);
  }

  async #run(
    job: Job,
    prepared: PreparedJob,
    active: ActiveEntry,
    delivery: number,
  ): Promise<void> {
    const clock = this.#o.clock;
    active.limitMs = prepared.limitMs;
    active.startedMs = clock.monotonic();
    this.counters.running++;
    this.#o.onEvent({
      kind: "job-started",
      jobId: job.jobId,
      type: job.type,
      queue: job.queue,
      delivery,
    });
    await this.#best({
      jobId: job.jobId,
      rayId: job.rayId,
      event: { type: "claimed", data: { agent_version: this.#o.version, delivery } },
    });
    await this.#best({
      jobId: job.jobId,
      rayId: job.rayId,
      event: { type: "start", data: { message: "Job processing started" } },
      status: { value: "processing" },
    });
    let index = 0;
    let outcome: JobOutcome;
    try {
      outcome = await prepared.run({
        job,
        signal: active.abort.signal,
        clock,
        output: async (stream, content) => {
          await this.#best({
            jobId: job.jobId,
            rayId: job.rayId,
            event: { type: "chunk", data: { stream, content, index: index++ } },
          });
        },
      });
    } catch (e) {
      outcome = { status: "failed", error: `handler error: ${errorText(e)}`, retryable: false };
    } finally {
      this.counters.running--;
    }
    const durationMs = clock.monotonic() - active.startedMs;
    if (active.abort.signal.aborted) {
      this.#o.onEvent({
        kind: "job-finished",
        jobId: job.jobId,
        type: job.type,
        status: "abandoned",
        durationMs,
      });
      return;
    }
    if (outcome.status === "failed" && outcome.retryable) {
      this.counters.failed++;
      this.#o.onEvent({
        kind: "job-finished",
        jobId: job.jobId,
        type: job.type,
        status: "retrying",
        error: outcome.error,
        durationMs,
      });
      await this.#best({
        jobId: job.jobId,
        rayId: job.rayId,
        event: { type: "error", data: { error: outcome.error, recoverable: true, delivery } },
        status: { value: "retrying", extra: { error: outcome.error } },
      });
      return;
    }
    await this.#finishTerminal(active, job.jobId, job.rayId, job.type, outcome, durationMs);
  }

  /** Records a final outcome (success or terminal failure) and acks. */
  async #finishTerminal(
    active: ActiveEntry,
    jobId: string,
    rayId: string | null,
    type: string,
    outcome: JobOutcome,
    durationMs = 0,
  ): Promise<void> {
    const extra: Record<string, string | number> = {};
    const exit = outcome.result?.exit_code;
    if (typeof exit === "number") extra.exit_code = exit;
    let record: JobRecord;
    if (outcome.status === "succeeded") {
      this.counters.succeeded++;
      record = {
        jobId,
        rayId,
        event: { type: "end", data: { result: outcome.result } },
        status: { value: "completed", extra },
      };
    } else {
      this.counters.failed++;
      extra.error = outcome.error;
      record = {
        jobId,
        rayId,
        event: {
          type: "error",
          data: { error: outcome.error, recoverable: false, ...(outcome.result ?? {}) },
        },
        status: { value: "failed", extra },
      };
    }
    this.#o.onEvent({
      kind: "job-finished",
      jobId,
      type,
      status: outcome.status,
      error: outcome.status === "failed" ? outcome.error : undefined,
      durationMs,
    });
    // Stamped once: a retried completion writes the same record (or, when an
    // earlier try got through, nothing).
    const writes = this.#recorder.commands(record);
    const { queue, entryId } = active;
    await this.#must((q) => this.#complete(q, queue, entryId, jobId, writes));
  }

  /** The final writes and the ack, once per entry (entry_completion.ts). */
  async #complete(
    q: JobQueue,
    queue: string,
    entryId: string,
    jobId: string,
    writes: RespArgument[][],
  ): Promise<void> {
    const wrote = await q.complete({ queue, entryId, statusKey: jobStatusKeyOf(jobId), writes });
    if (!wrote) this.counters.completionsDeduplicated++;
  }

  async #deadLetter(
    entry: StreamEntry,
    active: ActiveEntry,
    deliveries: number,
    job: Job | null,
  ): Promise<void> {
    const { queue, entryId } = active;
    const fields = entry.fields ?? new Map();
    const jobIdField = fields.get("jobId");
    const jobId = job?.jobId ?? (typeof jobIdField === "string" ? jobIdField : entryId);
    const rawPayload = fields.get("payload");
    const payload = rawPayload instanceof RespOversized
      ? `(${rawPayload.length} bytes, too large to copy)`
      : rawPayload ?? "";
    const to = deadLetterStreamOf(queue);
    const reason = `delivered ${deliveries} times, over the limit of ${this.#o.maxRetries}`;
    this.counters.deadLettered++;
    this.#o.onEvent({ kind: "job-dead-lettered", jobId, queue, deliveries, to });
    const type = fields.get("type");
    const copy: RespArgument[] = [
      "XADD",
      to,
      "*",
      "original_message_id",
      entryId,
      "original_queue",
      queue,
      "reason",
      reason,
      "moved_at",
      new Date(this.#o.clock.now()).toISOString(),
      "worker_id",
      this.#o.consumer,
      "jobId",
      jobId,
      "type",
      typeof type === "string" ? type : "",
      "deliveries",
      String(deliveries),
      "payload",
      payload,
    ];
    // The status hash is written even for an entry that is not a valid job:
    // it holds the completion marker that keeps a retry from a second copy.
    const record = this.#recorder.commands({
      jobId,
      rayId: job?.rayId ?? null,
      event: job ? { type: "dead_lettered", data: { reason, dead_letter_stream: to } } : undefined,
      status: { value: "dead_lettered", extra: { error: reason } },
    });
    const writes = [copy, ...record];
    await this.#must((q) => this.#complete(q, queue, entryId, jobId, writes));
  }

  /**
   * A progress record (`claimed`, `start`, `chunk`, `retrying`): written now,
   * or kept in order with the final writes while Redis is unreachable (a job
   * that runs through a Redis restart keeps its output). Stamped now, not
   * when written. At least once: a batch whose reply was lost is written
   * again, so a reader may see a `chunk` index twice. Past
   * {@link MAX_KEPT_WRITES} kept writes, progress is dropped (and noted).
   */
  async #best(record: JobRecord): Promise<void> {
    const commands = this.#recorder.commands(record);
    await this.#keep(
      (q) => this.#recorder.writeCommands(q.commands, commands),
      `recording ${record.event?.type ?? "status"} of ${record.jobId}`,
      false,
    );
  }

  /** A write that must happen (a completion, an ack): kept for after a reconnect. */
  async #must(write: Write): Promise<void> {
    await this.#keep(write, "", true);
  }

  async #keep(write: Write, what: string, essential: boolean): Promise<void> {
    const q = this.#o.queue();
    if (q && this.#pendingWrites.length === 0) {
      try {
        return await write(q);
      } catch (e) {
        if (e instanceof RedisCommandError && !isTransientRedisError(e)) {
          this.#o.onError(what ? `${what}: ${errorText(e)}` : errorText(e));
          return;
        }
      }
    }
    if (!essential && this.#pendingWrites.length >= MAX_KEPT_WRITES) {
      this.#o.onError(`${what}: dropped, ${MAX_KEPT_WRITES} writes already wait for Redis`);
      return;
    }
    // Unreachable, or "not now" (LOADING after a restart …): kept, in order.
    this.#pendingWrites.push(write);
  }
}
