/**
 * Two in-process WireGuard peers on a virtual clock, for the peer tests.
 */
import type { Clock } from "../../../../network/clock.ts";
import { NodePrivateKey } from "../../../../network/crypto/keys.ts";
import {
  type PeerOutput,
  WireGuardPeer,
  type WireGuardPeerOptions,
} from "../../../../network/wireguard/peer.ts";
import { type SeededRandom, seededRandom } from "../crypto/seeded_random.ts";

/** A clock whose time moves only when the test says so. */
export interface VirtualClock extends Clock {
  /** Monotonic milliseconds now. */
  t: number;
}

/** A virtual clock starting at monotonic 0 and wall time 2023-11-14. */
export function virtualClock(): VirtualClock {
  const clock: VirtualClock = {
    t: 0,
    now: () => 1_700_000_000_000 + clock.t,
    monotonic: () => clock.t,
    setTimeout: () => {
      throw new Error("the peer must not set real timers");
    },
    clearTimeout: () => {},
    defer: () => {
      throw new Error("the peer must not defer work");
    },
    sleep: () => Promise.reject(new Error("the peer must not sleep")),
  };
  return clock;
}

/** Two peers, A and B, that know each other. */
export interface PeerPair {
  clock: VirtualClock;
  random: SeededRandom;
  a: WireGuardPeer;
  b: WireGuardPeer;
  keyA: NodePrivateKey;
  keyB: NodePrivateKey;
}

/** Makes A and B with fresh keys on one virtual clock. */
export function peerPair(options: Partial<WireGuardPeerOptions> = {}): PeerPair {
  const random = seededRandom();
  const clock = virtualClock();
  const keyA = NodePrivateKey.generate(random.bytes);
  const keyB = NodePrivateKey.generate(random.bytes);
  const a = new WireGuardPeer({
    localPrivateKey: keyA,
    remotePublicKey: keyB.publicKey(),
    clock,
    random: random.bytes,
    ...options,
  });
  const b = new WireGuardPeer({
    localPrivateKey: keyB,
    remotePublicKey: keyA.publicKey(),
    clock,
    random: random.bytes,
    ...options,
  });
  return { clock, random, a, b, keyA, keyB };
}

/**
 * Carries datagrams back and forth until both sides are quiet; returns
 * what each side delivered. `filter` may drop datagrams in flight.
 */
export function exchange(
  pair: PeerPair,
  from: "a" | "b",
  output: PeerOutput,
  filter: (datagram: Uint8Array, to: "a" | "b") => boolean = () => true,
): { a: Uint8Array[]; b: Uint8Array[] } {
  const delivered = {
    a: [...(from === "a" ? output.deliver : [])],
    b: [...(from === "b" ? output.deliver : [])],
  };
  let queue: [Uint8Array, "a" | "b"][] = output.send.map((d) => [d, from === "a" ? "b" : "a"]);
  for (let rounds = 0; queue.length > 0; rounds++) {
    if (rounds > 100) throw new Error("the peers never went quiet");
    const next: typeof queue = [];
    for (const [datagram, to] of queue) {
      if (!filter(datagram, to)) continue;
      const result = pair[to].handleDatagram(datagram, pair.clock.t);
      delivered[to].push(...result.deliver);
      for (const d of result.send) next.push([d, to === "a" ? "b" : "a"]);
    }
    queue = next;
  }
  return delivered;
}

/** An IPv4 packet from `src` to `dst` (last octets of 10.0.0.x) with `payload` bytes. */
export function ipv4Packet(src: number, dst: number, payload = 20, fill = 0xab): Uint8Array {
  const packet = new Uint8Array(20 + payload).fill(fill);
  packet[0] = 0x45;
  packet[1] = 0;
  packet[2] = (20 + payload) >> 8;
  packet[3] = (20 + payload) & 0xff;
  packet[8] = 64;
  packet[9] = 1;
  packet.set([10, 0, 0, src], 12);
  packet.set([10, 0, 0, dst], 16);
  return packet;
}
