/**
 * Path discovery for one peer (data-plane reference §2.4, §2.6–2.8; Go's
 * `magicsock.endpoint`), without I/O. It holds the peer's candidate UDP
 * endpoints (from the netmap, from its CallMeMaybe, and from Pings it sent
 * us), the Pings we have in flight, the best direct path with its latency,
 * and how long that path stays trusted. It answers two questions for the
 * data path:
 *
 * - where does a WireGuard packet for this peer go ({@link PeerPath.noteSend}):
 *   the trusted direct path alone, else the best direct path (if any) and
 *   the peer's home DERP region;
 * - what disco traffic is due: its methods return {@link DiscoAction}s ("send
 *   a Ping with this TxID to that endpoint", "send our CallMeMaybe over
 *   DERP"), which the caller seals and sends.
 *
 * Time comes from the injected {@link Clock} (monotonic milliseconds). Timers
 * are the caller's: after every call, arm one timer for {@link PeerPath.nextDeadline}
 * and call {@link PeerPath.poll} when it fires (heartbeats and Ping timeouts).
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { DiscoPublicKey } from "../crypto/keys.ts";
import type { RandomSource } from "../crypto/random.ts";
import { AddrPort } from "../netaddr/addr_port.ts";
import { isLinkLocalUnicastIP, parseIPAddress } from "../netaddr/ip_address.ts";
import { type AddrQuality, betterAddr } from "./better_addr.ts";
import {
  DERP_MAGIC_IP,
  discoPingInterval,
  goodEnoughLatency,
  heartbeatInterval,
  maxCallMeMaybeEndpoints,
  maxCandidatesBeforePrune,
  pingTimeoutDuration,
  sessionActiveTimeout,
  trustUDPAddrDuration,
  upgradeUDPDirectInterval,
} from "./disco_constants.ts";
import {
  type CallMeMaybeMessage,
  DISCO_TX_ID_LENGTH,
  type PingMessage,
  type PongMessage,
} from "./disco_message.ts";
import type {
  BestPath,
  CandidateView,
  DiscoAction,
  DiscoPath,
  PeerPathNode,
  PingPurpose,
  PongResult,
  SendRoute,
} from "./disco_path.ts";
import {
  addPongRecord,
  type Candidate,
  candidateView,
  clearCandidate,
  newCandidate,
  shouldDeleteCandidate,
} from "./endpoint_candidate.ts";

export type * from "./disco_path.ts";

/** Options for {@link PeerPath}. */
export interface PeerPathOptions {
  /** Source of monotonic time. */
  readonly clock: Pick<Clock, "monotonic">;
  /** Source of Ping TxIDs. */
  readonly random: RandomSource;
}

interface SentPing {
  readonly txId: Uint8Array;
  readonly path: DiscoPath;
  readonly at: number;
  readonly deadline: number;
  readonly purpose: PingPurpose;
}

interface Best {
  readonly addr: AddrPort;
  latencyMs: number;
}

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function toAddrPort(endpoint: string | AddrPort): AddrPort | null {
  return endpoint instanceof AddrPort ? endpoint : AddrPort.tryParse(endpoint);
}

const DERP_MAGIC_BYTES = parseIPAddress(DERP_MAGIC_IP)!;

/** How long a Ping on the best path may go unanswered before the path is no longer trusted. */
function unansweredAfter(latencyMs: number): number {
  return Math.max(1_000, 4 * latencyMs);
}

/**
 * The path-discovery state of one peer. See the module documentation for
 * how a caller drives it.
 *
 * @example
 * ```ts
 * const path = new PeerPath({ clock: systemClock, random: systemRandom });
 * path.updateFromNode({ discoKey, homeDERP: 999, endpoints: ["192.0.2.1:41641"] });
 * const { route, actions } = path.noteSend(); // route.derpRegion === 999 until a Pong
 * for (const action of actions) perform(action);
 * ```
 */
export class PeerPath {
  readonly #clock: Pick<Clock, "monotonic">;
  readonly #random: RandomSource;
  #discoKey: DiscoPublicKey | null = null;
  #derpRegion: number | null = null;
  /** The DERP region the peer was last heard from (Go's `derpRoute`), the last resort. */
  #heardViaDERP: number | null = null;
  readonly #candidates = new Map<string, Candidate>();
  readonly #sentPings = new Map<string, SentPing>();
  #best: Best | null = null;
  #trustBestUntil = -Infinity;
  /** When the best path last answered (its Pong renewed the trust). */
  #bestPongAt = -Infinity;
  #lastFullPing: number | null = null;
  #lastSendExt: number | null = null;
  #heartbeatAt: number | null = null;

