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
