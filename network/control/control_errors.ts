/**
 * Typed errors of the control client, for the CLI to turn into messages and
 * exit codes. None of them ever holds an auth key or a private key.
 */

/** Base class of every error the control client throws on purpose. */
export class ControlError extends Error {
  /** The control server URL the operation was talking to, if known. */
  readonly serverURL: string | undefined;
  /** Makes the error; `serverURL` names the server, `cause` keeps the underlying error. */
  constructor(message: string, options: { serverURL?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ControlError";
    this.serverURL = options.serverURL;
  }
}

/** The server could not be reached: connection refused, DNS failure, timeout, reset. */
export class ControlUnreachableError extends ControlError {
  /** Makes the error; `cause` keeps the underlying network error. */
  constructor(message: string, options: { serverURL?: string; cause?: unknown } = {}) {
    super(message, options);
    this.name = "ControlUnreachableError";
  }
}

/** TLS failed: untrusted or expired certificate, wrong host name, handshake failure. */
export class ControlTLSError extends ControlError {
  /** Makes the error; `cause` keeps the underlying TLS error. */
  constructor(message: string, options: { serverURL?: string; cause?: unknown } = {}) {
    super(message, options);
    this.name = "ControlTLSError";
  }
}

/**
 * The server does not speak the control protocol as expected: `/key` not
 * JSON, 404 on `/ts2021`, a broken Noise handshake, an unexpected HTTP
 * status. Usually the URL does not point at a Headscale/Nexus server.
 */
export class ControlProtocolError extends ControlError {
  /** HTTP status that caused it, when there was one. */
  readonly status: number | undefined;
  /** Makes the error; `status` is the HTTP status when one caused it. */
  constructor(
    message: string,
    options: { serverURL?: string; cause?: unknown; status?: number } = {},
  ) {
    super(message, options);
    this.name = "ControlProtocolError";
    this.status = options.status;
  }
}

/** Why a pre-auth key was refused. */
export type AuthKeyRejection = "expired" | "already-used" | "invalid";

/** The server refused the pre-auth key (RegisterResponse.Error). */
export class AuthKeyRejectedError extends ControlError {
  /** Which refusal it was. */
  readonly reason: AuthKeyRejection;
  /** The server's own text, with any copy of the key removed. */
  readonly serverMessage: string;
  /** Makes the error from the refusal kind and the server's (already redacted) text. */
  constructor(
    reason: AuthKeyRejection,
    serverMessage: string,
    options: { serverURL?: string } = {},
  ) {
    const what = reason === "expired"
      ? "the auth key has expired"
      : reason === "already-used"
      ? "the auth key has already been used"
      : "the auth key is not valid";
    super(`registration refused: ${what} (server said: ${serverMessage})`, options);
    this.name = "AuthKeyRejectedError";
    this.reason = reason;
    this.serverMessage = serverMessage;
  }
}

/** The node key is not (or no longer) known to the server: node deleted, never registered. */
export class NodeNotFoundError extends ControlError {
  /** Makes the error; the message names the node key in short form only. */
  constructor(message: string, options: { serverURL?: string } = {}) {
    super(message, options);
    this.name = "NodeNotFoundError";
  }
}

/** The node key has expired (or was logged out); a new login is needed. */
export class NodeExpiredError extends ControlError {
  /** Makes the error; the message names the node key in short form only. */
  constructor(message: string, options: { serverURL?: string } = {}) {
    super(message, options);
    this.name = "NodeExpiredError";
  }
}

/** The server does not accept the capability version this client claims. */
export class UnsupportedVersionError extends ControlError {
  /** The capability version we sent. */
  readonly capabilityVersion: number;
  /** Makes the error from the version we claimed and the server's text. */
  constructor(
    capabilityVersion: number,
    serverMessage: string,
    options: { serverURL?: string } = {},
  ) {
    super(
      `the control server does not support this client (capability version ${capabilityVersion}): ${serverMessage}`,
      options,
    );
    this.name = "UnsupportedVersionError";
    this.capabilityVersion = capabilityVersion;
  }
}

/** Registration failed for a reason other than the auth key (RegisterResponse.Error). */
export class RegistrationError extends ControlError {
  /** The server's own text, with any copy of the key removed. */
  readonly serverMessage: string;
  /** Makes the error from the server's (already redacted) text. */
  constructor(serverMessage: string, options: { serverURL?: string } = {}) {
    super(`registration failed: ${serverMessage}`, options);
    this.name = "RegistrationError";
    this.serverMessage = serverMessage;
  }
}

/** Replaces every occurrence of `secret` (and its last dash-separated part) in `text`. */
export function redactSecret(text: string, secret: string | undefined): string {
  if (!secret) return text;
  let out = text.split(secret).join("[redacted]");
  const tail = secret.slice(secret.lastIndexOf("-") + 1);
  if (tail.length >= 16) out = out.split(tail).join("[redacted]");
  return out;
}

/** Thrown by calls that need state when there is none ("not logged in"). */
export class NotLoggedInError extends Error {
  /** Names the state directory that holds no state. */
  constructor(readonly stateDir: string) {
    super(`not logged in (no state in ${stateDir})`);
    this.name = "NotLoggedInError";
  }
}

/** The state directory belongs to a different Nexus than the one asked for. */
export class NexusMismatchError extends Error {
  /** The three locations, for the message and for callers' hints. */
  constructor(
    readonly stateLocation: string,
    readonly savedNexus: string,
    readonly requestedNexus: string,
  ) {
    super(
      `the state in ${stateLocation} belongs to ${savedNexus}, not ${requestedNexus}`,
    );
    this.name = "NexusMismatchError";
  }
}

/** Why the netmap refused input. */
export type NetmapErrorCode = "initial-map-lacks-node" | "bad-snapshot";

/** A message or snapshot the netmap cannot take. */
export class NetmapError extends Error {
  /** Machine-readable reason. */
  readonly code: NetmapErrorCode;
  /** Creates the error with its reason code. */
  constructor(code: NetmapErrorCode, message: string) {
    super(message);
    this.name = "NetmapError";
    this.code = code;
  }
}