  /** Builds an empty state: no candidates, no DERP home, no best path. */
  constructor(options: PeerPathOptions) {
    this.#clock = options.clock;
    this.#random = options.random;
  }

  // ---- netmap ----------------------------------------------------------

  /**
   * Applies the peer's netmap entry: disco key, home DERP and endpoints.
   * Netmap candidates that disappeared are dropped (unless a CallMeMaybe or
   * a recent Ping still vouches for them). Returns the endpoint texts that
   * could not be parsed (tailscaled logs and skips them too).
   */
  updateFromNode(node: PeerPathNode): string[] {
    this.#discoKey = node.discoKey && !node.discoKey.isZero() ? node.discoKey : null;
    this.#derpRegion = Number.isInteger(node.homeDERP) && node.homeDERP > 0 ? node.homeDERP : null;
    const now = this.#now();
    for (const candidate of this.#candidates.values()) candidate.inNetmap = false;
    const bogus: string[] = [];
    for (const endpoint of node.endpoints) {
      const addr = toAddrPort(endpoint);
      if (!addr) {
        bogus.push(String(endpoint));
        continue;
      }
      const existing = this.#candidates.get(addr.key);
      if (existing) existing.inNetmap = true;
      else this.#candidates.set(addr.key, newCandidate(addr, { inNetmap: true }));
    }
    for (const candidate of [...this.#candidates.values()]) {
      if (shouldDeleteCandidate(candidate, now)) this.#deleteCandidate(candidate.addr);
    }
    return bogus;
  }

  /** The peer's disco key from the last netmap, or null. */
  get discoKey(): DiscoPublicKey | null {
    return this.#discoKey;
  }

  /** The peer's home DERP region, or null. */
  get derpRegion(): number | null {
    return this.#derpRegion;
  }

  /**
   * Records that the peer reached us through this DERP region, so that we
   * can answer that way when it has no home region and no direct path
   * (Go's `addDerpPeerRoute`).
   */
  noteHeardViaDERP(region: number): void {
    if (Number.isInteger(region) && region > 0) this.#heardViaDERP = region;
  }

  // ---- sending ---------------------------------------------------------

  /**
   * Where a packet would go now, without side effects (Go's
   * `addrForSendLocked` plus the DERP-route fallback of `endpoint.send`).
   */
  route(): SendRoute {
    const now = this.#now();
    const udp = this.#best?.addr ?? null;
    if (udp && this.#trusted(now)) return { udp, derpRegion: null };
    const derpRegion = this.#derpRegion ?? (udp ? null : this.#heardViaDERP);
    return { udp, derpRegion };
  }

  /**
   * Call for every WireGuard packet sent to the peer (Go's `endpoint.send`):
   * returns where to send it and the disco traffic to send alongside. Without
   * a trusted direct path this starts a discovery round (Pings to candidates
   * not pinged in the last 5 s, then our CallMeMaybe over DERP), and every
   * send keeps the session active, which runs heartbeats.
   */
  noteSend(): { route: SendRoute; actions: DiscoAction[] } {
    const now = this.#now();
    const route = this.route();
    const actions: DiscoAction[] = [];
    if (this.#discoKey && (!this.#best || !this.#trusted(now))) {
      this.#sendDiscoPings(now, true, actions);
    }
    this.#noteActivity(now);
    return { route, actions };
  }

  /**
   * A user-requested Ping (Go's `endpoint.discoPing`): over DERP when the
   * direct path is untrusted, and to the trusted direct path, or else to
   * every candidate, regardless of the 5 s spacing.
   */
  cliPing(): DiscoAction[] {
    const now = this.#now();
    const actions: DiscoAction[] = [];
    if (!this.#discoKey) return actions;
    const route = this.route();
    if (route.derpRegion !== null) {
      actions.push(this.#startPing({ via: "derp", region: route.derpRegion }, now, "cli"));
    }
    if (route.udp && this.#trusted(now)) {
      actions.push(this.#startPing({ via: "udp", addr: route.udp }, now, "cli"));
    } else {
      for (const candidate of this.#candidates.values()) {
        actions.push(this.#startPing({ via: "udp", addr: candidate.addr }, now, "cli"));
      }
    }
    this.#noteActivity(now);
    return actions;
  }

  /** Call when sending a Ping failed: it will never be answered (Go's `forgetDiscoPing`). */
  forgetPing(txId: Uint8Array): void {
    this.#sentPings.delete(hex(txId));
  }

  // ---- receiving -------------------------------------------------------

  /**
   * A Ping from this peer (the caller has checked the sender's disco key).
   * Returns the Pong to send back along the same path, or null when the
   * Ping repeats the last TxID seen on that endpoint (a duplicate, §2.6
   * step 3). A UDP Ping makes its source a candidate endpoint.
   */
  handlePing(ping: PingMessage, from: DiscoPath): PongMessage | null {
    if (from.via === "derp") {
      return { type: "pong", txId: ping.txId, src: new AddrPort(DERP_MAGIC_BYTES, from.region) };
    }
    if (this.#addCandidateFromPing(from.addr, hex(ping.txId))) return null;
    return { type: "pong", txId: ping.txId, src: from.addr };
  }

  /**
   * A Pong from this peer. Returns what it established, or null when its
   * TxID is not one of our outstanding Pings (then it may belong to another
   * peer with the same disco key). A Pong over UDP confirms the pinged
   * path: it may become the best path, and the best path is trusted for
   * `trustUDPAddrDuration` from now.
   */
  handlePong(pong: PongMessage, from: DiscoPath): PongResult | null {
    const key = hex(pong.txId);
    const sent = this.#sentPings.get(key);
    if (!sent) return null;
    this.#sentPings.delete(key);
    const now = this.#now();
    const latencyMs = now - sent.at;
    const result: PongResult = {
      txId: sent.txId,
      purpose: sent.purpose,
      path: sent.path,
      latencyMs,
      pongSrc: pong.src,
    };
    if (from.via !== "udp") return result;
    if (sent.path.via !== "udp") return result;
    const candidate = this.#candidates.get(sent.path.addr.key);
    if (!candidate) return result; // no longer a path we care about
    addPongRecord(candidate, { latencyMs, pongAt: now, from: from.addr, pongSrc: pong.src });

    const thisPong: AddrQuality = { addr: sent.path.addr, latencyMs };
    const current: AddrQuality | null = this.#best
      ? { addr: this.#best.addr, latencyMs: this.#best.latencyMs }
      : null;
    if (betterAddr(thisPong, current) || now > this.#trustBestUntil) {
      this.#best = { addr: sent.path.addr, latencyMs };
    }
    if (this.#best?.addr.key === sent.path.addr.key) {
      this.#best.latencyMs = latencyMs;
      this.#trustBestUntil = now + trustUDPAddrDuration;
      this.#bestPongAt = now;
    }
    return result;
  }

  /**
   * The peer's CallMeMaybe (accept it only over DERP, from the node whose
   * netmap disco key sent it; §2.9). Its endpoints replace those of the
   * previous CallMeMaybe (IPv6 link-local ones are skipped, and those past
   * the first {@link maxCallMeMaybeEndpoints}), and every candidate is
   * pinged at once. No CallMeMaybe goes back.
   */
  handleCallMeMaybe(message: CallMeMaybeMessage): DiscoAction[] {
    const now = this.#now();
    const named = new Set<string>();
    for (const addr of message.endpoints.slice(0, maxCallMeMaybeEndpoints)) {
      if (addr.is6 && isLinkLocalUnicastIP(addr.ip)) continue;
      named.add(addr.key);
      const existing = this.#candidates.get(addr.key);
      if (existing) existing.callMeMaybeTime = now;
      else this.#candidates.set(addr.key, newCandidate(addr, { callMeMaybeTime: now }));
    }
    // Endpoints of an earlier CallMeMaybe that this one does not repeat lose
    // that backing. Go deletes them outright, even when the netmap also lists
    // them (until the next netmap); we keep those the netmap or a Ping backs.
    for (const candidate of [...this.#candidates.values()]) {
      if (candidate.callMeMaybeTime === null || named.has(candidate.addr.key)) continue;
      candidate.callMeMaybeTime = null;
      if (shouldDeleteCandidate(candidate, now)) this.#deleteCandidate(candidate.addr);
    }
    for (const candidate of this.#candidates.values()) candidate.lastPing = null;
    const actions: DiscoAction[] = [];
    if (this.#discoKey) this.#sendDiscoPings(now, false, actions);
    return actions;
  }

  // ---- failures and resets ---------------------------------------------

  /**
   * Sending to this endpoint failed in a way that says it is gone (host or
   * network unreachable): forget the best path and what we measured there.
   */
  noteBadEndpoint(addr: AddrPort): void {
    this.#clearBest();
    const candidate = this.#candidates.get(addr.key);
    if (candidate) clearCandidate(candidate);
  }

  /** Our network changed (new interface, new NAT mapping): distrust every measurement. */
  noteConnectivityChange(): void {
    this.#clearBest();
    for (const candidate of this.#candidates.values()) clearCandidate(candidate);
  }

  /**
   * Back to DERP only (Go's `stopAndReset`): no best path, no Pings in
   * flight, no heartbeat. Candidates are kept.
   */
  reset(): void {
    this.#lastSendExt = null;
    this.#lastFullPing = null;
    this.#clearBest();
    for (const candidate of this.#candidates.values()) candidate.lastPing = null;
    this.#sentPings.clear();
    this.#heartbeatAt = null;
  }

  // ---- timers ----------------------------------------------------------

  /** Monotonic time of the next heartbeat or Ping timeout, or null when none is due. */
  nextDeadline(): number | null {
    let next = this.#heartbeatAt;
    for (const sent of this.#sentPings.values()) {
      if (next === null || sent.deadline < next) next = sent.deadline;
    }
    return next;
  }

  /**
   * Runs whatever is due: Ping timeouts (an untrusted best path whose Ping
   * timed out is dropped) and the heartbeat (ping the best path; a full
   * discovery round when wanted; stop after `sessionActiveTimeout` idle).
   */
  poll(): DiscoAction[] {
    const now = this.#now();
    const actions: DiscoAction[] = [];
    for (const [key, sent] of [...this.#sentPings]) {
      if (sent.deadline > now) continue;
      this.#sentPings.delete(key);
      if (
        sent.path.via === "udp" && this.#best?.addr.key === sent.path.addr.key &&
        now > this.#trustBestUntil
      ) {
        this.#clearBest();
      }
      if (sent.purpose === "cli") {
        actions.push({ type: "ping-timed-out", txId: sent.txId, path: sent.path });
      }
    }
    if (this.#heartbeatAt !== null && this.#heartbeatAt <= now) this.#heartbeat(now, actions);
    return actions;
  }

  // ---- introspection ---------------------------------------------------

  /** The best direct path, or null. */
  get bestPath(): BestPath | null {
    return this.#best
      ? {
        addr: this.#best.addr,
        latencyMs: this.#best.latencyMs,
        trustedUntil: this.#trustBestUntil,
      }
      : null;
  }

  /** Whether packets go over the direct path alone right now. */
  get directTrusted(): boolean {
    return this.#best !== null && this.#trusted(this.#now());
  }

  /** Whether heartbeats are running (the session was active in the last 45 s). */
  get heartbeatRunning(): boolean {
    return this.#heartbeatAt !== null;
  }

  /** The number of our Pings awaiting a Pong. */
  get pingsInFlight(): number {
    return this.#sentPings.size;
  }

  /** A snapshot of the candidate endpoints. */
  candidates(): CandidateView[] {
    return [...this.#candidates.values()].map(candidateView);
  }

  // ---- internals -------------------------------------------------------

  #now(): number {
    return this.#clock.monotonic();
  }

  #deleteCandidate(addr: AddrPort): void {
    this.#candidates.delete(addr.key);
    if (this.#best?.addr.key === addr.key) this.#best = null;
  }

  #clearBest(): void {
    this.#best = null;
    this.#trustBestUntil = -Infinity;
  }

  // Go's addCandidateEndpoint; true when the Ping is a duplicate.
  #addCandidateFromPing(addr: AddrPort, txId: string): boolean {
    const now = this.#now();
    const existing = this.#candidates.get(addr.key);
    if (existing) {
      const duplicate = existing.lastGotPingTxId === txId;
      if (!duplicate) existing.lastGotPingTxId = txId;
      if (existing.lastGotPing !== null) existing.lastGotPing = now;
      return duplicate;
    }
    this.#candidates.set(
      addr.key,
      newCandidate(addr, { lastGotPing: now, lastGotPingTxId: txId }),
    );
    if (this.#candidates.size > maxCandidatesBeforePrune) {
      for (const candidate of [...this.#candidates.values()]) {
        if (shouldDeleteCandidate(candidate, now)) this.#deleteCandidate(candidate.addr);
      }
    }
    return false;
  }

  #startPing(path: DiscoPath, now: number, purpose: PingPurpose): DiscoAction {
    if (purpose !== "cli" && path.via === "udp") {
      const candidate = this.#candidates.get(path.addr.key);
      if (candidate) candidate.lastPing = now;
    }
    const txId = this.#random(DISCO_TX_ID_LENGTH).slice(0, DISCO_TX_ID_LENGTH);
    this.#sentPings.set(hex(txId), {
      txId,
      path,
      at: now,
      deadline: now + pingTimeoutDuration,
      purpose,
    });
    return { type: "send-ping", path, txId, purpose };
  }

  // Go's sendDiscoPingsLocked.
  #sendDiscoPings(now: number, sendCallMeMaybe: boolean, actions: DiscoAction[]): void {
    this.#lastFullPing = now;
    let sentAny = false;
    for (const candidate of [...this.#candidates.values()]) {
      if (shouldDeleteCandidate(candidate, now)) {
        this.#deleteCandidate(candidate.addr);
        continue;
      }
      if (candidate.lastPing !== null && now - candidate.lastPing < discoPingInterval) continue;
      sentAny = true;
      actions.push(this.#startPing({ via: "udp", addr: candidate.addr }, now, "discovery"));
    }
    if (sentAny && sendCallMeMaybe && this.#derpRegion !== null) {
      actions.push({ type: "send-call-me-maybe", derpRegion: this.#derpRegion });
    }
  }

  // Go's noteTxActivityExtTriggerLocked.
  /**
   * Whether the best path is trusted now: a Pong came within
   * trustUDPAddrDuration (Go's rule), and no Ping we sent on it since then
   * after its last Pong has gone unanswered for longer than
   * {@link unansweredAfter}. The second
   * half is ours: tailscaled keeps sending to a path that stopped answering
   * until the 6.5 s of trust run out; we fall back to DERP as soon as a
   * heartbeat is clearly late, which bounds the loss when a direct path dies
   * to about one heartbeat interval plus a second.
   */
  #trusted(now: number): boolean {
    const best = this.#best;
    if (!best || now > this.#trustBestUntil) return false;
    const late = unansweredAfter(best.latencyMs);
    for (const sent of this.#sentPings.values()) {
      if (
        sent.path.via === "udp" && sent.path.addr.key === best.addr.key &&
        sent.at > this.#bestPongAt && now - sent.at > late
      ) return false;
    }
    return true;
  }

  #noteActivity(now: number): void {
    this.#lastSendExt = now;
    if (this.#heartbeatAt === null) this.#heartbeatAt = now + heartbeatInterval;
  }

  // Go's wantFullPingLocked.
  #wantFullPing(now: number): boolean {
    if (!this.#best || this.#lastFullPing === null) return true;
    if (!this.#trusted(now)) return true;
    if (this.#best.latencyMs <= goodEnoughLatency) return false;
    return now - this.#lastFullPing >= upgradeUDPDirectInterval;
  }

  // Go's endpoint.heartbeat.
  #heartbeat(now: number, actions: DiscoAction[]): void {
    this.#heartbeatAt = null;
    if (this.#lastSendExt === null || !this.#discoKey) return;
    if (now - this.#lastSendExt > sessionActiveTimeout) return; // idle: heartbeats stop
    const udp = this.#best?.addr;
    if (udp && this.#candidates.has(udp.key)) {
      actions.push(this.#startPing({ via: "udp", addr: udp }, now, "heartbeat"));
    }
    if (this.#wantFullPing(now)) this.#sendDiscoPings(now, true, actions);
    this.#heartbeatAt = now + heartbeatInterval;
  }
}
