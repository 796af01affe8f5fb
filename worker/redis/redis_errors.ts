/**
 * Typed errors of the Redis client. None of them carries a password: URLs in
 * messages are redacted ({@link redactRedisURL} in `redis_url.ts`).
 *
 * @module
 */

/** The Redis URL cannot be used. */
export class RedisURLError extends Error {
  /** Builds the error; `shown` is the URL with any password replaced. */
  constructor(shown: string, reason: string) {
    super(`invalid Redis URL ${shown}: ${reason}`);
    this.name = "RedisURLError";
  }
}

/** The TCP (or mesh) connection to Redis could not be opened in time. */
export class RedisConnectError extends Error {
  /** Builds the error for `host:port`. */
  constructor(where: string, reason: string, options?: ErrorOptions) {
    super(`cannot connect to Redis at ${where}: ${reason}`, options);
    this.name = "RedisConnectError";
  }
}

/** Redis refused the credentials (AUTH failed) or requires some. */
export class RedisAuthError extends Error {
  /** Builds the error from the server's reply (which never echoes the password). */
  constructor(reply: string) {
    super(`Redis refused the credentials: ${reply}`);
    this.name = "RedisAuthError";
  }
}

/** A command got an error reply (`-ERR …`); the connection is still usable. */
export class RedisCommandError extends Error {
  /** The reply's first word, e.g. `BUSYGROUP`, `NOGROUP`, `ERR`. */
  readonly code: string;
  /** Builds the error from the command name and the reply text. */
  constructor(command: string, reply: string, code: string) {
    super(`Redis ${command}: ${reply}`);
    this.name = "RedisCommandError";
    this.code = code;
  }
}

/**
 * Error codes that say "not now" rather than "never": Redis still loading its
 * data after a restart, a script running too long, a replica or cluster in
 * the middle of a failover. A write refused with one of these is tried again
 * later; any other error reply is final for that command.
 */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  "LOADING",
  "BUSY",
  "TRYAGAIN",
  "MASTERDOWN",
  "CLUSTERDOWN",
  "READONLY",
]);

/** Whether an error reply is one to try again later (see {@link TRANSIENT_CODES}). */
export function isTransientRedisError(e: unknown): boolean {
  return e instanceof RedisCommandError && TRANSIENT_CODES.has(e.code);
}

/** No reply in time; the connection was closed, since later replies can no longer be matched. */
export class RedisTimeoutError extends Error {
  /** Builds the error. */
  constructor(command: string, ms: number) {
    super(`Redis ${command}: no reply within ${ms} ms`);
    this.name = "RedisTimeoutError";
  }
}

/** The connection is closed (by us, by the server, or after a protocol error). */
export class RedisConnectionClosedError extends Error {
  /** Builds the error. */
  constructor(reason: string, options?: ErrorOptions) {
    super(`Redis connection closed: ${reason}`, options);
    this.name = "RedisConnectionClosedError";
  }
}
