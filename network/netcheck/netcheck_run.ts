/**
 * One report in progress (tailscaled's `reportState` and `runProbe`),
 * sans-I/O: {@link NetcheckRun.poll} says which STUN requests to send (and
 * which host names to look up) at time `now`; {@link NetcheckRun.receive}
 * takes a datagram that arrived, with its source and arrival time.
 *
 * Rules, as tailscaled has them:
 * - A probe set ends when one of its probes is answered. A probe that
 *   comes due is skipped, and its set ends, when it could not teach
 *   anything new (`probeWouldHelp`): the region has a latency, and
 *   (IPv6) some IPv6 answer came or (IPv4) the mapping comparison has two
 *   answers.
 * - The STUN phase ends when every set has ended, or 3 s after the start,
 *   or once three regions have answered plus the slowest latency seen
 *   (twice that in a full report) to give the others a chance.
 * - Latency is measured from the probe's own send (after any DNS lookup)
 *   to the answer's arrival; a region keeps its lowest latency.
 *
 * Differences, kept on purpose: an answer must come from the address the
 * request went to (tailscaled matches the transaction ID alone); a spoofed
 * answer from elsewhere is ignored and the real one still counts. Answers
 * after the STUN phase are ignored. Probes are bound to the node object of
 * their set, so a node name used twice in a map cannot mix regions.
 *
 * @module
 */
import type { DERPNode } from "../control/map_response.ts";
import type { RandomSource } from "../crypto/random.ts";
import { AddrPort } from "../netaddr/addr_port.ts";
import { ipAddressEquals, parseIPAddress, unmapIPAddress } from "../netaddr/ip_address.ts";
import {
  bindingRequest,
  isStunPacket,
  newTransactionId,
  parseBindingRequest,
  parseBindingResponse,
  type StunBindingResponse,
  StunParseError,
} from "../stun/stun_message.ts";
import { ENOUGH_REGIONS, STUN_PROBE_TIMEOUT_MS } from "./netcheck_constants.ts";
import { emptyReport, type NetcheckReport, type RegionID } from "./netcheck_report.ts";
import type { Probe, ProbePlan, ProbeSet } from "./probe_plan.ts";
import { type ProbeFamily, stunTargetOf } from "./stun_target.ts";

/** Something the I/O side must do for the run. */
export type NetcheckAction =
  /** Send `datagram` (a Binding Request) to `to`, then call {@link NetcheckRun.noteSent}. */
  | {
    readonly kind: "send";
    readonly datagram: Uint8Array;
    readonly to: AddrPort;
    readonly probeId: number;
    readonly family: ProbeFamily;
  }
  /** Look `hostname` up, then call {@link NetcheckRun.noteResolved}. */
  | { readonly kind: "resolve"; readonly hostname: string };

/** What became of a datagram given to {@link NetcheckRun.receive}. */
export type StunReceiveOutcome =
  /** A probe's answer; its latency and our mapped address were recorded. */
  | "accepted"
  /** Not STUN at all (no magic cookie). */
  | "not-stun"
  /** A Binding Request (a stray hairpin probe); ignored. */
  | "request"
  /** STUN, but not a well-formed Binding Success with an address. */
  | "malformed"
  /** No probe in flight has this transaction ID (unknown, or already answered). */
  | "unknown-transaction"
  /** The transaction ID matches, but it came from another address than the request went to. */
  | "wrong-source"
  /** The STUN phase is over; nothing is waiting for answers. */
  | "finished";

/** Why the STUN phase ended. */
export type NetcheckRunEnd =
  | "all-sets-done"
  | "enough-regions"
  | "stun-timeout"
  | "aborted";

/** Options of {@link NetcheckRun}. */
export interface NetcheckRunOptions {
  /** The probes to run. */
  readonly plan: ProbePlan;
  /** Monotonic ms of the start; probe delays count from here. */
  readonly startedAt: number;
  /** Incremental report (waits the slowest latency after enough regions, not twice it). */
  readonly incremental: boolean;
  /** Transaction IDs. */
  readonly random: RandomSource;
  /** Regions to hear from before the rest get a grace period; 3 by default. */
  readonly enoughRegions?: number;
  /** Length of the STUN phase; 3000 ms by default. */
  readonly stunProbeTimeoutMs?: number;
  /** Result of binding `::1`, copied into the report. */
  readonly osHasIPv6?: boolean;
}

interface SetState {
  readonly set: ProbeSet;
  next: number;
  done: boolean;
}

