/**
 * How the bridges reach the mesh: a {@link MeshDialer} opens a TCP
 * connection to a peer and hands back a byte stream. Inside a node's own
 * process it is the node's `dial`; beside a running `citadel work` it is a
 * `POST /dial` to work's local API (localapi/client.ts), since one node key
 * must have one session. Both fail with errors named as the stack names
 * them, which {@link dialFailureKind} sorts for every protocol that answers
 * them (SOCKS replies, HTTP statuses, exit codes).
 *
 * @module
 */
import type { ByteStream } from "./relay.ts";

/** Options of one dial. */
export interface MeshDialOptions {
  /** Give up the handshake after this long (the dial fails with `ConnectionTimedOutError`). */
  timeoutMs?: number;
  /** Abandon the dial. */
  signal?: AbortSignal;
}

/** Opens a TCP connection to `port` on the peer `host` names (mesh IP, name, MagicDNS name). */
export type MeshDialer = (
  host: string,
  port: number,
  options?: MeshDialOptions,
) => Promise<ByteStream>;

/** What a failed dial means to whoever must answer it. */
export type DialFailureKind =
  | "peer-not-found"
  | "forbidden"
  | "refused"
  | "timeout"
  | "unreachable"
  | "busy"
  | "failed";

/** The kind of each error name a dial may fail with; others are "failed". */
const KINDS: Readonly<Record<string, DialFailureKind>> = {
  PeerNotFoundError: "peer-not-found",
  ConnectionForbiddenError: "forbidden",
  ConnectionRefusedError: "refused",
  ConnectionTimedOutError: "timeout",
  TimeoutError: "timeout",
  HostUnreachableError: "unreachable",
  AddressUnavailableError: "unreachable",
  StackLimitError: "busy",
  LocalApiBusy: "busy",
  DataPlaneNotStartedError: "busy",
};

/** Sorts a dial's error by its name. */
export function dialFailureKind(error: unknown): DialFailureKind {
  const name = error instanceof Error ? error.name : "";
  return KINDS[name] ?? "failed";
}

/** The HTTP status a proxy or the local API answers each kind with. */
export const DIAL_FAILURE_STATUS: Readonly<Record<DialFailureKind, number>> = {
  "peer-not-found": 404,
  forbidden: 403,
  refused: 502,
  timeout: 504,
  unreachable: 502,
  busy: 503,
  failed: 502,
};

/**
 * An error that crossed a process boundary by name (the local API's answer):
 * it carries the name the far side's error had, so it is handled as that one.
 */
export class NamedRemoteError extends Error {
  /** Rebuilds an error from its name and message. */
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}
