/**
 * The job loop of `citadel work`: Redis Streams consumer groups, as the Go
 * original's `internal/worker` (runner, redis source, self-heal), with its
 * quirks decided one by one.
 *
 * Queues: the `queues` option (`--queue`, repeatable) plus, when both the
 * organisation and this node's Nexus id are known, the per-node stream
 * `jobs:v1:shell:org_<org>:node:<nodeId>`. One consumer group (default
 * {@link DEFAULT_GROUP}) is created on each with MKSTREAM.
 *
 * The loop:
 * - starts only once `connected()` says the node is on the mesh, and pauses
 *   (reads nothing new; running jobs go on) while it says otherwise;
 * - reads new entries with `XREADGROUP … COUNT <free slots> BLOCK <pollBlockMs>`
 *   and never runs more than `concurrency` jobs at once;
 * - on each connection to Redis, takes back the entries delivered to its own
 *   consumer name that it does not hold: after a crash and restart, they run
 *   again at once; after a reconnect, entries whose read reply was lost;
 * - every `reclaimIntervalMs`, XAUTOCLAIMs entries idle for `claimMinIdleMs`
 *   from any consumer (one that died, or a retryable failure waiting for its
 *   next delivery), and renews the idle time of the entries it is running
 *   (`XCLAIM … JUSTID`) so that a long job is not taken from a live worker;
 * - reconnects to Redis with backoff when a connection fails;
 * - writes a heartbeat every 30 s (`heartbeat.ts`) and runs the watchdogs
 *   every 30 s (`watchdog.ts`): a watchdog makes {@link JobLoop.run} reject
 *   with a `WorkerWatchdogError`, so `work` exits non-zero;
 * - on stop, reads nothing more, waits up to `drainTimeoutMs` for running
 *   jobs, then abandons the rest (killed, left pending for another delivery)
 *   and resolves.
 *
 * Decisions on the Go original:
 * - Default group `citadel-workers`, shared by all nodes: each job on a shared
 *   queue runs once. The Go original used one group per node
 *   (`citadel-node-<id>`), so every node received every job of a shared queue
 *   and all but the addressed one acked it unrun; jobs without `target_node`
 *   ran on every node. `group` can still be set per node.
 * - Consumer name: `consumer` (give a stable one, e.g. `citadel-<node name>`,
 *   so a restarted worker takes back its own unacked jobs at once); default
 *   `citadel-<8 hex>` as the Go original, whose every restart left a new
 *   consumer behind in the group.
 * - Failed jobs are delivered again (the Go original never reclaimed, so its
 *   retries never happened), and a job runs at most `maxRetries` times.
 * - The loop waits for the mesh and pauses without it (the Go original ran
 *   without it, quirk §8.6).
 *
 * @module
 */
import { Backoff, type Clock, type RandomSource, type TimerHandle } from "../network/mod.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "./job.ts";
import type { JobHandler } from "./job_handler.ts";
import { type ActiveEntry, JobProcessor } from "./job_processor.ts";
import { JobQueue } from "./job_queue.ts";
import { HttpJobHandler, type JobFetch } from "./jobs/http_job.ts";
import { type JobPing, PingJobHandler } from "./jobs/ping_job.ts";
import { ShellJobHandler, type ShellJobOptions } from "./jobs/shell_job.ts";
import {
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_STREAM,
  HEARTBEAT_STREAM_MAX_LEN,
  heartbeatFields,
  HeartbeatTimer,
  type NodeIdentity,
} from "./heartbeat.ts";
import type { RedisDial } from "./redis/dial.ts";
import { RedisCommandError } from "./redis/redis_errors.ts";
import { parseRedisURL, redactRedisURL, type RedisURL } from "./redis/redis_url.ts";
import type { StreamEntry } from "./redis/stream_replies.ts";
import {
  checkWatchdog,
  DEFAULT_STALL_LIMIT_MS,
  DEFAULT_STUCK_GRACE_MS,
  DEFAULT_WATCHDOG_INTERVAL_MS,
} from "./watchdog.ts";
import { WorkerConfigError, type WorkerWatchdogError } from "./worker_errors.ts";
import type { WorkerEvent } from "./worker_events.ts";
import type { WorkerState, WorkerStatus } from "./worker_status.ts";

