/**
 * Errors of the node facade (the control client's and the control
 * session's own are in control/control_errors.ts; the two login errors are
 * re-exported here, where callers of the facade look for them).
 *
 * @module
 */
export { NexusMismatchError, NotLoggedInError } from "./control/control_errors.ts";

/** Thrown by functions whose network part does not exist yet. */
export class NotImplementedError extends Error {
  /** Names what is not implemented. */
  constructor(what: string) {
    super(`${what} is not implemented yet`);
    this.name = "NotImplementedError";
  }
}

/** Which part of the rule (network/nexus_url.ts) a Nexus URL breaks. */
export type NexusURLProblem = "not-a-url" | "scheme" | "credentials" | "query";

/** The Nexus URL cannot be used (see network/nexus_url.ts for the rule). */
export class InvalidNexusURLError extends Error {
  /**
   * Names the URL and why it cannot be used.
   *
   * @param url the URL as given, with any user name and password already removed.
   * @param reason the rule it breaks, to follow the URL's name ("must not …").
   * @param problem the same, as a code for callers that explain it further.
   */
  constructor(
    readonly url: string,
    readonly reason: string,
    readonly problem: NexusURLProblem,
  ) {
    super(`the Nexus URL "${url}" ${reason}`);
    this.name = "InvalidNexusURLError";
  }
}

/** {@link CitadelNode.ping} was given a target that is neither a peer's address nor its name. */
export class PeerNotFoundError extends Error {
  /** Names the target. */
  constructor(readonly target: string) {
    super(`no peer named or addressed "${target}" in the netmap`);
    this.name = "PeerNotFoundError";
  }
}

/** No echo reply arrived within the ping's timeout. */
export class PingTimeoutError extends Error {
  /** Names the peer and the wait. */
  constructor(readonly target: string, readonly ip: string, readonly timeoutMs: number) {
    super(`no reply from ${target} (${ip}) within ${timeoutMs} ms`);
    this.name = "PingTimeoutError";
  }
}

/** The call needs the data plane, and the node was started without one (or it is not up yet). */
export class DataPlaneNotStartedError extends Error {
  /** Names what needed it. */
  constructor(what: string) {
    super(`${what} needs the data plane, which this node has not started`);
    this.name = "DataPlaneNotStartedError";
  }
}

/** The direct-path socket address (`udpBind`, `--udp-bind`) is not `ADDR[:PORT]`. */
export class InvalidUDPBindError extends Error {
  /** Names the text. */
  constructor(readonly text: string) {
    super(`not an address to bind UDP to: "${text}" (expected ADDR[:PORT], e.g. 0.0.0.0:41641)`);
    this.name = "InvalidUDPBindError";
  }
}
