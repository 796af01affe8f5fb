/**
 * Rekeys under traffic, in virtual time: two WireGuard devices exchange 10
 * packets a second each way over a link with 10–40 ms of latency (so
 * datagrams overtake one another), for as long as it takes to cross more
 * than ten REKEY_AFTER_TIME rekeys. Every packet must arrive exactly once,
 * nothing may be dropped, and each rekey must come on time (whitepaper
 * §6.1–6.2). It runs with A as the first initiator, and with B.
 *
 * A third run starts both at the same instant with the same send schedule:
 * their first initiations cross, each answers the other's and so forgets its
 * own (as wireguard-go does), and the retries may cross again until latency
 * and jitter part them. Packets waiting for that first session beyond
 * MAX_STAGED_PACKETS are dropped oldest first, as in wireguard-go; every
 * packet from then on, across all the rekeys, must arrive.
 */
import assert from "node:assert/strict";
import { NodePrivateKey } from "../../../../network/crypto/keys.ts";
import {
  MAX_STAGED_PACKETS,
  MESSAGE_INITIATION_TYPE,
  REKEY_AFTER_TIME,
  REKEY_TIMEOUT_JITTER_MAX_MS,
} from "../../../../network/wireguard/constants.ts";
import { type DeviceOutput, WireGuardDevice } from "../../../../network/wireguard/device.ts";
import { messageType } from "../../../../network/wireguard/messages.ts";
import type { WireGuardPeer } from "../../../../network/wireguard/peer.ts";
import { seededRandom } from "../crypto/seeded_random.ts";
import { ipv4Packet, virtualClock } from "./peer_harness.ts";

/** Packets each side sends per second. */
const RATE = 10;
/** Rekeys the run must cross. */
const REKEYS = 10;
/** Traffic goes on this long after the first session: REKEYS + 1 rekey periods and a bit. */
const TRAFFIC_AFTER_SESSION_MS = (REKEYS + 1) * REKEY_AFTER_TIME + 30_000;
/** A run whose first session never comes ends here (and fails). */
const GIVE_UP_MS = 3_600_000;

type Side = "a" | "b";

interface InFlight {
  at: number;
  order: number;
  to: Side;
  datagram: Uint8Array;
}

interface SideState {
  device: WireGuardDevice;
  peer: WireGuardPeer;
  /** Next sequence number to send. */
  sent: number;
  /** Virtual time each packet was sent, by sequence number. */
  sendTimes: number[];
  /** Sequence numbers received from the other side, in arrival order. */
  received: number[];
  /** Initiations this side put on the wire. */
  initiations: number;
  /** Datagrams this side's device refused. */
  deviceDrops: number;
  /** Virtual times at which this side's handshake count went up. */
  handshakeTimes: number[];
}

function sequenceOf(packet: Uint8Array): number {
  return new DataView(packet.buffer, packet.byteOffset).getUint32(20);
}

/** Runs the two-way stream; `first` says who sends at t = 0 (the other starts 50 ms later). */
function runStream(first: Side | "both") {
  const random = seededRandom();
  const clock = virtualClock();
  const keyA = NodePrivateKey.generate(random.bytes);
  const keyB = NodePrivateKey.generate(random.bytes);
  const makeSide = (own: NodePrivateKey, other: NodePrivateKey): SideState => {
    const device = new WireGuardDevice({
      localPrivateKey: own,
      clock,
      random: random.bytes,
      lookupPeer: () => ({}),
    });
    return {
      device,
      peer: device.addPeer(other.publicKey()),
      sent: 0,
      sendTimes: [],
      received: [],
      initiations: 0,
      deviceDrops: 0,
      handshakeTimes: [],
    };
  };
  const sides: Record<Side, SideState> = { a: makeSide(keyA, keyB), b: makeSide(keyB, keyA) };
  const other = (side: Side): Side => side === "a" ? "b" : "a";
  const wire: InFlight[] = [];
  let order = 0;

  const put = (from: Side, output: { send: Uint8Array[] }) => {
    for (const datagram of output.send) {
      if (messageType(datagram) === MESSAGE_INITIATION_TYPE) sides[from].initiations++;
      // Latency 10–40 ms, drawn per datagram: later datagrams may overtake earlier ones.
      wire.push({ at: clock.t + 10 + random.below(31), order: order++, to: other(from), datagram });
    }
  };
  const take = (side: Side, output: DeviceOutput | undefined) => {
    const state = sides[side];
    if (!output) {
      state.deviceDrops++;
      return;
    }
    for (const packet of output.deliver) state.received.push(sequenceOf(packet));
    put(side, output);
    if (state.peer.stats.handshakes > state.handshakeTimes.length) {
      state.handshakeTimes.push(clock.t);
    }
  };
  const sendOne = (side: Side) => {
    const state = sides[side];
    const packet = ipv4Packet(side === "a" ? 1 : 2, side === "a" ? 2 : 1, 64);
    state.sendTimes.push(clock.t);
    new DataView(packet.buffer).setUint32(20, state.sent++);
    take(side, { peer: state.peer, ...state.peer.sendPacket(packet, clock.t) });
  };

  const period = 1000 / RATE;
  let trafficEnd = GIVE_UP_MS;
  const nextSend: Record<Side, number> = {
    a: first === "b" ? period / 2 : 0,
    b: first === "a" ? period / 2 : 0,
  };
  for (;;) {
    if (
      trafficEnd === GIVE_UP_MS && sides.a.handshakeTimes.length && sides.b.handshakeTimes.length
    ) {
      trafficEnd = clock.t + TRAFFIC_AFTER_SESSION_MS;
    }
    const sending: Side[] = clock.t <= trafficEnd ? ["a", "b"] : [];
    const candidates = [
      ...sending.map((side) => nextSend[side]),
      ...wire.map((d) => d.at),
      sides.a.device.nextDeadline() ?? Infinity,
      sides.b.device.nextDeadline() ?? Infinity,
    ];
    const at = Math.min(...candidates);
    // After the traffic stops, only what is in flight matters (timers keep running for ever).
    if (clock.t > trafficEnd && wire.length === 0) break;
    if (!Number.isFinite(at)) break;
    clock.t = Math.max(clock.t, at);
    wire.sort((x, y) => x.at - y.at || x.order - y.order);
    while (wire.length > 0 && wire[0].at <= clock.t) {
      const { to, datagram } = wire.shift()!;
      take(to, sides[to].device.handleDatagram(datagram, clock.t));
    }
    for (const side of ["a", "b"] as const) {
      for (const output of sides[side].device.tick(clock.t)) take(side, output);
    }
    for (const side of sending) {
      if (nextSend[side] <= clock.t) {
        sendOne(side);
        nextSend[side] += period;
      }
    }
  }
  return { sides, seed: random.seed };
}

