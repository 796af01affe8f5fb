/**
 * A simulated network of STUN servers for netcheck tests, in virtual time:
 * each server answers after its round trip (or drops chosen requests), as
 * derper would, with the reflexive address it is told to report.
 */
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import type { NetcheckRun, StunReceiveOutcome } from "../../../../network/netcheck/netcheck_run.ts";
import { bindingResponse, parseBindingRequest } from "../../../../network/stun/stun_message.ts";

/** One simulated STUN server. */
export interface SimServer {
  /** Round trip in ms. */
  rttMs: number;
  /** Drop the n-th request to this server (0-based). */
  drop?: (nth: number) => boolean;
  /** The address it reports (default: the world's client address of the family). */
  mapped?: AddrPort;
}

/** A request the run sent. */
export interface SentProbe {
  /** Virtual ms relative to the run's start. */
  at: number;
  /** Destination key. */
  to: string;
  /** Transaction ID of the request. */
  txid: Uint8Array;
}

interface Event {
  at: number;
  seq: number;
  deliver: () => void;
}

/** The simulated network. */
export class StunWorld {
  /** Servers by `ip:port` key. */
  readonly servers = new Map<string, SimServer>();
  /** DNS answers by host name (missing: the look-up fails). */
  readonly dns = new Map<string, string[]>();
  /** DNS latency in ms. */
  dnsDelayMs = 0;
  /** Our address as servers report it. */
  client4 = AddrPort.parse("198.51.100.7:41641");
  /** Our IPv6 address as servers report it. */
  client6 = AddrPort.parse("[2001:db8:77::7]:41641");
  /** Every request sent. */
  readonly sent: SentProbe[] = [];
  /** Host names looked up. */
  readonly lookups: string[] = [];
  /** Outcomes of every datagram delivered to the run. */
  readonly outcomes: StunReceiveOutcome[] = [];
  /** Families the sends were reported as failed for. */
  failSendsFor = new Set<4 | 6>();
  readonly #queue: Event[] = [];
  readonly #counts = new Map<string, number>();
  #seq = 0;

  /** Adds a server at `key` (`ip:port`). */
  server(key: string, server: SimServer): this {
    this.servers.set(AddrPort.parse(key).key, server);
    return this;
  }

  /** Schedules a datagram for the run at virtual `at` (absolute ms), from `from`. */
  inject(run: NetcheckRun, at: number, packet: Uint8Array, from: AddrPort): void {
    this.#push(at, () => this.outcomes.push(run.receive(packet, from, at)));
  }

  /** Drives `run` until it finishes (or nothing more can happen); returns its end time. */
  drive(run: NetcheckRun, options: { onSend?: (probe: SentProbe) => void } = {}): number {
    let now = run.startedAt;
    for (let guard = 0; guard < 100_000; guard++) {
      for (const action of run.poll(now)) {
        if (action.kind === "resolve") {
          this.lookups.push(action.hostname);
          const answer = this.dns.get(action.hostname) ?? [];
          this.#push(now + this.dnsDelayMs, () => run.noteResolved(action.hostname, answer));
          continue;
        }
        const txid = parseBindingRequest(action.datagram);
        const probe = { at: now - run.startedAt, to: action.to.key, txid };
        this.sent.push(probe);
        options.onSend?.(probe);
        run.noteSent(action.probeId, action.family, !this.failSendsFor.has(action.family));
        const server = this.servers.get(action.to.key);
        if (!server) continue;
        const nth = this.#counts.get(action.to.key) ?? 0;
        this.#counts.set(action.to.key, nth + 1);
        if (server.drop?.(nth)) continue;
        const mapped = server.mapped ?? (action.to.is4 ? this.client4 : this.client6);
        const reply = bindingResponse(txid, { ip: mapped.address, port: mapped.port });
        const at = now + server.rttMs;
        this.#push(at, () => this.outcomes.push(run.receive(reply, action.to, at)));
      }
      if (run.finished) return now;
      const next = Math.min(run.nextDeadline() ?? Infinity, this.#queue[0]?.at ?? Infinity);
      if (next === Infinity) return now;
      now = Math.max(now, next);
      while (this.#queue.length > 0 && this.#queue[0].at <= now) this.#queue.shift()!.deliver();
    }
    throw new Error("simulation did not settle");
  }

  /** Delivers everything still queued (answers that come after the run ended). */
  flush(): void {
    while (this.#queue.length > 0) this.#queue.shift()!.deliver();
  }

  /** Sends to `key`, relative times. */
  sendTimes(key: string): number[] {
    const k = AddrPort.parse(key).key;
    return this.sent.filter((p) => p.to === k).map((p) => p.at);
  }

  #push(at: number, deliver: () => void): void {
    this.#queue.push({ at, seq: this.#seq++, deliver });
    this.#queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
  }
}
