/**
 * A peer's candidate UDP endpoints as path discovery keeps them (Go's
 * magicsock `endpointState`): where each came from, our Pings to it and the
 * Pongs it sent back, and when a candidate may be forgotten.
 *
 * @module
 */
import type { AddrPort } from "../netaddr/addr_port.ts";
import type { CandidateSource, CandidateView } from "./disco_path.ts";
import { pongHistoryCount, sessionActiveTimeout } from "./disco_constants.ts";

/** One Pong to our Ping on a candidate endpoint. */
export interface PongRecord {
  /** Round trip of the Ping it answered. */
  latencyMs: number;
  /** When it arrived (monotonic ms). */
  pongAt: number;
  /** The endpoint it came from. */
  from: AddrPort;
  /** Our address as the peer saw it. */
  pongSrc: AddrPort;
}

/** One candidate UDP endpoint of a peer (Go's `endpointState`). */
export interface Candidate {
  /** The endpoint. */
  readonly addr: AddrPort;
  /** Listed in the peer's netmap entry. */
  inNetmap: boolean;
  /** When we last pinged it. */
  lastPing: number | null;
  /** Set for candidates learned from an incoming Ping: when the last one came. */
  lastGotPing: number | null;
  /** The TxID of the last Ping that came from it (duplicates are not answered twice). */
  lastGotPingTxId: string | null;
  /** When a CallMeMaybe last named it. */
  callMeMaybeTime: number | null;
  /** The last few Pongs, a ring of {@link pongHistoryCount}. */
  pongs: PongRecord[];
  /** Index of the newest entry in `pongs`. */
  newestPong: number;
}

/** A candidate with no measurements yet. */
export function newCandidate(
  addr: AddrPort,
  init: Partial<
    Pick<Candidate, "inNetmap" | "callMeMaybeTime" | "lastGotPing" | "lastGotPingTxId">
  >,
): Candidate {
  return {
    addr,
    inNetmap: init.inNetmap ?? false,
    lastPing: null,
    lastGotPing: init.lastGotPing ?? null,
    lastGotPingTxId: init.lastGotPingTxId ?? null,
    callMeMaybeTime: init.callMeMaybeTime ?? null,
    pongs: [],
    newestPong: 0,
  };
}

/** Whether a candidate may be forgotten now (Go's `endpointState.shouldDeleteLocked`). */
export function shouldDeleteCandidate(candidate: Candidate, now: number): boolean {
  if (candidate.callMeMaybeTime !== null) return false;
  if (candidate.lastGotPing === null) return !candidate.inNetmap;
  return now - candidate.lastGotPing > sessionActiveTimeout;
}

/**
 * Forgets a candidate's measurements (Go's `endpointState.clear`). Go also
 * forgets the CallMeMaybe time; we keep it, so that a CallMeMaybe-only
 * candidate is not dropped by the next discovery round after a network
 * change.
 */
export function clearCandidate(candidate: Candidate): void {
  candidate.lastPing = null;
  candidate.lastGotPingTxId = null;
  candidate.pongs = [];
  candidate.newestPong = 0;
}

/** Records a Pong in the candidate's ring of the last few. */
export function addPongRecord(candidate: Candidate, record: PongRecord): void {
  if (candidate.pongs.length < pongHistoryCount) {
    candidate.newestPong = candidate.pongs.length;
    candidate.pongs.push(record);
    return;
  }
  candidate.newestPong = (candidate.newestPong + 1) % pongHistoryCount;
  candidate.pongs[candidate.newestPong] = record;
}

/** What a caller may see of a candidate (diagnostics, tests). */
export function candidateView(c: Candidate): CandidateView {
  const sources: CandidateSource[] = [];
  if (c.inNetmap) sources.push("netmap");
  if (c.callMeMaybeTime !== null) sources.push("call-me-maybe");
  if (c.lastGotPing !== null) sources.push("ping");
  return {
    addr: c.addr,
    sources,
    lastPing: c.lastPing,
    latencyMs: c.pongs.length > 0 ? c.pongs[c.newestPong].latencyMs : null,
    pongCount: c.pongs.length,
  };
}
