/**
 * The Redis side of the job queues: consumer groups on Redis Streams, over
 * two connections: one that blocks in `XREADGROUP … BLOCK`, one for everything
 * else (acks, claims, events), so that an ack never waits behind a block.
 *
 * Names (the Go original's): a group is created at id `0` with `MKSTREAM`, so
 * a queue that does not exist yet is created and entries added before the
 * group existed are still delivered. Dead letters go to
 * {@link deadLetterStreamOf}.
 *
 * @module
 */
import type { Clock } from "../network/mod.ts";
import { completionCommand, type EntryCompletion } from "./entry_completion.ts";
import type { RedisDial } from "./redis/dial.ts";
import { RedisConnection } from "./redis/redis_connection.ts";
import { RedisCommandError } from "./redis/redis_errors.ts";
import type { RedisURL } from "./redis/redis_url.ts";
import type { RespArgument, RespLimits } from "./redis/resp.ts";
import {
  type AutoClaimResult,
  decodeXAutoClaim,
  decodeXClaim,
  decodeXPendingRange,
  decodeXReadGroup,
  type StreamRead,
} from "./redis/stream_replies.ts";

/** Options of {@link JobQueue.open}. */
export interface JobQueueOptions {
  /** The Redis server. */
  url: RedisURL;
  /** Opens byte streams to it. */
  dial: RedisDial;
  /** Time for timeouts. */
  clock: Clock;
  /** Consumer group. */
  group: string;
  /** This worker's consumer name in the group. */
  consumer: string;
  /** Longest wait for a reply (default 10 s). */
  commandTimeoutMs?: number;
  /** Parser limits (job payloads over `maxBulkBytes` arrive as oversized markers). */
  limits?: Partial<RespLimits>;
}

/**
 * The dead-letter stream of a queue: `dlq:v1:` and the queue name without its
 * `jobs:v1:` prefix. (The Go original kept only the last `:`-separated part,
 * so `…:org_a:node:5` and `…:org_b:node:5` shared one dead-letter stream.)
 */
export function deadLetterStreamOf(queue: string): string {
  return `dlq:v1:${queue.startsWith("jobs:v1:") ? queue.slice("jobs:v1:".length) : queue}`;
}

/** Two connections to one Redis, and the stream commands the loop uses. */
export class JobQueue {
  readonly #reader: RedisConnection;
  readonly #commands: RedisConnection;
  readonly #group: string;
  readonly #consumer: string;
  readonly #commandTimeoutMs: number;

  /**
   * Resolves with the reason once the commands connection closed (the reader
   * failing shows as a failed read; {@link interruptRead} closes only it).
   */
  readonly closed: Promise<Error>;

  private constructor(
    reader: RedisConnection,
    commands: RedisConnection,
    options: JobQueueOptions,
  ) {
    this.#reader = reader;
    this.#commands = commands;
    this.#group = options.group;
    this.#consumer = options.consumer;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 10_000;
    this.closed = commands.closed;
  }

  /** Opens both connections. */
  static async open(options: JobQueueOptions): Promise<JobQueue> {
    const connect = (role: string) =>
      RedisConnection.open({
        url: options.url,
        dial: options.dial,
        clock: options.clock,
        commandTimeoutMs: options.commandTimeoutMs,
        limits: options.limits,
        clientName: `${options.consumer}-${role}`.replace(/[^\x21-\x7e]/g, "_"),
      });
    const commands = await connect("commands");
    let reader: RedisConnection;
    try {
      reader = await connect("reader");
    } catch (e) {
      commands.close();
      throw e;
    }
    return new JobQueue(reader, commands, options);
  }

  /** How the connections go (`mesh …`, `direct …`), or null when the dial did not say. */
  get route(): string | null {
    return this.#commands.route;
  }

  /** The connection for non-blocking commands (events, status, heartbeats). */
  get commands(): RedisConnection {
    return this.#commands;
  }

  /** Closes both connections. */
  close(reason?: string): void {
    this.#reader.close(reason);
    this.#commands.close(reason);
  }

  /** Ends a blocking read at once (closes the reader connection). */
  interruptRead(): void {
    this.#reader.close("read interrupted");
  }

  /** Creates the group on a queue (and the queue) unless it exists. */
  async ensureGroup(queue: string): Promise<void> {
    try {
      await this.#commands.command(["XGROUP", "CREATE", queue, this.#group, "0", "MKSTREAM"]);
    } catch (e) {
      if (!(e instanceof RedisCommandError && e.code === "BUSYGROUP")) throw e;
    }
  }

