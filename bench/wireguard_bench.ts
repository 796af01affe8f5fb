/**
 * WireGuard transport throughput, in process: 1420-byte packets (wireguard-go's default MTU)
 * sealed and opened with network/wireguard/transport.ts into reused buffers, and the same
 * packets through two {@link WireGuardPeer}s (sendPacket on one, handleDatagram on the other,
 * which adds the per-packet allocations, the replay window and the timer bookkeeping).
 * No timing is asserted anywhere; `./dev bench` prints the figures.
 *
 * Run alone with `deno run --allow-all bench/wireguard_bench.ts`.
 *
 * @module
 */
import type { Clock } from "../network/clock.ts";
import { NodePrivateKey } from "../network/crypto/keys.ts";
import { WireGuardPeer } from "../network/wireguard/peer.ts";
import {
  openTransport,
  sealTransport,
  transportMessageSize,
} from "../network/wireguard/transport.ts";

/** Plaintext size of every benchmark packet. */
export const BENCH_PACKET_SIZE = 1420;

/** One direction's throughput. */
export interface Throughput {
  /** Packets per second. */
  packetsPerSecond: number;
  /** Plaintext gigabits per second. */
  gbitPerSecond: number;
}

/** Figures of {@link runWireGuardBench}. */
export interface WireGuardBenchResult {
  /** sealTransport into a reused buffer. */
  seal: Throughput;
  /** openTransport into a reused buffer. */
  open: Throughput;
  /** WireGuardPeer.sendPacket then the receiving peer's handleDatagram, per packet. */
  peerToPeer: Throughput;
}

function throughput(packets: number, ms: number): Throughput {
  const perSecond = packets / (ms / 1000);
  return { packetsPerSecond: perSecond, gbitPerSecond: (perSecond * BENCH_PACKET_SIZE * 8) / 1e9 };
}

/** Repeats `step` for about `ms` milliseconds after a warm-up; returns packets/s and Gbit/s. */
function measure(step: (i: number) => void, ms: number): Throughput {
  for (let i = 0; i < 2000; i++) step(i);
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 1000; i++) step(count++);
    elapsed = performance.now() - start;
  }
  return throughput(count, elapsed);
}

function ipv4Packet(): Uint8Array {
  const packet = crypto.getRandomValues(new Uint8Array(BENCH_PACKET_SIZE));
  packet[0] = 0x45;
  packet[2] = BENCH_PACKET_SIZE >> 8;
  packet[3] = BENCH_PACKET_SIZE & 0xff;
  return packet;
}

/**
 * Measures seal, open and peer-to-peer throughput for `msPerCase` milliseconds each
 * (default 1000).
 */
export function runWireGuardBench(msPerCase = 1000): WireGuardBenchResult {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const packet = ipv4Packet();
  const datagram = new Uint8Array(transportMessageSize(packet.length, 1420));
  const seal = measure((i) => sealTransport(datagram, key, 1, i, packet, 1420), msPerCase);

  const sealed: Uint8Array[] = [];
  for (let i = 0; i < 64; i++) {
    const d = new Uint8Array(datagram.length);
    sealTransport(d, key, 1, i, packet, 1420);
    sealed.push(d.subarray(16));
  }
  const plain = new Uint8Array(datagram.length);
  const open = measure((i) => {
    if (openTransport(plain, key, i % 64, sealed[i % 64]) < 0) throw new Error("open failed");
  }, msPerCase);

  const t = 0;
  const clock: Clock = {
    now: () => 1_700_000_000_000 + t,
    monotonic: () => t,
    setTimeout: () => {
      throw new Error("unused");
    },
    clearTimeout: () => {},
    defer: () => {
      throw new Error("unused");
    },
    sleep: () => Promise.resolve(),
  };
  const keyA = NodePrivateKey.generate(), keyB = NodePrivateKey.generate();
  const a = new WireGuardPeer({
    localPrivateKey: keyA,
    remotePublicKey: keyB.publicKey(),
    clock,
    mtu: 1420,
  });
  const b = new WireGuardPeer({
    localPrivateKey: keyB,
    remotePublicKey: keyA.publicKey(),
    clock,
    mtu: 1420,
  });
  let queue = a.sendPacket(packet, t).send;
  for (let from = b; queue.length > 0; from = from === b ? a : b) {
    queue = queue.flatMap((d) => from.handleDatagram(d, t).send);
  }
  if (!a.hasSession(t)) throw new Error("the benchmark peers did not complete a handshake");
  const peerToPeer = measure(() => {
    for (const d of a.sendPacket(packet, t).send) {
      if (b.handleDatagram(d, t).deliver.length !== 1) throw new Error("packet lost");
    }
  }, msPerCase);
  a.close();
  b.close();
  return { seal, open, peerToPeer };
}

if (import.meta.main) {
  const result = runWireGuardBench();
  for (const [name, r] of Object.entries(result)) {
    console.log(
      `wireguard ${name.padEnd(11)} ${BENCH_PACKET_SIZE} B  ` +
        `${(r.packetsPerSecond / 1000).toFixed(1).padStart(7)} kpackets/s  ` +
        `${r.gbitPerSecond.toFixed(2)} Gbit/s`,
    );
  }
}
