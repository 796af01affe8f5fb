/**
 * Process exit codes of the `citadel` command. Scripts and service managers
 * branch on these, so a value never changes meaning once released; new
 * conditions get new numbers. docs/cli.md lists them for users.
 *
 * @module
 */

/** Exit codes, by name. */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** A failure with no more specific code (including unexpected errors). */
  FAILURE: 1,
  /** Bad command line: unknown command or option, missing or invalid value. */
  USAGE: 2,
  /** No saved node state: the node has not joined (run `citadel init`). */
  NOT_LOGGED_IN: 3,
  /** Nexus could not be reached (DNS, refused, timeout). */
  NEXUS_UNREACHABLE: 4,
  /** The TLS connection to Nexus failed (certificate not trusted, wrong host). */
  TLS: 5,
  /** Nexus rejected the auth key (wrong, expired or used up) or the login was denied. */
  AUTH_REJECTED: 6,
  /** The node was deleted at Nexus, or its key expired there. */
  NODE_REMOVED: 7,
  /** The server does not speak the Nexus protocol (wrong URL) or an unsupported version of it. */
  NEXUS_PROTOCOL: 8,
  /** The saved state is corrupt or written by a newer Citadel. */
  STATE_CORRUPT: 9,
  /** Another `citadel work` already runs on the same state directory. */
  ALREADY_RUNNING: 10,
  /** The operation is not implemented in this build yet. */
  NOT_IMPLEMENTED: 11,
  /** The command needs a running `citadel work` on the same state directory, and none runs. */
  WORK_NOT_RUNNING: 12,
  /** The named peer (host name or mesh IP) is not in the node's netmap. */
  PEER_NOT_FOUND: 13,
  /**
   * `work`'s job loop watchdog fired: no poll of the queues for 10 minutes, or
   * a job ran past its limit and would not stop. A supervisor should restart it.
   */
  WORKER_WATCHDOG: 14,
  /** The HTTP proxy (HTTPS_PROXY/HTTP_PROXY) wants credentials, or refused the ones given (407). */
  PROXY_AUTH: 15,
  /** The HTTP proxy could not be reached, refused the tunnel (403, 502 …), or is not an HTTP proxy. */
  PROXY_FAILED: 16,
  /**
   * A directory that must be private is open to other users (owned by
   * another user, or group/other may read, write or enter it), or the state
   * directory is not to be trusted (a symbolic link, a directory above it
   * that another user may change).
   */
  UNSAFE_PERMISSIONS: 17,
  /** The peer refused the TCP connection: nothing listens on that port (`nc`, `proxy`). */
  CONNECTION_REFUSED: 18,
  /** The peer did not answer in time: offline, or its network drops the traffic. */
  PEER_UNREACHABLE: 19,
  /** The peer's ACL (the Nexus policy) forbids this node that port. */
  CONNECTION_FORBIDDEN: 20,
  /** Interrupted by the user (Ctrl-C) before it finished; 128 + SIGINT by shell convention. */
  INTERRUPTED: 130,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCodeValue = typeof ExitCode[keyof typeof ExitCode];

/** The name of an exit code, e.g. `NOT_LOGGED_IN` for 3; "UNKNOWN" for other numbers. */
export function exitCodeName(code: number): string {
  for (const [name, value] of Object.entries(ExitCode)) {
    if (value === code) return name;
  }
  return "UNKNOWN";
}