interface InFlight {
  readonly probeId: number;
  readonly set: SetState;
  readonly node: DERPNode;
  readonly to: AddrPort;
  sentAt: number;
}

interface Waiting {
  readonly set: SetState;
  readonly probe: Probe;
  readonly hostname: string;
  readonly port: number;
}

type Resolution = "pending" | readonly Uint8Array[];

function hexOf(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += byte.toString(16).padStart(2, "0");
  return text;
}

/** Same port and address, an IPv4-mapped IPv6 address counting as its IPv4 form. */
function sameEndpoint(a: AddrPort, b: AddrPort): boolean {
  return a.port === b.port && ipAddressEquals(unmapIPAddress(a.ip), unmapIPAddress(b.ip));
}

/** Records a latency when it is a region's first or lowest (`updateLatency`). */
function updateLatency(latencies: Map<RegionID, number>, region: RegionID, ms: number): void {
  const previous = latencies.get(region);
  if (previous === undefined || ms < previous) latencies.set(region, ms);
}

/**
 * The STUN phase of one report.
 *
 * @example
 * ```ts
 * const run = new NetcheckRun({ plan, startedAt: clock.monotonic(), incremental: false, random });
 * for (const action of run.poll(clock.monotonic())) {
 *   if (action.kind === "send") await socket.send(action.datagram, toNetAddr(action.to));
 * }
 * // … for each datagram received: run.receive(data, from, clock.monotonic())
 * ```
 */
export class NetcheckRun {
  readonly #sets: SetState[];
  readonly #startedAt: number;
  readonly #incremental: boolean;
  readonly #random: RandomSource;
  readonly #enoughRegions: number;
  readonly #stunDeadline: number;
  readonly #report: NetcheckReport = emptyReport();
  readonly #inFlight = new Map<string, InFlight>();
  readonly #keyOfProbe = new Map<number, string>();
  readonly #dns = new Map<string, Resolution>();
  #waiting: Waiting[] = [];
  #firstV4: AddrPort | undefined;
  #firstV6: AddrPort | undefined;
  #enoughDeadline: number | undefined;
  #end: NetcheckRunEnd | undefined;
  #nextProbeId = 1;
  #probesSent = 0;

  /** Starts the phase at `options.startedAt`; nothing is sent before the first {@link poll}. */
  constructor(options: NetcheckRunOptions) {
    this.#sets = options.plan.map((set) => ({ set, next: 0, done: false }));
    this.#startedAt = options.startedAt;
    this.#incremental = options.incremental;
    this.#random = options.random;
    this.#enoughRegions = options.enoughRegions ?? ENOUGH_REGIONS;
    this.#stunDeadline = options.startedAt + (options.stunProbeTimeoutMs ?? STUN_PROBE_TIMEOUT_MS);
    this.#report.full = !options.incremental;
    this.#report.osHasIPv6 = options.osHasIPv6;
  }

  /** Monotonic ms of the start. */
  get startedAt(): number {
    return this.#startedAt;
  }

  /** Whether this is an incremental report. */
  get incremental(): boolean {
    return this.#incremental;
  }

  /** Why the STUN phase ended, or undefined while it runs. */
  get end(): NetcheckRunEnd | undefined {
    return this.#end;
  }

  /** Whether the STUN phase is over. */
  get finished(): boolean {
    return this.#end !== undefined;
  }

  /** STUN requests sent so far. */
  get probesSent(): number {
    return this.#probesSent;
  }

  /**
   * What was measured so far (a live view; the client copies it when the
   * run finishes). `preferredDERP` and `now` are set by the client.
   */
  get report(): NetcheckReport {
    return this.#report;
  }