/** The group all workers share by default. */
export const DEFAULT_GROUP = "citadel-workers";

/** The per-node stream of an organisation's node. */
export function nodeStreamOf(org: string, nodeId: string): string {
  return `jobs:v1:shell:org_${org}:node:${nodeId}`;
}

/** Options of {@link JobLoop}. */
export interface JobLoopOptions {
  /** `redis://[user[:password]@]host[:port][/db]`. */
  redisURL: string;
  /** Opens byte streams to Redis (the mesh dial, or `dialTcp`). */
  dial: RedisDial;
  /** Time. */
  clock: Clock;
  /** Randomness (consumer name, backoff jitter). */
  random: RandomSource;
  /** Whether the node is connected to the mesh right now. */
  connected: () => boolean;
  /** The node's identity for heartbeats and `target_node`. */
  node: () => NodeIdentity;
  /** Citadel's version. */
  version: string;
  /** Queues (`--queue`); may be empty when the per-node stream is known. */
  queues: readonly string[];
  /** Organisation id, for the per-node stream. */
  org?: string | null;
  /** Consumer group (default {@link DEFAULT_GROUP}). */
  group?: string;
  /** Consumer name (default `citadel-<8 hex>`). */
  consumer?: string;
  /** Jobs run at once (default 1). */
  concurrency?: number;
  /** Deliveries a job may have before it is dead-lettered (default 3). */
  maxRetries?: number;
  /** Idle time after which a pending entry may be claimed (default 5 min). */
  claimMinIdleMs?: number;
  /** Time between claim rounds (default min(claimMinIdleMs / 2, 30 s)). */
  reclaimIntervalMs?: number;
  /** Longest block of one read (default 5 s, the Go original's `--poll-ms`). */
  pollBlockMs?: number;
  /** Longest wait for running jobs on stop (default 8 s; `work` allows 10 s in all). */
  drainTimeoutMs?: number;
  /** Time between heartbeats (default 30 s). */
  heartbeatIntervalMs?: number;
  /** Watchdog: longest time without a successful poll (default 10 min). */
  stallLimitMs?: number;
  /** Watchdog: grace past a job's limit (default 60 s). */
  stuckGraceMs?: number;
  /** Watchdog: time between checks (default 30 s). */
  watchdogIntervalMs?: number;
  /** Largest job payload (default 256 KiB). */
  maxPayloadBytes?: number;
  /**
   * `shell` jobs: workspace, environment and limits; null refuses them (each
   * fails terminally as an unsupported type, as `work --no-shell-jobs`).
   */
  shell: ShellJobOptions | null;
  /** `http` jobs run through this fetch; without it `http` is an unknown type. */
  fetch?: JobFetch;
  /** `ping` jobs use this; without it `ping` is an unknown type. */
  ping?: JobPing;
  /** Events. */
  onEvent?: (event: WorkerEvent) => void;
}

/** What {@link JobLoop.run} resolves with. */
export interface JobLoopResult {
  /** Jobs still running at the drain deadline, abandoned (left pending). */
  abandoned: string[];
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The job loop; see the module documentation. */
export class JobLoop {
  readonly #o: JobLoopOptions;
  readonly #url: RedisURL;
  readonly #queues: string[];
  readonly #group: string;
  readonly #consumer: string;
  readonly #concurrency: number;
  readonly #claimMinIdleMs: number;
  readonly #reclaimIntervalMs: number;
  readonly #processor: JobProcessor;
  readonly #backoff: Backoff;
  readonly #active = new Map<string, ActiveEntry & { done?: Promise<void> }>();
  readonly #backlog: { queue: string; entry: StreamEntry; deliveries: number | null }[] = [];
  readonly #cursors = new Map<string, string>();
  #queue: JobQueue | null = null;
  #state: WorkerState = "starting";
  #startedAtMs = 0;
  #startedMono = 0;
  #pollReferenceMs = 0;
  #lastPollAtMs: number | null = null;
  #lastHeartbeatAtMs: number | null = null;
  #lastError: string | null = null;
  #recoverOwn = false;
  #route: string | null = null;
  #nextReclaimMs = 0;
  #fatal: WorkerWatchdogError | null = null;
  #wake: (() => void) | null = null;
  #running = false;

