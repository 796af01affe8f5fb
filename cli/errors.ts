/**
 * Turns anything a command throws into what the user sees: one line saying
 * what went wrong, a hint saying what to do, and an exit code. Errors are
 * recognised by their `name`, so this file depends on no error class and
 * keeps working as the network and state layers grow.
 *
 * A stack trace is shown only with `--verbose`, and only for errors this table
 * does not know (the known ones are expected conditions, not bugs).
 *
 * @module
 */
import { HTTPS_PROXY_ENV, NEXUS_ENV, REDIS_URL_ENV, UDP_BIND_ENV } from "./env.ts";
import { ExitCode } from "./exit_codes.ts";

/** What the CLI prints for an error, and how it exits. */
export interface DescribedError {
  /** One line, without the "citadel:" prefix. */
  message: string;
  /** What to do about it, or null. */
  hint: string | null;
  /** The process exit code. */
  exitCode: number;
  /** Extra detail (a stack trace) shown only with `--verbose`, or null. */
  detail: string | null;
}

/** A command-line mistake; the CLI's own error, mapped to {@link ExitCode.USAGE}. */
export class UsageError extends Error {
  /** The usage hint, e.g. "Run 'citadel --help' for usage.". */
  readonly hint: string;
  /** A usage error with `message` (one line) and the usage hint. */
  constructor(message: string, hint = "Run 'citadel --help' for usage.") {
    super(message);
    this.name = "UsageError";
    this.hint = hint;
  }
}