  /**
   * Advances to `now`: ends the phase when a deadline passed, and returns
   * the requests and look-ups that have come due. Call again at
   * {@link nextDeadline}, after {@link noteResolved} and after each
   * {@link receive}.
   */
  poll(now: number): NetcheckAction[] {
    if (this.#end) return [];
    if (now >= this.#stunDeadline) return this.#finish("stun-timeout");
    if (this.#enoughDeadline !== undefined && now >= this.#enoughDeadline) {
      return this.#finish("enough-regions");
    }
    const actions: NetcheckAction[] = [];
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const entry of waiting) this.#sendResolved(entry, now, actions);
    for (const state of this.#sets) {
      while (!state.done && state.next < state.set.probes.length) {
        const probe = state.set.probes[state.next];
        if (this.#startedAt + probe.delayMs > now) break;
        state.next++;
        this.#startProbe(state, probe, now, actions);
      }
    }
    if (this.#sets.every((state) => state.done)) this.#finish("all-sets-done");
    return this.#shuffleSends(actions);
  }

  /** When {@link poll} must run next (monotonic ms), or undefined once finished. */
  nextDeadline(): number | undefined {
    if (this.#end) return undefined;
    let deadline = this.#stunDeadline;
    if (this.#enoughDeadline !== undefined) deadline = Math.min(deadline, this.#enoughDeadline);
    for (const state of this.#sets) {
      if (state.done || state.next >= state.set.probes.length) continue;
      deadline = Math.min(deadline, this.#startedAt + state.set.probes[state.next].delayMs);
    }
    return deadline;
  }

  /**
   * Takes a datagram that arrived from `from` at monotonic `now`. Never
   * throws for hostile input: the outcome says what it was.
   */
  receive(packet: Uint8Array, from: AddrPort, now: number): StunReceiveOutcome {
    if (this.#end) return "finished";
    if (!isStunPacket(packet)) return "not-stun";
    let response: StunBindingResponse;
    try {
      response = parseBindingResponse(packet);
    } catch (error) {
      if (!(error instanceof StunParseError)) throw error;
      try {
        parseBindingRequest(packet);
        return "request";
      } catch {
        return "malformed";
      }
    }
    const key = hexOf(response.transactionId);
    const flight = this.#inFlight.get(key);
    if (!flight) return "unknown-transaction";
    if (!sameEndpoint(from, flight.to)) return "wrong-source";
    const mappedIp = parseIPAddress(response.address.ip);
    if (!mappedIp) return "malformed";
    this.#inFlight.delete(key);
    this.#addLatency(
      flight.set.set.regionId,
      new AddrPort(mappedIp, response.address.port),
      Math.max(0, now - flight.sentAt), // a caller's receive stamp may predate our send stamp
      now,
    );
    flight.set.done = true;
    if (this.#sets.every((state) => state.done)) this.#finish("all-sets-done");
    return "accepted";
  }

  /**
   * Moves the send time of `probeId` to `at` (monotonic ms), the moment the
   * I/O side actually hands it to the socket: requests returned by one
   * {@link poll} go out one after the other, and each latency should count
   * from its own send, as tailscaled stamps each probe just before sending.
   */
  noteSending(probeId: number, at: number): void {
    const key = this.#keyOfProbe.get(probeId);
    const flight = key === undefined ? undefined : this.#inFlight.get(key);
    if (flight && at >= flight.sentAt) flight.sentAt = at;
  }

  /** Records whether the request of `probeId` could be sent (`IPv4CanSend`/`IPv6CanSend`). */
  noteSent(probeId: number, family: ProbeFamily, ok: boolean): void {
    if (!ok || probeId <= 0 || probeId >= this.#nextProbeId) return;
    if (family === 4) this.#report.ipv4CanSend = true;
    else this.#report.ipv6CanSend = true;
  }

  /**
   * Hands over the addresses `hostname` resolved to (IP text; an empty
   * list when the look-up failed). The probes waiting for it are sent by
   * the next {@link poll}.
   */
  noteResolved(hostname: string, addresses: readonly string[]): void {
    if (this.#dns.get(hostname) !== "pending") return;
    const parsed: Uint8Array[] = [];
    for (const text of addresses) {
      const ip = parseIPAddress(text);
      if (ip) parsed.push(unmapIPAddress(ip));
    }
    this.#dns.set(hostname, parsed);
  }

  /** Ends the STUN phase now (the report is cut short: a timeout or an abort). */
  abort(): void {
    this.#finish("aborted");
  }

  /**
   * Requests due together go out in random order: they leave and their
   * answers are read one after the other, so a fixed order would make the
   * same regions look a little faster every time (tailscaled's goroutines
   * race instead). Look-ups stay first.
   */
  #shuffleSends(actions: NetcheckAction[]): NetcheckAction[] {
    const sends = actions.filter((action) => action.kind === "send");
    if (sends.length < 2) return actions;
    const noise = this.#random(4 * sends.length);
    for (let i = sends.length - 1; i > 0; i--) {
      const word = (noise[4 * i] << 24 | noise[4 * i + 1] << 16 | noise[4 * i + 2] << 8 |
        noise[4 * i + 3]) >>> 0;
      const j = word % (i + 1);
      [sends[i], sends[j]] = [sends[j], sends[i]];
    }
    return [...actions.filter((action) => action.kind !== "send"), ...sends];
  }

  #startProbe(state: SetState, probe: Probe, now: number, actions: NetcheckAction[]): void {
    if (!this.#probeWouldHelp(state.set.regionId, probe.family)) {
      state.done = true;
      return;
    }
    const target = stunTargetOf(probe.node, probe.family);
    if (target.kind === "none") return;
    if (target.kind === "address") {
      this.#send(state, probe.node, target.address, now, actions);
      return;
    }
    const entry: Waiting = { set: state, probe, hostname: target.hostname, port: target.port };
    if (!this.#dns.has(target.hostname)) {
      this.#dns.set(target.hostname, "pending");
      actions.push({ kind: "resolve", hostname: target.hostname });
    }
    this.#sendResolved(entry, now, actions);
  }

  #sendResolved(entry: Waiting, now: number, actions: NetcheckAction[]): void {
    if (entry.set.done) return;
    const resolution = this.#dns.get(entry.hostname);
    if (resolution === "pending" || resolution === undefined) {
      this.#waiting.push(entry);
      return;
    }
    const want = entry.probe.family === 4 ? 4 : 16;
    const ip = resolution.find((candidate) => candidate.length === want);
    if (!ip) return;
    this.#send(entry.set, entry.probe.node, new AddrPort(ip, entry.port), now, actions);
  }

  #send(
    state: SetState,
    node: DERPNode,
    to: AddrPort,
    now: number,
    actions: NetcheckAction[],
  ): void {
    const transactionId = newTransactionId(this.#random);
    const probeId = this.#nextProbeId++;
    const key = hexOf(transactionId);
    this.#inFlight.set(key, { probeId, set: state, node, to, sentAt: now });
    this.#keyOfProbe.set(probeId, key);
    this.#probesSent++;
    actions.push({
      kind: "send",
      datagram: bindingRequest(transactionId),
      to,
      probeId,
      family: to.is4 ? 4 : 6,
    });
  }

  #probeWouldHelp(region: RegionID, family: ProbeFamily): boolean {
    const report = this.#report;
    if (!report.regionLatency.has(region)) return true;
    if (family === 6 && report.regionV6Latency.size === 0) return true;
    if (family === 4 && report.mappingVariesByDestIP === undefined) return true;
    return false;
  }

  #addLatency(region: RegionID, mapped: AddrPort, latency: number, now: number): void {
    const report = this.#report;
    report.udp = true;
    updateLatency(report.regionLatency, region, latency);
    if (report.regionLatency.size === this.#enoughRegions) {
      // tailscaled starts a timer at each answer while exactly this many
      // regions have answered; the first to fire ends the phase.
      let grace = 0;
      for (const ms of report.regionLatency.values()) grace = Math.max(grace, ms);
      const deadline = now + (this.#incremental ? grace : 2 * grace);
      this.#enoughDeadline = Math.min(this.#enoughDeadline ?? Infinity, deadline);
    }
    report.observedAddresses.set(mapped.key, mapped);
    if (mapped.is4) {
      updateLatency(report.regionV4Latency, region, latency);
      report.ipv4 = true;
      report.globalV4Counters.set(mapped.key, (report.globalV4Counters.get(mapped.key) ?? 0) + 1);
      if (!this.#firstV4) {
        this.#firstV4 = mapped;
        report.globalV4 = mapped;
      } else if (!this.#firstV4.equals(mapped)) {
        report.mappingVariesByDestIP = true;
      } else if (report.mappingVariesByDestIP === undefined) {
        report.mappingVariesByDestIP = false;
      }
    } else {
      updateLatency(report.regionV6Latency, region, latency);
      report.ipv6 = true;
      report.globalV6 = mapped;
      report.globalV6Counters.set(mapped.key, (report.globalV6Counters.get(mapped.key) ?? 0) + 1);
      if (!this.#firstV6) {
        this.#firstV6 = mapped;
      } else if (!this.#firstV6.equals(mapped)) {
        report.mappingVariesByDestIPv6 = true;
      } else if (report.mappingVariesByDestIPv6 === undefined) {
        report.mappingVariesByDestIPv6 = false;
      }
    }
  }

  #finish(end: NetcheckRunEnd): [] {
    this.#end ??= end;
    this.#inFlight.clear();
    this.#keyOfProbe.clear();
    this.#waiting = [];
    return [];
  }
}