  /** New entries (`>`), waiting up to `blockMs`; at most `count` per queue. */
  async readNew(queues: readonly string[], count: number, blockMs: number): Promise<StreamRead[]> {
    const args: RespArgument[] = [
      "XREADGROUP",
      "GROUP",
      this.#group,
      this.#consumer,
      "COUNT",
      count,
      "BLOCK",
      blockMs,
      "STREAMS",
      ...queues,
      ...queues.map(() => ">"),
    ];
    const reply = await this.#reader.command(args, {
      timeoutMs: blockMs + this.#commandTimeoutMs,
    });
    return decodeXReadGroup(reply);
  }

  /**
   * Entries delivered to this consumer earlier and never acked (a previous run
   * of this worker under the same consumer name, or a read whose reply was
   * lost), except those `held` says this run still has: each is taken back
   * with `XCLAIM`, which Redis counts as another delivery. (`XREADGROUP … 0`
   * would count one for the held entries too.) At most `count` per queue.
   */
  async takeBackOwnPending(
    queues: readonly string[],
    count: number,
    held: (queue: string, entryId: string) => boolean,
  ): Promise<StreamRead[]> {
    const reads: StreamRead[] = [];
    for (const queue of queues) {
      const rows = decodeXPendingRange(
        await this.#commands.command([
          "XPENDING",
          queue,
          this.#group,
          "-",
          "+",
          count,
          this.#consumer,
        ]),
      );
      const ids = rows.filter((row) => !held(queue, row.id)).map((row) => row.id);
      if (ids.length === 0) continue;
      const reply = await this.#commands.command([
        "XCLAIM",
        queue,
        this.#group,
        this.#consumer,
        0,
        ...ids,
      ]);
      reads.push({ stream: queue, entries: decodeXClaim(reply) });
    }
    return reads;
  }

  /** Takes over entries idle for at least `minIdleMs` from any consumer of the group. */
  async autoClaim(
    queue: string,
    minIdleMs: number,
    cursor: string,
    count: number,
  ): Promise<AutoClaimResult> {
    const reply = await this.#commands.command([
      "XAUTOCLAIM",
      queue,
      this.#group,
      this.#consumer,
      minIdleMs,
      cursor,
      "COUNT",
      count,
    ]);
    return decodeXAutoClaim(reply);
  }

  /** How often an entry was delivered, or null when it is no longer pending. */
  async deliveries(queue: string, entryId: string): Promise<number | null> {
    const reply = await this.#commands.command([
      "XPENDING",
      queue,
      this.#group,
      entryId,
      entryId,
      1,
    ]);
    const rows = decodeXPendingRange(reply);
    return rows.length > 0 && rows[0].id === entryId ? rows[0].deliveries : null;
  }

  /**
   * Resets the idle time of entries this worker still runs, so another
   * consumer's XAUTOCLAIM does not take them (`XCLAIM … JUSTID` does not
   * count as a delivery).
   */
  async renew(queue: string, entryIds: readonly string[]): Promise<void> {
    if (entryIds.length === 0) return;
    await this.#commands.command([
      "XCLAIM",
      queue,
      this.#group,
      this.#consumer,
      0,
      ...entryIds,
      "JUSTID",
    ]);
  }

  /** Acknowledges an entry: it leaves the group's pending list for good. */
  async ack(queue: string, entryId: string): Promise<void> {
    await this.#commands.command(["XACK", queue, this.#group, entryId]);
  }

  /**
   * Writes an entry's final record and acks it, in one script, at most once
   * per entry (`entry_completion.ts`); resolves with whether it wrote (false:
   * an earlier try had, it only acked).
   */
  async complete(completion: Omit<EntryCompletion, "group">): Promise<boolean> {
    const reply = await this.#commands.command(
      completionCommand({ ...completion, group: this.#group }),
    );
    return reply === 1;
  }

  /** Appends an entry (trimmed to about `maxLen` entries when given); resolves with its id. */
  async add(
    stream: string,
    fields: readonly (readonly [string, string])[],
    maxLen?: number,
  ): Promise<string> {
    const args: RespArgument[] = ["XADD", stream];
    if (maxLen !== undefined) args.push("MAXLEN", "~", maxLen);
    args.push("*");
    for (const [k, v] of fields) args.push(k, v);
    const reply = await this.#commands.command(args);
    return reply instanceof Uint8Array ? new TextDecoder().decode(reply) : String(reply);
  }
}