/** A failure a command detected itself, with its own message, hint and exit code. */
export class CommandError extends Error {
  /** What to do about it, or null. */
  readonly hint: string | null;
  /** The exit code. */
  readonly exitCode: number;
  /** A failure with its message, exit code and optional hint. */
  constructor(message: string, exitCode: number, hint: string | null = null) {
    super(message);
    this.name = "CommandError";
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** Context that makes hints specific. */
export interface ErrorContext {
  /** The Nexus URL in use. */
  nexus?: string;
  /** Include stack traces of unexpected errors. */
  verbose?: boolean;
}

/** How one known error name is reported. */
export interface KnownError {
  /** The exit code. */
  exitCode: number;
  /** The hint, given what is known about the invocation and the error's own fields. */
  hint: (ctx: ErrorContext, error: Record<string, unknown>) => string | null;
  /** Replaces the error's own message; by default its first line is used. */
  message?: (error: Record<string, unknown>, firstLine: string) => string;
}

const nexusName = (ctx: ErrorContext) => ctx.nexus ?? "the Nexus URL";

/** The table of known error names. Exported for tests and docs. */
export const KNOWN_ERRORS: Readonly<Record<string, KnownError>> = {
  ControlUnreachableError: {
    exitCode: ExitCode.NEXUS_UNREACHABLE,
    hint: (ctx) =>
      `Check the network connection and that ${nexusName(ctx)} is right (--nexus or ${NEXUS_ENV}).`,
  },
  ControlTLSError: {
    exitCode: ExitCode.TLS,
    hint: (ctx) =>
      `The TLS certificate of ${
        nexusName(ctx)
      } was not accepted; check the URL and the system clock.`,
  },
  ControlProtocolError: {
    exitCode: ExitCode.NEXUS_PROTOCOL,
    hint: (ctx) => `Is ${nexusName(ctx)} a Nexus (Headscale) server? Check --nexus.`,
  },
  UnsupportedVersionError: {
    exitCode: ExitCode.NEXUS_PROTOCOL,
    hint: () => "This Citadel and the server disagree on the protocol version; upgrade Citadel.",
  },
  AuthKeyRejectedError: {
    exitCode: ExitCode.AUTH_REJECTED,
    hint: () => "The auth key is wrong, expired or used up; create a new one and try again.",
  },
  // Nexus refused the registration for a reason it did not tie to the key in a way the
  // control client recognises (e.g. Headscale's "invalid auth key: crypto/bcrypt: …"): still a
  // refusal the user can act on, not a bug to report with a stack trace.
  RegistrationError: {
    exitCode: ExitCode.AUTH_REJECTED,
    hint: () =>
      "Nexus refused to register this node; check the auth key (or create a new one) and try again.",
  },
  NodeNotFoundError: {
    exitCode: ExitCode.NODE_REMOVED,
    hint: () =>
      "This node was deleted at Nexus. Run `citadel login` (or `citadel init --authkey KEY`) " +
      "to register it again.",
  },
  NodeExpiredError: {
    exitCode: ExitCode.NODE_REMOVED,
    hint: () =>
      "This node's key has expired at Nexus. Run `citadel login` (or `citadel init --authkey " +
      "KEY`) to log in again.",
  },
  NexusMismatchError: {
    exitCode: ExitCode.USAGE,
    hint: () =>
      `Run \`citadel logout\` first to join a different Nexus, or drop --nexus/${NEXUS_ENV}.`,
  },
  InvalidNexusURLError: {
    exitCode: ExitCode.USAGE,
    hint: () => `Give --nexus (or ${NEXUS_ENV}) as https://host[:port].`,
  },
  InvalidUDPBindError: {
    exitCode: ExitCode.USAGE,
    hint: () => `Give --udp-bind (or ${UDP_BIND_ENV}) as ADDR[:PORT], e.g. 0.0.0.0:41641.`,
  },
  ProxyAuthError: {
    exitCode: ExitCode.PROXY_AUTH,
    hint: () =>
      `Check the proxy user name and password in ${HTTPS_PROXY_ENV} ` +
      "(http://user:password@host:port; percent-encode special characters).",
  },
  ProxyRefusedError: {
    exitCode: ExitCode.PROXY_FAILED,
    hint: (ctx) =>
      `The proxy would not open a tunnel to ${nexusName(ctx)}; ask its administrator to allow ` +
      "CONNECT to that host and port, or list the host in NO_PROXY.",
  },
  ProxyUnreachableError: {
    exitCode: ExitCode.PROXY_FAILED,
    hint: () => `Check the proxy address in ${HTTPS_PROXY_ENV} (or HTTP_PROXY), or unset it.`,
  },
  ProxyProtocolError: {
    exitCode: ExitCode.PROXY_FAILED,
    hint: () =>
      `Is ${HTTPS_PROXY_ENV} (or HTTP_PROXY) an HTTP proxy? Only http:// CONNECT proxies work.`,
  },
  ProxyConfigError: {
    exitCode: ExitCode.USAGE,
    hint: () => `Set ${HTTPS_PROXY_ENV} to http://[user:password@]host:port, or unset it.`,
  },
  NotLoggedInError: {
    exitCode: ExitCode.NOT_LOGGED_IN,
    hint: () => "Run `citadel init` to join the network.",
  },
  NotImplementedError: {
    exitCode: ExitCode.NOT_IMPLEMENTED,
    hint: () => "This build of Citadel cannot do this yet; nothing was changed.",
  },
  StateCorruptError: { exitCode: ExitCode.STATE_CORRUPT, hint: () => null },
  StateVersionError: { exitCode: ExitCode.STATE_CORRUPT, hint: () => null },
  InstanceLockedError: {
    exitCode: ExitCode.ALREADY_RUNNING,
    // The state layer's message carries its own advice; the hint says it once.
    message: (error) => {
      const holder = error.holder as { pid?: unknown; hostname?: unknown; startedAt?: unknown };
      const who = holder && typeof holder.pid === "number"
        ? ` (pid ${holder.pid} on ${holder.hostname}, started ${holder.startedAt})`
        : "";
      return `another citadel work is already running for this state directory${who}`;
    },
    hint: () => "Stop the other `citadel work` first, or give this one its own --state-dir.",
  },
  AbortError: {
    exitCode: ExitCode.INTERRUPTED,
    hint: () => null,
    message: () => "interrupted",
  },
  // The message names the directory and the chown/chmod that fixes it.
  StateTrustError: { exitCode: ExitCode.UNSAFE_PERMISSIONS, hint: () => null },
  StateDirError: { exitCode: ExitCode.FAILURE, hint: () => null },
  LocalApiError: { exitCode: ExitCode.FAILURE, hint: () => null },
  WorkerStalledError: {
    exitCode: ExitCode.WORKER_WATCHDOG,
    hint: () =>
      "The job loop could not poll Redis for too long; check that Redis is reachable. " +
      "A service manager restarts work.",
  },
  JobStuckError: {
    exitCode: ExitCode.WORKER_WATCHDOG,
    hint: () => "A job would not stop at its time limit. A service manager restarts work.",
  },
  WorkerConfigError: {
    exitCode: ExitCode.USAGE,
    hint: () => "Run 'citadel work --help' for the job loop's options.",
  },
  RedisURLError: {
    exitCode: ExitCode.USAGE,
    hint: () => `Give --redis (or ${REDIS_URL_ENV}) as redis://[:password@]host[:port][/db].`,
  },
  UnsafeDirectoryError: {
    exitCode: ExitCode.UNSAFE_PERMISSIONS,
    hint: (_ctx, error) => typeof error.hint === "string" ? error.hint : null,
  },
  TimeoutError: {
    exitCode: ExitCode.FAILURE,
    hint: () => "Try again, or give it longer with --timeout.",
  },
  // Mesh connections (nc, proxy, expose): the stack's errors, by name, whether raised in this
  // process or answered by a running work through the local API.
  PeerNotFoundError: {
    exitCode: ExitCode.PEER_NOT_FOUND,
    hint: () => "`citadel status` lists the peers' names and IPs.",
  },
  ConnectionRefusedError: {
    exitCode: ExitCode.CONNECTION_REFUSED,
    hint: () => "Nothing listens on that port of the peer (or it refused); check the port.",
  },
  ConnectionTimedOutError: {
    exitCode: ExitCode.PEER_UNREACHABLE,
    hint: () =>
      "The peer did not answer: it may be offline (see `citadel status`), or give it " +
      "longer with --timeout.",
  },
  HostUnreachableError: {
    exitCode: ExitCode.PEER_UNREACHABLE,
    hint: () => "The peer cannot be reached now; see `citadel status`.",
  },
  ConnectionForbiddenError: {
    exitCode: ExitCode.CONNECTION_FORBIDDEN,
    hint: () =>
      "The network's access rules (the Nexus policy) do not let this node reach that port; " +
      "ask its administrator.",
  },
  ConnectionResetError: {
    exitCode: ExitCode.FAILURE,
    hint: () => "The connection was cut (the peer reset it, or left the network).",
  },
  AddressInUseError: {
    exitCode: ExitCode.FAILURE,
    hint: () => "Something on this node already listens on that port; pick another one.",
  },
  DataPlaneNotStartedError: {
    exitCode: ExitCode.FAILURE,
    hint: () => "The node's data plane is not up yet; see the log of `citadel work`.",
  },
  LocalApiBusy: {
    exitCode: ExitCode.FAILURE,
    hint: () => "The running `citadel work` has too many connections open; try again later.",
  },
};

function firstLine(text: string): string {
  const line = text.split(/\r?\n/).find((l) => l.trim() !== "") ?? "";
  return line.trim();
}

/** Lower-cases the first letter unless the first word is an acronym or a name like "Nexus". */
function sentenceFragment(text: string): string {
  if (/^[A-Z][a-z]/.test(text) && !/^(Nexus|Citadel|Headscale|Tailscale)\b/.test(text)) {
    return text[0].toLowerCase() + text.slice(1);
  }
  return text;
}

/**
 * Describes any thrown value for the user. The message and detail are not yet
 * redacted: the caller prints them through `Output`, which removes secrets.
 */
export function describeError(error: unknown, ctx: ErrorContext = {}): DescribedError {
  if (error instanceof UsageError) {
    return {
      message: sentenceFragment(firstLine(error.message)),
      hint: error.hint,
      exitCode: ExitCode.USAGE,
      detail: null,
    };
  }
  if (error instanceof CommandError) {
    return { message: error.message, hint: error.hint, exitCode: error.exitCode, detail: null };
  }
  const name = error instanceof Error || (typeof error === "object" && error !== null)
    ? String((error as { name?: unknown }).name ?? "")
    : "";
  const rawMessage = error instanceof Error
    ? error.message
    : typeof error === "object" && error !== null && "message" in error
    ? String((error as { message: unknown }).message)
    : String(error);
  const known = Object.hasOwn(KNOWN_ERRORS, name) ? KNOWN_ERRORS[name] : undefined;
  if (known) {
    const fields = typeof error === "object" && error !== null
      ? error as Record<string, unknown>
      : {};
    const message = known.message?.(fields, firstLine(rawMessage)) ?? firstLine(rawMessage);
    return {
      message: sentenceFragment(message || name),
      hint: known.hint(ctx, fields),
      exitCode: known.exitCode,
      detail: null,
    };
  }
  const stack = error instanceof Error && error.stack ? error.stack : null;
  const line = firstLine(rawMessage);
  return {
    message: `unexpected error${line ? `: ${line}` : name ? ` (${name})` : ""}`,
    hint: ctx.verbose ? null : "Run with --verbose for details.",
    exitCode: ExitCode.FAILURE,
    detail: ctx.verbose ? stack ?? String(error) : null,
  };
}
