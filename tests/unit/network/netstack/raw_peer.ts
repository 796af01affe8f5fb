/**
 * A hand-driven TCP peer for state-machine tests: it builds exactly the
 * segments a test names, hands them to one NetStack, and keeps every
 * packet the stack emits, parsed, for the test to inspect. Virtual time.
 */
import assert from "node:assert/strict";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { IPProtocol } from "../../../../network/netaddr/ip_protocol.ts";
import { buildTcpPacket } from "../../../../network/netstack/ip_output.ts";
import { NetStack, type NetStackOptions } from "../../../../network/netstack/netstack.ts";
import { type IPPacket, parseIPPacket } from "../../../../network/netstack/wire/ip_packet.ts";
import {
  parseTCPSegment,
  type TCPSegment,
  type TCPSegmentFields,
  verifyTCPChecksum,
} from "../../../../network/netstack/wire/tcp.ts";
import { SeededPrng } from "./link_simulator.ts";
import { prngRandom } from "./stack_pair.ts";
import { settle, VirtualClock } from "./virtual_time.ts";

/** A segment the stack sent, parsed. */
export interface Emitted extends TCPSegment {
  /** The IP packet, parsed. */
  ip: IPPacket;
  /** The IP packet's bytes. */
  raw: Uint8Array;
}

/** Fields of a segment the peer sends; ports default to the peer's and the stack's. */
export type PeerSegment = Partial<TCPSegmentFields> & { seq: number; flags: number };

/** One NetStack and a scripted peer. */
export class RawPeer {
  /** The clock. */
  readonly clock = new VirtualClock();
  /** The stack under test. */
  readonly stack: NetStack;
  /** The stack's address. */
  readonly ours: Uint8Array;
  /** The peer's address. */
  readonly theirs: Uint8Array;
  /** The peer's port. */
  peerPort = 40000;
  /** The stack's port. */
  stackPort = 80;
  /** TCP segments the stack emitted, in order, not yet taken. */
  readonly out: Emitted[] = [];
  /** Non-TCP packets the stack emitted. */
  readonly other: IPPacket[] = [];

  /** A stack at 10.1.0.1 (fd00::1 with `v6`), the peer at 10.1.0.2 (fd00::2). */
  constructor(options: { v6?: boolean; stack?: Partial<NetStackOptions>; seed?: number } = {}) {
    this.ours = parseIPAddress(options.v6 ? "fd00::1" : "10.1.0.1")!;
    this.theirs = parseIPAddress(options.v6 ? "fd00::2" : "10.1.0.2")!;
    const ours = [parseIPAddress("10.1.0.1")!, parseIPAddress("fd00::1")!];
    this.stack = new NetStack({
      addresses: () => ours,
      send: (packet) => this.#capture(packet),
      clock: this.clock,
      random: prngRandom(new SeededPrng(options.seed ?? 7)),
      ...options.stack,
    });
  }

  /** The stack's address and port. */
  get stackAddr(): AddrPort {
    return new AddrPort(this.ours, this.stackPort);
  }

  /** The peer's address and port. */
  get peerAddr(): AddrPort {
    return new AddrPort(this.theirs, this.peerPort);
  }

  /** Delivers a segment from the peer; returns what deliver() said. */
  send(fields: PeerSegment, payload?: Uint8Array): boolean {
    const packet = buildTcpPacket(
      this.theirs,
      this.ours,
      {
        srcPort: this.peerPort,
        dstPort: this.stackPort,
        ack: 0,
        window: 65535,
        ...fields,
      },
      payload?.length ?? 0,
      payload ? (t) => t.set(payload) : undefined,
      1,
    );
    return this.stack.deliver(packet);
  }

  /** Delivers raw bytes. */
  deliverRaw(packet: Uint8Array): boolean {
    return this.stack.deliver(packet);
  }

  /** The next segment the stack sent; fails when there is none. */
  next(what = "a segment"): Emitted {
    const segment = this.out.shift();
    assert.ok(segment, `expected ${what} from the stack, got nothing`);
    return segment;
  }

  /** Takes every segment sent so far. */
  drain(): Emitted[] {
    return this.out.splice(0);
  }

  /** Asserts the stack sent nothing more. */
  none(what = "nothing"): void {
    assert.equal(this.out.length, 0, `expected ${what}, got ${this.out.map(describe).join("; ")}`);
  }

  /** Lets promises settle, then moves virtual time by `ms` (firing timers), then settles again. */
  async advance(ms: number): Promise<void> {
    await settle();
    this.clock.advance(ms);
    await settle();
  }

  #capture(packet: Uint8Array): void {
    const ip = parseIPPacket(packet);
    if (ip.protocol !== IPProtocol.TCP) {
      this.other.push(ip);
      return;
    }
    assert.ok(verifyTCPChecksum(ip.src, ip.dst, ip.payload), "the stack's TCP checksum verifies");
    this.out.push({ ...parseTCPSegment(ip.payload), ip, raw: packet });
  }
}

/** A short text form of a segment for messages. */
export function describe(s: TCPSegment): string {
  const names = ["FIN", "SYN", "RST", "PSH", "ACK", "URG"];
  const flags = names.filter((_, i) => s.flags & (1 << i)).join(",");
  return `<${flags} seq=${s.seq} ack=${s.ack} win=${s.window} len=${s.payload.length}>`;
}
