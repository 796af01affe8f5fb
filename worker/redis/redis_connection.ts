/**
 * One connection to a Redis server over an injected byte stream: AUTH and
 * SELECT from the URL, commands pipelined (each is written at once and the
 * replies are matched in order), and a timeout per command.
 *
 * Decisions:
 * - A command that gets no reply in time closes the connection: replies carry
 *   no ids, so once one is missing the later ones cannot be matched. Callers
 *   open a new connection (the job loop does, with backoff).
 * - A blocking command (`XREADGROUP … BLOCK`) holds every command queued
 *   behind it, as on any Redis connection; the job loop gives blocking reads
 *   their own connection and passes a timeout longer than the block.
 * - An error reply rejects only its own command ({@link RedisCommandError});
 *   a protocol error or a closed stream closes the connection and rejects
 *   everything pending.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../../network/mod.ts";
import type { RedisDial, RedisDuplex } from "./dial.ts";
import {
  RedisAuthError,
  RedisCommandError,
  RedisConnectError,
  RedisConnectionClosedError,
  RedisTimeoutError,
} from "./redis_errors.ts";
import type { RedisURL } from "./redis_url.ts";
import {
  encodeCommand,
  type RespArgument,
  RespErrorReply,
  type RespLimits,
  RespParser,
  type RespValue,
} from "./resp.ts";

/** Options of {@link RedisConnection.open}. */
export interface RedisConnectionOptions {
  /** Where to connect and with which credentials. */
  url: RedisURL;
  /** Opens the byte stream. */
  dial: RedisDial;
  /** Time for timeouts. */
  clock: Clock;
  /** Longest wait for the stream and for AUTH/SELECT (default 10 s). */
  connectTimeoutMs?: number;
  /** Default longest wait for one reply (default 10 s). */
  commandTimeoutMs?: number;
  /** Parser limits (defaults: `DEFAULT_RESP_LIMITS`). */
  limits?: Partial<RespLimits>;
  /** Sent as `CLIENT SETNAME` when given (visible in `CLIENT LIST`). */
  clientName?: string;
}

/** Options of one command. */
export interface CommandOptions {
  /** Longest wait for the reply, replacing the connection's default. */
  timeoutMs?: number;
}

interface Pending {
  command: string;
  resolve: (value: RespValue) => void;
  reject: (error: Error) => void;
  timer: TimerHandle | null;
}

/** The command's name for messages: its first argument, never its other arguments. */
function commandName(args: readonly RespArgument[]): string {
  const first = args[0];
  return typeof first === "string" ? first.toUpperCase() : "command";
}

/** An open connection; see the module documentation. */
export class RedisConnection {
  readonly #duplex: RedisDuplex;
  readonly #clock: Clock;
  readonly #commandTimeoutMs: number;
  readonly #parser: RespParser;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #pending: Pending[] = [];
  #pendingHead = 0;
  #closeReason: Error | null = null;
  #resolveClosed!: (reason: Error) => void;

  /** Resolves (never rejects) with the reason once the connection is closed. */
  readonly closed: Promise<Error>;

  /** How the connection goes (the dial's `route`), or null when the dial did not say. */
  readonly route: string | null;

  private constructor(duplex: RedisDuplex, options: RedisConnectionOptions) {
    this.#duplex = duplex;
    this.route = duplex.route ?? null;
    this.#clock = options.clock;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 10_000;
    this.#parser = new RespParser(options.limits);
    this.#writer = duplex.writable.getWriter();
    this.#reader = duplex.readable.getReader();
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#readLoop();
  }

  /**
   * Connects, authenticates and selects the database. Throws
   * {@link RedisConnectError} or {@link RedisAuthError}.
   */
  static async open(options: RedisConnectionOptions): Promise<RedisConnection> {
    const { url, clock } = options;
    const where = `${url.host.includes(":") ? `[${url.host}]` : url.host}:${url.port}`;
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    const abort = new AbortController();
    const timer = clock.setTimeout(() => abort.abort(), timeoutMs);
    let duplex: RedisDuplex;
    try {
      duplex = await Promise.race([
        options.dial(url.host, url.port, abort.signal),
        new Promise<never>((_, reject) =>
          abort.signal.addEventListener(
            "abort",
            () => reject(new RedisConnectError(where, `no connection within ${timeoutMs} ms`)),
            { once: true },
          )
        ),
      ]);
    } catch (e) {
      if (e instanceof RedisConnectError) throw e;
      throw new RedisConnectError(where, e instanceof Error ? e.message : String(e), { cause: e });
    } finally {
      clock.clearTimeout(timer);
    }
    const connection = new RedisConnection(duplex, options);
    try {
      const handshake: RespArgument[][] = [];
      if (url.password !== null) {
        handshake.push(
          url.username !== null ? ["AUTH", url.username, url.password] : ["AUTH", url.password],
        );
      }
      if (url.db !== 0) handshake.push(["SELECT", url.db]);
      if (options.clientName) handshake.push(["CLIENT", "SETNAME", options.clientName]);
      handshake.push(["PING"]);
      const replies = await connection.pipeline(handshake, { timeoutMs });
      for (const reply of replies) {
        if (reply instanceof RedisCommandError) {
          if (/^(WRONGPASS|NOAUTH|NOPERM)\b/.test(reply.code) || reply.message.includes("AUTH")) {
            throw new RedisAuthError(reply.message.replace(/^Redis \S+: /, ""));
          }
          throw reply;
        }
      }
    } catch (e) {
      connection.close("the handshake failed");
      if (e instanceof RedisAuthError || e instanceof RedisCommandError) throw e;
      throw new RedisConnectError(where, e instanceof Error ? e.message : String(e), { cause: e });
    }
    return connection;
  }