  /** Checks the options; throws {@link WorkerConfigError} (or `RedisURLError`). */
  constructor(options: JobLoopOptions) {
    this.#o = options;
    this.#url = parseRedisURL(options.redisURL);
    const node = options.node();
    const queues = [...options.queues];
    if (options.org && node.nodeId) queues.push(nodeStreamOf(options.org, node.nodeId));
    this.#queues = [...new Set(queues)];
    if (this.#queues.length === 0) {
      throw new WorkerConfigError(
        "no queue to read: give --queue, or an organisation and node id for the per-node stream",
      );
    }
    const positive = (name: string, value: number | undefined, fallback: number) => {
      const v = value ?? fallback;
      if (!Number.isInteger(v) || v < 1) {
        throw new WorkerConfigError(`${name} must be a whole number ≥ 1`);
      }
      return v;
    };
    this.#group = options.group ?? DEFAULT_GROUP;
    this.#consumer = options.consumer ?? `citadel-${hex(options.random(4))}`;
    this.#concurrency = positive("concurrency", options.concurrency, 1);
    const maxRetries = positive("maxRetries", options.maxRetries, 3);
    this.#claimMinIdleMs = positive("claimMinIdleMs", options.claimMinIdleMs, 5 * 60_000);
    this.#reclaimIntervalMs = options.reclaimIntervalMs ??
      Math.max(100, Math.min(this.#claimMinIdleMs / 2, 30_000));
    const handlers = new Map<string, JobHandler>();
    const add = (h: JobHandler) => handlers.set(h.type, h);
    if (options.shell) add(new ShellJobHandler(options.shell));
    if (options.fetch) add(new HttpJobHandler({ fetch: options.fetch }));
    if (options.ping) add(new PingJobHandler({ ping: options.ping }));
    this.#backoff = new Backoff({ baseMs: 1_000, maxMs: 30_000, random: options.random });
    this.#processor = new JobProcessor({
      clock: options.clock,
      consumer: this.#consumer,
      version: options.version,
      nodeId: node.nodeId,
      maxRetries,
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      handlers,
      queue: () => this.#queue,
      onEvent: (e) => this.#emit(e),
      onError: (m) => this.#lastError = m,
    });
  }

  /** The queues it reads. */
  get queues(): readonly string[] {
    return this.#queues;
  }

