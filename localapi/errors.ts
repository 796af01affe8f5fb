/**
 * The local API's own error, thrown by both ends (localapi/server.ts,
 * localapi/client.ts); the CLI reports it by name (cli/errors.ts).
 *
 * @module
 */

/** The local API cannot be served or reached safely, or its answer is unusable. */
export class LocalApiError extends Error {
  /** An error with `message`. */
  constructor(message: string) {
    super(message);
    this.name = "LocalApiError";
  }
}

/**
 * The directory the socket would live in is open to other users (owned by
 * someone else, or group/other may read, write or enter it), so the local
 * API refuses to serve from it.
 */
export class UnsafeDirectoryError extends Error {
  /** The directory. */
  readonly path: string;
  /** What to do about it, one line. */
  readonly hint: string;
  /** A refusal for `path`, saying why and how to fix it. */
  constructor(path: string, why: string, hint: string) {
    super(`refusing to serve the local API from ${path}: ${why}`);
    this.name = "UnsafeDirectoryError";
    this.path = path;
    this.hint = hint;
  }
}