  /** Whether the connection is closed. */
  get isClosed(): boolean {
    return this.#closeReason !== null;
  }

  /** Commands sent and not yet answered. */
  get pendingCount(): number {
    return this.#pending.length - this.#pendingHead;
  }

  /**
   * Sends one command and resolves with its reply. Rejects with
   * {@link RedisCommandError} (error reply), {@link RedisTimeoutError} or
   * {@link RedisConnectionClosedError}.
   */
  command(args: readonly RespArgument[], options: CommandOptions = {}): Promise<RespValue> {
    const promise = this.#enqueue(args, options);
    this.#write(encodeCommand(args));
    return promise;
  }

  /**
   * Sends several commands in one write and resolves with each reply, or the
   * {@link RedisCommandError} of each command that got an error reply. Rejects
   * only when the connection fails.
   */
  async pipeline(
    commands: readonly (readonly RespArgument[])[],
    options: CommandOptions = {},
  ): Promise<(RespValue | RedisCommandError)[]> {
    const promises = commands.map((args) => this.#enqueue(args, options));
    const encoded = commands.map(encodeCommand);
    let total = 0;
    for (const e of encoded) total += e.length;
    const batch = new Uint8Array(total);
    let offset = 0;
    for (const e of encoded) {
      batch.set(e, offset);
      offset += e.length;
    }
    this.#write(batch);
    const settled = await Promise.allSettled(promises);
    return settled.map((s) => {
      if (s.status === "fulfilled") return s.value;
      if (s.reason instanceof RedisCommandError) return s.reason;
      throw s.reason;
    });
  }

  /** Closes the connection; pending commands reject with {@link RedisConnectionClosedError}. */
  close(reason = "closed by the client"): void {
    this.#fail(new RedisConnectionClosedError(reason));
  }

  #enqueue(args: readonly RespArgument[], options: CommandOptions): Promise<RespValue> {
    if (this.#closeReason) {
      const reason = this.#closeReason;
      return Promise.reject(
        reason instanceof RedisConnectionClosedError
          ? reason
          : new RedisConnectionClosedError(reason.message, { cause: reason }),
      );
    }
    const command = commandName(args);
    return new Promise<RespValue>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.#commandTimeoutMs;
      const entry: Pending = { command, resolve, reject, timer: null };
      if (timeoutMs > 0) {
        entry.timer = this.#clock.setTimeout(
          () => this.#fail(new RedisTimeoutError(command, timeoutMs), entry),
          timeoutMs,
        );
      }
      this.#pending.push(entry);
    });
  }

  #write(bytes: Uint8Array): void {
    if (this.#closeReason) return;
    this.#writer.write(bytes).catch((e) => {
      this.#fail(new RedisConnectionClosedError("write failed", { cause: e }));
    });
  }

  async #readLoop(): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        if (this.#closeReason) return;
        for (const reply of this.#parser.feed(value)) this.#deliver(reply);
      }
      this.#fail(new RedisConnectionClosedError("the server closed the connection"));
    } catch (e) {
      if (this.#closeReason) return;
      this.#fail(
        e instanceof Error && e.name === "RespProtocolError"
          ? new RedisConnectionClosedError(e.message, { cause: e })
          : new RedisConnectionClosedError("read failed", { cause: e }),
      );
    }
  }

  #deliver(reply: RespValue): void {
    if (this.#pendingHead >= this.#pending.length) {
      this.#fail(new RedisConnectionClosedError("a reply arrived that no command asked for"));
      return;
    }
    const entry = this.#pending[this.#pendingHead];
    this.#pending[this.#pendingHead] = undefined as unknown as Pending;
    this.#pendingHead++;
    if (this.#pendingHead > 1024 && this.#pendingHead * 2 > this.#pending.length) {
      this.#pending.splice(0, this.#pendingHead);
      this.#pendingHead = 0;
    }
    if (entry.timer !== null) this.#clock.clearTimeout(entry.timer);
    if (reply instanceof RespErrorReply) {
      entry.reject(new RedisCommandError(entry.command, reply.message, reply.code));
    } else {
      entry.resolve(reply);
    }
  }

  /** Closes with `reason`; `culprit` (the command that timed out) gets `reason` itself. */
  #fail(reason: Error, culprit?: Pending): void {
    if (this.#closeReason) return;
    this.#closeReason = reason;
    const waiting = this.#pending.slice(this.#pendingHead);
    this.#pending.length = 0;
    this.#pendingHead = 0;
    for (const entry of waiting) {
      if (entry.timer !== null) this.#clock.clearTimeout(entry.timer);
      entry.reject(
        entry === culprit || reason instanceof RedisConnectionClosedError
          ? reason
          : new RedisConnectionClosedError(reason.message, { cause: reason }),
      );
    }
    this.#reader.cancel().catch(() => {});
    this.#writer.abort().catch(() => {});
    Promise.resolve().then(() => this.#duplex.close()).catch(() => {});
    this.#resolveClosed(reason);
  }
}
