/**
 * Our side of the wireguard-go interop test, run inside the test's network namespace by
 * `wireguard_handshake_test.ts` (`ip netns exec <ns> deno run … wireguard_driver.ts`). It owns
 * one UDP socket and one {@link WireGuardPeer} for the wireguard-go device, and obeys JSON
 * commands, one per stdin line, answering each with one JSON line on stdout:
 *
 * - `{"cmd":"handshake"}`: initiate and wait for the session; `{ok, ms}`.
 * - `{"cmd":"ping","seq":n}`: send an ICMP echo request to wireguard-go's address and wait for
 *   the echo reply the namespace's kernel sends back; `{ok, rttMs, ...}`.
 * - `{"cmd":"answer-ping"}`: wait for an ICMP echo request from wireguard-go's side, answer it;
 *   `{ok, initiatedByUs, ...}`.
 * - `{"cmd":"reset"}`: drop the peer and start from a fresh one (no session).
 * - `{"cmd":"stats"}`: the peer's counters.
 *
 * The configuration comes as JSON in CITADEL_WG_DRIVER (a throwaway test key).
 *
 * @module
 */
import { systemClock } from "../../network/clock.ts";
import { NodePrivateKey, NodePublicKey } from "../../network/crypto/keys.ts";
import { type PeerOutput, WireGuardPeer } from "../../network/wireguard/peer.ts";

interface DriverConfig {
  privateKey: string;
  peerPublicKey: string;
  ourPort: number;
  peerPort: number;
  ourAddress: string;
  peerAddress: string;
}

const config: DriverConfig = JSON.parse(Deno.env.get("CITADEL_WG_DRIVER") ?? "{}");
const ourIp = config.ourAddress.split(".").map(Number);
const peerIp = config.peerAddress.split(".").map(Number);
const socket = Deno.listenDatagram({
  transport: "udp",
  hostname: "127.0.0.1",
  port: config.ourPort,
});
const peerAddr: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: config.peerPort };
const now = () => systemClock.monotonic();

function newPeer(): WireGuardPeer {
  return new WireGuardPeer({
    localPrivateKey: NodePrivateKey.parse(config.privateKey),
    remotePublicKey: NodePublicKey.parse(config.peerPublicKey),
    clock: systemClock,
    mtu: 1420,
  });
}

let peer = newPeer();
const inbox: Uint8Array[] = [];
let wake: (() => void) | undefined;

async function flush(output: PeerOutput): Promise<void> {
  for (const datagram of output.send) await socket.send(datagram, peerAddr);
  if (output.deliver.length > 0) {
    inbox.push(...output.deliver);
    wake?.();
  }
}

(async () => {
  for await (const [datagram] of socket) await flush(peer.handleDatagram(datagram, now()));
})();
setInterval(() => {
  const deadline = peer.nextDeadline();
  if (deadline !== undefined && deadline <= now()) flush(peer.tick(now()));
}, 20);

async function until<T>(what: string, check: () => T | undefined, ms = 10_000): Promise<T> {
  const end = now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, 10);
    });
  }
}

function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An IPv4 ICMP echo (type 8 request, 0 reply) with valid checksums. */
function icmpEcho(
  type: number,
  src: number[],
  dst: number[],
  id: number,
  seq: number,
  data: Uint8Array,
) {
  const packet = new Uint8Array(20 + 8 + data.length);
  const v = new DataView(packet.buffer);
  packet[0] = 0x45;
  v.setUint16(2, packet.length);
  v.setUint16(4, seq);
  packet[6] = 0x40; // don't fragment
  packet[8] = 64;
  packet[9] = 1;
  packet.set(src, 12);
  packet.set(dst, 16);
  v.setUint16(10, checksum(packet.subarray(0, 20)));
  packet[20] = type;
  v.setUint16(24, id);
  v.setUint16(26, seq);
  packet.set(data, 28);
  v.setUint16(22, checksum(packet.subarray(20)));
  return packet;
}

interface Echo {
  type: number;
  src: string;
  dst: string;
  id: number;
  seq: number;
  data: Uint8Array;
  checksumsValid: boolean;
}

function parseEcho(packet: Uint8Array): Echo | undefined {
  if (packet.length < 28 || packet[0] !== 0x45 || packet[9] !== 1) return undefined;
  const v = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  return {
    type: packet[20],
    src: packet.subarray(12, 16).join("."),
    dst: packet.subarray(16, 20).join("."),
    id: v.getUint16(24),
    seq: v.getUint16(26),
    data: packet.slice(28),
    checksumsValid: checksum(packet.subarray(0, 20)) === 0 && checksum(packet.subarray(20)) === 0,
  };
}

function takeEcho(type: number): Echo | undefined {
  const i = inbox.findIndex((p) => parseEcho(p)?.type === type);
  return i < 0 ? undefined : parseEcho(inbox.splice(i, 1)[0]);
}

async function run(command: { cmd: string; seq?: number }): Promise<Record<string, unknown>> {
  switch (command.cmd) {
    case "handshake": {
      const before = peer.stats.handshakes;
      const start = now();
      await flush(peer.initiateHandshake(start));
      await until("the handshake response", () => peer.stats.handshakes > before || undefined);
      return { ok: true, ms: now() - start, isInitiator: peer.keypairs.current?.isInitiator };
    }
    case "ping": {
      const seq = command.seq ?? 1;
      const data = new TextEncoder().encode(`citadel wireguard interop ${seq} `.padEnd(56, "."));
      const start = now();
      await flush(peer.sendPacket(icmpEcho(8, ourIp, peerIp, 0xc17a, seq, data), start));
      const reply = await until("the ICMP echo reply", () => takeEcho(0));
      return {
        ok: reply.src === config.peerAddress && reply.dst === config.ourAddress &&
          reply.id === 0xc17a && reply.seq === seq && reply.checksumsValid &&
          new TextDecoder().decode(reply.data) === new TextDecoder().decode(data),
        rttMs: now() - start,
        reply: { src: reply.src, dst: reply.dst, id: reply.id, seq: reply.seq },
      };
    }
    case "answer-ping": {
      const request = await until("an ICMP echo request", () => takeEcho(8), 15_000);
      const answer = icmpEcho(0, ourIp, peerIp, request.id, request.seq, request.data);
      await flush(peer.sendPacket(answer, now()));
      return {
        ok: request.src === config.peerAddress && request.dst === config.ourAddress &&
          request.checksumsValid,
        initiatedByUs: peer.keypairs.current?.isInitiator,
        request: { src: request.src, dst: request.dst, seq: request.seq },
      };
    }
    case "reset":
      peer.close();
      peer = newPeer();
      inbox.length = 0;
      return { ok: true };
    case "stats":
      return { ok: true, ...peer.stats };
    default:
      return { ok: false, error: `unknown command ${command.cmd}` };
  }
}

const encoder = new TextEncoder();
let buffered = "";
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  buffered += chunk;
  for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    let answer: Record<string, unknown>;
    try {
      answer = await run(JSON.parse(line));
    } catch (error) {
      answer = { ok: false, error: String(error), lastDropReason: peer.stats.lastDropReason };
    }
    await Deno.stdout.write(encoder.encode(JSON.stringify(answer) + "\n"));
  }
}
Deno.exit(0);
