/**
 * The errors of the DERP client. Every one is a {@link DerpError}, so a
 * caller that reconnects can catch the family; the subclasses say what went
 * wrong. Messages name servers by URL and keys by short form only.
 *
 * @module
 */

/** Base class of every DERP error. */
export class DerpError extends Error {
  /** Makes the error; `options.cause` keeps the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DerpError";
  }
}

/** A frame that breaks the format or a size limit (data-plane reference §3.3, §3.4, §3.6). */
export class DerpFrameError extends DerpError {
  /** Makes the error with what was wrong. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DerpFrameError";
  }
}

/** The handshake failed: bad greeting, a box that does not open, bad JSON (§3.2, §3.5). */
export class DerpHandshakeError extends DerpError {
  /** Makes the error with what was wrong. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DerpHandshakeError";
  }
}

/**
 * The server closed the connection after our ClientInfo instead of
 * answering with ServerInfo. That is what a DERP server does when it does
 * not admit the node key (`--verify-clients`, `--verify-client-url`,
 * Headscale's `verify_clients`, §3.7); the server gives no reason on the wire.
 */
export class DerpRefusedError extends DerpHandshakeError {
  /** Makes the error naming the server and the refused key (short form). */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DerpRefusedError";
  }
}

/** Dialing, TLS or the HTTP upgrade failed (§3.1). */
export class DerpConnectError extends DerpError {
  /** HTTP status when the server answered the upgrade with something other than 101. */
  readonly status: number | undefined;
  /** Makes the error; `status` is the HTTP status if there was one. */
  constructor(message: string, options: ErrorOptions & { status?: number } = {}) {
    super(message, options);
    this.name = "DerpConnectError";
    this.status = options.status;
  }
}

/**
 * TLS with the DERP server failed: its certificate is not signed by a
 * trusted CA (system roots plus the extra CA certificates), does not name
 * the server, or has expired. Never retried silently as plain HTTP.
 */
export class DerpTLSError extends DerpConnectError {
  /** Makes the error; `cause` keeps the underlying TLS error. */
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = "DerpTLSError";
  }
}

/** The connection is closed: by us, by the server, or after an earlier error. */
export class DerpClosedError extends DerpError {
  /** Makes the error; `options.cause` is what ended the connection, if known. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DerpClosedError";
  }
}

/** Nothing arrived within the read timeout, or a connect or ping took too long (§3.6). */
export class DerpTimeoutError extends DerpError {
  /** Makes the error naming what timed out. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DerpTimeoutError";
  }
}

/**
 * A control frame (Ping, NotePreferred, a mesh frame) could not be queued:
 * the server has stopped reading and the write queue's bound is reached.
 * The connection itself stays up.
 */
export class DerpQueueFullError extends DerpError {
  /** Makes the error naming the server. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DerpQueueFullError";
  }
}