  /** The status snapshot for the local API. */
  status(): WorkerStatus {
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const c = this.#processor.counters;
    return {
      state: this.#state,
      redis: redactRedisURL(this.#o.redisURL),
      redisConnected: this.#queue !== null,
      redisRoute: this.#route,
      group: this.#group,
      consumer: this.#consumer,
      queues: [...this.#queues],
      jobsRunning: c.running,
      jobsDone: c.succeeded + c.failed,
      jobsSucceeded: c.succeeded,
      jobsFailed: c.failed,
      jobsDeadLettered: c.deadLettered,
      jobsSkipped: c.skipped,
      startedAt: new Date(this.#startedAtMs || this.#o.clock.now()).toISOString(),
      lastPollAt: iso(this.#lastPollAtMs),
      lastHeartbeatAt: iso(this.#lastHeartbeatAtMs),
      lastError: this.#lastError,
    };
  }

  /**
   * Runs until `stop` aborts, then drains and resolves. Rejects with a
   * `WorkerWatchdogError` when a watchdog fires. Runs once per instance.
   */
  async run(stop: AbortSignal): Promise<JobLoopResult> {
    if (this.#running || this.#state !== "starting") {
      throw new Error("JobLoop.run was already called");
    }
    this.#running = true;
    const clock = this.#o.clock;
    this.#startedAtMs = clock.now();
    this.#startedMono = clock.monotonic();
    this.#pollReferenceMs = this.#startedMono;
    const loop = new AbortController();
    const onStop = () => loop.abort();
    stop.addEventListener("abort", onStop, { once: true });
    if (stop.aborted) loop.abort();
    loop.signal.addEventListener("abort", () => {
      this.#queue?.interruptRead();
      this.#wake?.();
    }, { once: true });
    const heartbeat = new HeartbeatTimer(
      clock,
      this.#o.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS,
      () => this.#heartbeat(),
    );
    const watchdogEvery = this.#o.watchdogIntervalMs ?? DEFAULT_WATCHDOG_INTERVAL_MS;
    let watchdogTimer: TimerHandle | null = null;
    const watch = () => {
      const fatal = this.#checkWatchdog();
      if (fatal) {
        this.#fatal = fatal;
        loop.abort();
        return;
      }
      watchdogTimer = clock.setTimeout(watch, watchdogEvery);
    };
    watchdogTimer = clock.setTimeout(watch, watchdogEvery);
    try {
      await this.#mainLoop(loop.signal, heartbeat);
    } finally {
      stop.removeEventListener("abort", onStop);
      heartbeat.stop();
      if (watchdogTimer !== null) clock.clearTimeout(watchdogTimer);
    }
    if (this.#fatal) {
      this.#state = "failed";
      for (const a of this.#active.values()) a.abort.abort();
      this.#queue?.close("the worker failed");
      this.#queue = null;
      throw this.#fatal;
    }
    return await this.#drain();
  }

  #emit(event: WorkerEvent): void {
    try {
      this.#o.onEvent?.(event);
    } catch {
      // A listener's failure is not the loop's.
    }
  }

  #checkWatchdog(): WorkerWatchdogError | null {
    const now = this.#o.clock.monotonic();
    if (this.#state === "paused" || this.#state === "waiting-for-network") {
      this.#pollReferenceMs = now;
    }
    const jobs = [...this.#active.values()]
      .filter((a) => a.startedMs !== null)
      .map((a) => ({ jobId: a.jobId ?? a.entryId, startedMs: a.startedMs!, limitMs: a.limitMs }));
    return checkWatchdog({
      nowMs: now,
      pollReferenceMs: this.#pollReferenceMs,
      jobs,
      stallLimitMs: this.#o.stallLimitMs ?? DEFAULT_STALL_LIMIT_MS,
      stuckGraceMs: this.#o.stuckGraceMs ?? DEFAULT_STUCK_GRACE_MS,
      lastError: this.#lastError,
    });
  }

  async #heartbeat(): Promise<void> {
    const queue = this.#queue;
    if (!queue) return;
    const clock = this.#o.clock;
    try {
      const fields = heartbeatFields(
        this.#o.node(),
        this.status(),
        this.#o.version,
        clock.now(),
        clock.monotonic() - this.#startedMono,
      );
      await queue.add(HEARTBEAT_STREAM, fields, HEARTBEAT_STREAM_MAX_LEN);
      this.#lastHeartbeatAtMs = clock.now();
      this.#emit({ kind: "heartbeat", ok: true });
    } catch (e) {
      this.#lastError = `heartbeat: ${errorText(e)}`;
      this.#emit({ kind: "heartbeat", ok: false, error: errorText(e) });
    }
  }

  /**
   * Sleeps `ms`, waking early on stop, and on a finished job unless
   * `jobsWake` is false (a backoff after a Redis error: a finished job is no
   * reason to try Redis again sooner).
   */
  async #pause(ms: number, signal: AbortSignal, jobsWake = true): Promise<void> {
    if (signal.aborted) return;
    const wait = new AbortController();
    const onAbort = () => wait.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    if (jobsWake) this.#wake = onAbort;
    try {
      await this.#o.clock.sleep(ms, wait.signal);
    } catch {
      // Woken early.
    } finally {
      if (jobsWake) this.#wake = null;
      signal.removeEventListener("abort", onAbort);
    }
  }

  async #mainLoop(signal: AbortSignal, heartbeat: HeartbeatTimer): Promise<void> {
    const clock = this.#o.clock;
    let wasPaused = false;
    while (!signal.aborted) {
      if (!this.#o.connected()) {
        if (this.#state === "starting") {
          this.#state = "waiting-for-network";
          this.#emit({ kind: "waiting-for-network" });
        } else if (this.#state !== "waiting-for-network" && !wasPaused) {
          wasPaused = true;
          this.#state = "paused";
          this.#emit({ kind: "paused", reason: "the node is not connected to the mesh" });
        }
        this.#pollReferenceMs = clock.monotonic();
        await this.#pause(1_000, signal);
        continue;
      }
      if (wasPaused) {
        wasPaused = false;
        this.#emit({ kind: "resumed" });
      }
      try {
        if (!this.#queue) {
          this.#state = "connecting";
          await this.#connect(heartbeat);
        }
        this.#state = "running";
        await this.#processor.flushRetries();
        if (this.#recoverOwn) await this.#recoverOwnPending(this.#queue!);
        this.#startBacklog();
        if (clock.monotonic() >= this.#nextReclaimMs) {
          await this.#reclaim();
          this.#nextReclaimMs = clock.monotonic() + this.#reclaimIntervalMs;
        }
        const free = this.#concurrency - this.#active.size;
        if (free <= 0) {
          this.#pollReferenceMs = clock.monotonic();
          await this.#pause(Math.min(1_000, this.#reclaimIntervalMs), signal);
          continue;
        }
        const queue = this.#queue!;
        const reads = await queue.readNew(this.#queues, free, this.#o.pollBlockMs ?? 5_000);
        this.#pollReferenceMs = clock.monotonic();
        this.#lastPollAtMs = clock.now();
        for (const read of reads) {
          for (const entry of read.entries) {
            this.#backlog.push({ queue: read.stream, entry, deliveries: 1 });
          }
        }
        this.#startBacklog();
      } catch (e) {
        if (signal.aborted) break;
        await this.#onRedisError(e, signal);
      }
    }
  }

  async #connect(heartbeat: HeartbeatTimer): Promise<void> {
    const queue = await JobQueue.open({
      url: this.#url,
      dial: this.#o.dial,
      clock: this.#o.clock,
      group: this.#group,
      consumer: this.#consumer,
    });
    try {
      for (const q of this.#queues) await queue.ensureGroup(q);
    } catch (e) {
      queue.close();
      throw e;
    }
    this.#queue = queue;
    this.#route = queue.route;
    queue.closed.then(() => {
      if (this.#queue === queue) this.#queue = null;
    });
    this.#backoff.reset();
    this.#emit({
      kind: "redis-connected",
      redis: redactRedisURL(this.#o.redisURL),
      ...(queue.route ? { route: queue.route } : {}),
      queues: [...this.#queues],
      group: this.#group,
      consumer: this.#consumer,
    });
    heartbeat.start();
    this.#recoverOwn = true;
  }

  /**
   * Takes back the entries Redis shows as delivered to this consumer name
   * that this run does not hold: after a restart, those of the previous run;
   * after a reconnect, those whose XREADGROUP reply was lost with the
   * connection (Redis counted them delivered, the loop never saw them), which
   * would otherwise wait for another consumer's claim. Runs after the kept
   * completions are flushed, so that a finished job is acked, not taken back.
   */
  async #recoverOwnPending(queue: JobQueue): Promise<void> {
    const held = (q: string, id: string) =>
      this.#active.has(`${q} ${id}`) ||
      this.#backlog.some((b) => b.queue === q && b.entry.id === id);
    const reads = await queue.takeBackOwnPending(this.#queues, 1000, held);
    this.#recoverOwn = false;
    for (const read of reads) {
      for (const entry of read.entries) {
        if (!held(read.stream, entry.id)) {
          this.#backlog.push({ queue: read.stream, entry, deliveries: null });
        }
      }
    }
  }

  async #onRedisError(e: unknown, signal: AbortSignal): Promise<void> {
    this.#lastError = errorText(e);
    if (e instanceof RedisCommandError && e.code === "NOGROUP") {
      // A queue (or its group) was deleted under us: create it again.
      try {
        for (const q of this.#queues) await this.#queue?.ensureGroup(q);
      } catch {
        // Reported below.
      }
    } else if (!(e instanceof RedisCommandError)) {
      this.#queue?.close("an error on the connection");
      this.#queue = null;
    }
    const delay = this.#backoff.nextDelayMs();
    this.#emit({
      kind: "redis-error",
      error: e instanceof Error ? e : new Error(String(e)),
      retryInMs: delay,
    });
    await this.#pause(delay, signal, false);
  }

  /** Claims idle entries, one page per queue, and renews the ones this worker holds. */
  async #reclaim(): Promise<void> {
    const queue = this.#queue!;
    const held = new Map<string, string[]>();
    for (const a of this.#active.values()) {
      held.set(a.queue, [...(held.get(a.queue) ?? []), a.entryId]);
    }
    for (const b of this.#backlog) held.set(b.queue, [...(held.get(b.queue) ?? []), b.entry.id]);
    for (const [q, ids] of held) await queue.renew(q, ids);
    for (const q of this.#queues) {
      const free = this.#concurrency - this.#active.size - this.#backlog.length;
      if (free <= 0) return;
      const cursor = this.#cursors.get(q) ?? "0-0";
      const claimed = await queue.autoClaim(q, this.#claimMinIdleMs, cursor, free);
      this.#cursors.set(q, claimed.cursor);
      for (const entry of claimed.entries) {
        if (this.#active.has(`${q} ${entry.id}`)) continue;
        this.#backlog.push({ queue: q, entry, deliveries: null });
      }
    }
  }

  #startBacklog(): void {
    while (this.#backlog.length > 0 && this.#active.size < this.#concurrency) {
      const { queue, entry, deliveries } = this.#backlog.shift()!;
      const key = `${queue} ${entry.id}`;
      if (this.#active.has(key)) continue;
      const active: ActiveEntry & { done?: Promise<void> } = {
        key,
        queue,
        entryId: entry.id,
        jobId: null,
        startedMs: null,
        limitMs: 0,
        abort: new AbortController(),
      };
      this.#active.set(key, active);
      active.done = this.#processor.process(entry, active, deliveries).finally(() => {
        this.#active.delete(key);
        this.#wake?.();
      });
    }
  }

  async #drain(): Promise<JobLoopResult> {
    const clock = this.#o.clock;
    this.#state = "stopping";
    this.#queue?.interruptRead();
    // Entries read but not started stay pending; they are delivered again later.
    this.#backlog.length = 0;
    this.#emit({ kind: "draining", running: this.#active.size });
    const all = () =>
      Promise.all([...this.#active.values()].map((a) => a.done ?? Promise.resolve()));
    const timedOut = (ms: number) =>
      new Promise<"timeout">((resolve) => {
        const t = clock.setTimeout(() => resolve("timeout"), ms);
        all().then(() => clock.clearTimeout(t));
      });
    const abandoned: string[] = [];
    if ((await Promise.race([all(), timedOut(this.#o.drainTimeoutMs ?? 8_000)])) === "timeout") {
      for (const a of this.#active.values()) {
        abandoned.push(a.jobId ?? a.entryId);
        a.abort.abort();
      }
      this.#emit({ kind: "drain-timeout", abandoned });
      await Promise.race([all(), timedOut(2_000)]);
    }
    try {
      await this.#processor.flushRetries();
    } catch (e) {
      this.#lastError = `final writes: ${errorText(e)}`;
    }
    this.#queue?.close("stopped");
    this.#queue = null;
    this.#state = "stopped";
    this.#emit({ kind: "stopped" });
    return { abandoned };
  }
}
