/**
 * Our side of the netstack interop test, run inside the test's network namespace by
 * `netstack_linux_test.ts` (`ip netns exec <ns> deno run … netstack_driver.ts`): one UDP socket
 * on the namespace's loopback, one {@link WireGuardPeer} for the wireguard-go device, and a
 * {@link NetStack} on our tunnel address whose packets travel through that peer. The kernel of
 * the namespace sits behind wireguard-go's TUN, so every TCP and UDP exchange here is with
 * Linux's own stack. Obeys one JSON command per stdin line and answers each with one JSON line:
 *
 * - `{"cmd":"handshake"}`
 * - `{"cmd":"connect-sink","host","port","bytes"}`: connect, send "SINK" and `bytes` random
 *   bytes, half-close, read the server's "<bytes> <sha256>" answer.
 * - `{"cmd":"connect-source","host","port","bytes"}`: connect, ask for `bytes`, hash them.
 * - `{"cmd":"listen","port","replyBytes"}`: accept one connection from the kernel: read it to
 *   the end (hashing), answer "<bytes> <sha256>\n" and `replyBytes` random bytes, close.
 * - `{"cmd":"listen-result"}`: the outcome of that connection, when it is done.
 * - `{"cmd":"connect-refused","host","port"}`: a connect that must be refused.
 * - `{"cmd":"udp-echo-to","host","port","count"}`: datagrams to the kernel's echo server.
 * - `{"cmd":"udp-serve","port"}`: echo datagrams from the kernel.
 * - `{"cmd":"impair","reorder","delayMs"}`: from now on delay that fraction of datagrams (both
 *   ways, on our side of the UDP socket) by `delayMs`, which reorders them.
 * - `{"cmd":"stats"}`
 *
 * Configuration (a throwaway test key) comes as JSON in CITADEL_NETSTACK_DRIVER.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { systemClock } from "../../network/clock.ts";
import { NodePrivateKey, NodePublicKey } from "../../network/crypto/keys.ts";
import { systemRandom } from "../../network/crypto/random.ts";
import { AddrPort } from "../../network/netaddr/addr_port.ts";
import { parseIPAddress } from "../../network/netaddr/ip_address.ts";
import { NetStack } from "../../network/netstack/netstack.ts";
import type { TcpConn } from "../../network/netstack/socket/tcp_conn.ts";
import { type PeerOutput, WireGuardPeer } from "../../network/wireguard/peer.ts";

interface DriverConfig {
  privateKey: string;
  peerPublicKey: string;
  ourPort: number;
  peerPort: number;
  ourAddress: string;
}

const config: DriverConfig = JSON.parse(Deno.env.get("CITADEL_NETSTACK_DRIVER") ?? "{}");
const socket = Deno.listenDatagram({
  transport: "udp",
  hostname: "127.0.0.1",
  port: config.ourPort,
});
const peerAddr: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: config.peerPort };
const now = () => systemClock.monotonic();
const ours = parseIPAddress(config.ourAddress)!;

const peer = new WireGuardPeer({
  localPrivateKey: NodePrivateKey.parse(config.privateKey),
  remotePublicKey: NodePublicKey.parse(config.peerPublicKey),
  clock: systemClock,
  mtu: 1420,
});

const counters = { sendsInFlight: 0, sendQueueDrops: 0, sent: 0, received: 0, delayed: 0 };
const MAX_SENDS_IN_FLIGHT = 4096;
let impairment = { reorder: 0, delayMs: 0 };

function chance(p: number): boolean {
  return p > 0 && crypto.getRandomValues(new Uint32Array(1))[0] / 2 ** 32 < p;
}

// Datagrams to wireguard-go: like a NIC queue, a bounded number in flight, the rest dropped.
function transmit(datagram: Uint8Array): void {
  if (chance(impairment.reorder)) {
    counters.delayed++;
    setTimeout(() => transmitNow(datagram), impairment.delayMs);
    return;
  }
  transmitNow(datagram);
}

function transmitNow(datagram: Uint8Array): void {
  if (counters.sendsInFlight >= MAX_SENDS_IN_FLIGHT) {
    counters.sendQueueDrops++;
    return;
  }
  counters.sendsInFlight++;
  counters.sent++;
  socket.send(datagram, peerAddr).catch(() => {}).finally(() => counters.sendsInFlight--);
}

function flush(output: PeerOutput): void {
  for (const datagram of output.send) transmit(datagram);
  for (const packet of output.deliver) stack.deliver(packet);
}

const stack: NetStack = new NetStack({
  addresses: () => [ours],
  send: (packet) => flush(peer.sendPacket(packet, now())),
  clock: systemClock,
  random: systemRandom,
});

function receive(datagram: Uint8Array): void {
  counters.received++;
  flush(peer.handleDatagram(datagram, now()));
}

(async () => {
  for await (const [datagram] of socket) {
    if (chance(impairment.reorder)) {
      counters.delayed++;
      setTimeout(() => receive(datagram), impairment.delayMs);
    } else {
      receive(datagram);
    }
  }
})();
setInterval(() => {
  const deadline = peer.nextDeadline();
  if (deadline !== undefined && deadline <= now()) flush(peer.tick(now()));
}, 20);

const CHUNK = 256 * 1024;
const encoder = new TextEncoder();

async function sendRandom(conn: TcpConn, total: number): Promise<string> {
  const hash = createHash("sha256");
  const buffer = new Uint8Array(CHUNK);
  for (let sent = 0; sent < total;) {
    const piece = buffer.subarray(0, Math.min(CHUNK, total - sent));
    for (let i = 0; i < piece.length; i += 65536) {
      crypto.getRandomValues(piece.subarray(i, Math.min(piece.length, i + 65536)));
    }
    hash.update(piece);
    await conn.writeAll(piece);
    sent += piece.length;
  }
  return hash.digest("hex");
}

async function readAll(conn: TcpConn): Promise<{ bytes: number; sha256: string; text: string }> {
  const hash = createHash("sha256");
  const buffer = new Uint8Array(CHUNK);
  let bytes = 0;
  let head = "";
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    if (head.length < 200) head += new TextDecoder().decode(buffer.subarray(0, Math.min(n, 200)));
    hash.update(buffer.subarray(0, n));
    bytes += n;
  }
  return { bytes, sha256: hash.digest("hex"), text: head };
}

function remote(host: string, port: number): AddrPort {
  return new AddrPort(parseIPAddress(host)!, port);
}

function rate(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

let listenResult: Promise<Record<string, unknown>> | undefined;

async function run(command: Record<string, unknown>): Promise<Record<string, unknown>> {
  const host = command.host as string;
  const port = command.port as number;
  switch (command.cmd) {
    case "handshake": {
      const before = peer.stats.handshakes;
      flush(peer.initiateHandshake(now()));
      const end = now() + 10_000;
      while (peer.stats.handshakes === before) {
        if (now() > end) throw new Error("no handshake response");
        await new Promise((r) => setTimeout(r, 10));
      }
      return { ok: true };
    }
    case "connect-sink": {
      const bytes = command.bytes as number;
      const start = now();
      const conn = await stack.connectTCP(remote(host, port));
      await conn.writeAll(encoder.encode("SINK\n"));
      const sha256 = await sendRandom(conn, bytes);
      await conn.closeWrite();
      const answer = await readAll(conn);
      const ms = now() - start;
      conn.close();
      return {
        ok: true,
        bytes,
        sha256,
        answer: answer.text.trim(),
        ms,
        mbps: rate(bytes, ms),
        stats: conn.stats,
      };
    }
    case "connect-source": {
      const bytes = command.bytes as number;
      const start = now();
      const conn = await stack.connectTCP(remote(host, port));
      await conn.writeAll(encoder.encode(`SOURCE ${bytes}\n`));
      const got = await readAll(conn);
      const ms = now() - start;
      conn.close();
      return {
        ok: true,
        bytes: got.bytes,
        sha256: got.sha256,
        ms,
        mbps: rate(got.bytes, ms),
        stats: conn.stats,
      };
    }
    case "listen": {
      const listener = stack.listenTCP(port);
      const replyBytes = command.replyBytes as number;
      listenResult = (async () => {
        const conn = await listener.accept();
        listener.close();
        const start = now();
        const got = await readAll(conn);
        const readMs = now() - start;
        await conn.writeAll(encoder.encode(`${got.bytes} ${got.sha256}\n`));
        const replyStart = now();
        const sent = await sendRandom(conn, replyBytes);
        conn.close();
        await conn.closed;
        const replyMs = now() - replyStart;
        return {
          ok: true,
          remote: conn.remoteAddr,
          received: got.bytes,
          receivedSha256: got.sha256,
          receiveMbps: rate(got.bytes, readMs),
          sentSha256: sent,
          sendMbps: rate(replyBytes, replyMs),
          stats: conn.stats,
        };
      })();
      listenResult.catch(() => {});
      return { ok: true };
    }
    case "listen-result":
      return await listenResult!;
    case "connect-refused": {
      try {
        const conn = await stack.connectTCP(remote(host, port));
        conn.close();
        return { ok: false, error: "connected" };
      } catch (error) {
        return {
          ok: error instanceof Deno.errors.ConnectionRefused,
          name: (error as Error).name,
          message: (error as Error).message,
        };
      }
    }
    case "udp-echo-to": {
      const count = command.count as number;
      const udp = stack.listenUDP(0);
      let echoed = 0;
      for (let i = 0; i < count; i++) {
        const payload = encoder.encode(`datagram ${i} from citadel`);
        await udp.send(payload, remote(host, port));
        const timeout = new Promise<null>((r) => setTimeout(() => r(null), 5000));
        const answer = await Promise.race([udp.receive(), timeout]);
        if (answer && new TextDecoder().decode(answer[0]) === `datagram ${i} from citadel`) {
          echoed++;
        }
      }
      udp.close();
      return { ok: echoed === count, echoed, count };
    }
    case "udp-serve": {
      const udp = stack.listenUDP(port);
      (async () => {
        for await (const [data, from] of udp) await udp.send(data, from);
      })();
      return { ok: true };
    }
    case "impair":
      impairment = { reorder: command.reorder as number, delayMs: command.delayMs as number };
      return { ok: true };
    case "stats":
      return { ok: true, driver: counters, stack: stack.stats, peer: peer.stats };
    default:
      return { ok: false, error: `unknown command ${command.cmd}` };
  }
}

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
      answer = { ok: false, error: String(error) };
    }
    await Deno.stdout.write(encoder.encode(JSON.stringify(answer) + "\n"));
  }
}
Deno.exit(0);