for (const first of ["a", "b", "both"] as const) {
  const name = first === "both"
    ? "both initiate at once: after the first session, nothing lost"
    : `first initiator ${first}: no packet lost`;
  Deno.test(`rekeys under traffic: >${REKEYS} rekeys, ${name}`, () => {
    const { sides, seed } = runStream(first);
    const where = `(seed ${seed}, first ${first})`;
    let lostBeforeSession = 0;
    for (const side of ["a", "b"] as const) {
      const me = sides[side], them = sides[side === "a" ? "b" : "a"];
      assert.ok(them.handshakeTimes.length > 0, `${side}'s peer got a session ${where}`);
      const got = [...me.received].sort((x, y) => x - y);
      assert.equal(new Set(got).size, got.length, `${side} received no packet twice ${where}`);
      // Lost: only the oldest packets that waited for the very first session beyond the
      // staged queue (none at all when one side initiates alone).
      const waited = them.sendTimes.filter((t) => t < them.handshakeTimes[0]).length;
      const lost = Math.max(0, waited - MAX_STAGED_PACKETS);
      if (first !== "both") assert.equal(lost, 0, `the first session came at once ${where}`);
      lostBeforeSession += lost;
      const expected = Array.from({ length: them.sent - lost }, (_, i) => i + lost);
      assert.deepEqual(
        got,
        expected,
        `${side} received every packet after the first ${lost} ${where}`,
      );
      if (first !== "both") {
        assert.equal(me.deviceDrops, 0, `${side}'s device dropped nothing ${where}`);
      }
      assert.equal(me.peer.stats.dropped, 0, `${side}: ${me.peer.stats.lastDropReason} ${where}`);
      assert.equal(me.peer.stagedCount, 0, `${side} has nothing left staged ${where}`);
      const rekeys = me.peer.stats.handshakes - 1;
      assert.ok(rekeys >= REKEYS, `${side} crossed ${rekeys} rekeys ${where}`);
      // Each rekey follows the one before by REKEY_AFTER_TIME, plus at most a send period,
      // the handshake's round trip and the retransmission jitter: nothing else triggers them.
      const gaps = me.handshakeTimes.slice(1).map((t, i) => t - me.handshakeTimes[i]);
      for (const gap of gaps) {
        assert.ok(
          gap >= REKEY_AFTER_TIME &&
            gap <= REKEY_AFTER_TIME + 1000 / RATE + 100 + REKEY_TIMEOUT_JITTER_MAX_MS,
          `${side}: rekey gaps ${gaps.join(", ")} ms ${where}`,
        );
      }
    }
    if (first !== "both") {
      // One initiation per handshake, all from the first initiator: no retransmission needed.
      const initiator = sides[first], responder = sides[first === "a" ? "b" : "a"];
      assert.equal(initiator.initiations, initiator.peer.stats.handshakes, where);
      assert.equal(responder.initiations, 0, where);
    }
    console.log(
      `  first ${first}: ${sides.a.sent} + ${sides.b.sent} packets, handshakes ` +
        `A ${sides.a.peer.stats.handshakes} B ${sides.b.peer.stats.handshakes} ` +
        `(initiations A ${sides.a.initiations}, B ${sides.b.initiations}), ` +
        `first session at ${Math.max(sides.a.handshakeTimes[0], sides.b.handshakeTimes[0])} ms, ` +
        `${lostBeforeSession} lost waiting for it, 0 lost after ${where}`,
    );
  });
}
