/**
 * WireGuard packets per second over a direct path on loopback, into a real
 * tailscaled (the receiver), from two senders in the same run:
 * - citadel: a node in this process (`CitadelNode`, direct UDP on
 *   127.0.0.1) sends UDP datagrams from its own stack to the receiver's
 *   mesh IP: stack → packet pipeline → WireGuard → magicsock's socket;
 * - tailscaled: another tailscaled sends the same datagrams from its
 *   netstack, fed through its SOCKS5 UDP relay (`--socks5-server`).
 *
 * Each sender offers a burst of {@link BURST} datagrams of
 * {@link PAYLOAD_BYTES} bytes as fast as it takes them. What arrives is
 * counted by the receiver itself: its `tailscaled_inbound_packets_total`
 * for the direct path (WireGuard datagrams taken by its magicsock), and a
 * UDP sink behind it (tailscaled in userspace mode forwards UDP for its own
 * IP to 127.0.0.1), which counts the datagrams that came out decrypted. The
 * rate is what arrived over the time from the first send to the last
 * arrival. The tailscaled sender has one more hop (the relay socket)
 * than citadel's, which sends from inside the process: the comparison is of
 * each as an application would use it.
 *
 * @module
 */
import { CitadelNode } from "../network/node.ts";
import { AddrPort } from "../network/netaddr/addr_port.ts";
import { parseIPAddress } from "../network/netaddr/ip_address.ts";
import { MemoryStateStore } from "../state/memory_store.ts";
import { freeTcpPort, freeUdpPort } from "../tests/interop/free_port.ts";
import { startHeadscale } from "../tests/interop/headscale.ts";
import { startTailscaled, type TailscaledNode } from "../tests/interop/tailscaled.ts";
import { localApiPing, userMetrics } from "../tests/interop/tailscaled_localapi.ts";
import { medianOf } from "./direct_bench.ts";
import { socks5UdpAssociate } from "./socks5_udp.ts";

/** Datagrams per burst. */
export const BURST = 30_000;
/** UDP payload bytes (a 1228-byte IP packet: under Tailscale's 1280 MTU). */
export const PAYLOAD_BYTES = 1200;
/** Datagrams handed over between two yields to the event loop. */
const BATCH = 64;
/** The burst is over once the receiver's counter has not moved for this long. */
const QUIET_MS = 400;
const POLL_MS = 20;
const DIRECT_METRIC = 'tailscaled_inbound_packets_total{path="direct_ipv4"}';

/** One burst's outcome. */
export interface BurstFigures {
  /** WireGuard datagrams the receiver took over the direct path. */
  arrived: number;
  /** Datagrams its UDP sink got, decrypted and forwarded. */
  delivered: number;
  /** Milliseconds the sender took to take the whole burst. */
  offerMs: number;
  /** Milliseconds from the first send to the last arrival. */
  spanMs: number;
  /** arrived / spanMs, per second; NaN when nothing arrived. */
  packetsPerSecond: number;
}

/** Figures of {@link runLoopbackThroughputBench}. */
export interface LoopbackThroughputResult {
  /** Headscale version used. */
  headscaleVersion: string;
  /** Each burst from the citadel node. */
  citadel: BurstFigures[];
  /** Each burst from the tailscaled. */
  tailscaled: BurstFigures[];
  /** Median packets/s of the citadel sender (bursts with arrivals only). */
  citadelPps: number;
  /** Median packets/s of the tailscaled sender. */
  tailscaledPps: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A macrotask yield without the 4 ms clamp of nested timers. */
function yielder(): { next: () => Promise<void>; close: () => void } {
  const channel = new MessageChannel();
  let pending: (() => void) | undefined;
  channel.port1.onmessage = () => {
    const resolve = pending;
    pending = undefined;
    resolve?.();
  };
  return {
    next: () =>
      new Promise<void>((resolve) => {
        pending = resolve;
        channel.port2.postMessage(0);
      }),
    close: () => {
      channel.port1.close();
      channel.port2.close();
    },
  };
}

/** A child process that counts UDP datagrams on 127.0.0.1:port into a file. */
async function startSink(
  port: number,
): Promise<{ count: () => number; stop: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "citadel-bench-sink-" });
  const script = `${dir}/sink.ts`;
  const countFile = `${dir}/count`;
  await Deno.writeTextFile(
    script,
    `const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: ${port} });
let n = 0, written = -1;
setInterval(() => { if (n !== written) { Deno.writeTextFileSync(${
      JSON.stringify(countFile)
    }, String(n)); written = n; } }, 10);
console.log("ready");
for (;;) { await conn.receive(); n++; }
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-net", "--allow-write", "--unstable-net", script],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the UDP sink exited");
    text += value;
  }
  reader.releaseLock();
  return {
    count: () => {
      try {
        return Number(Deno.readTextFileSync(countFile));
      } catch {
        return 0;
      }
    },
    stop: async () => {
      child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Runs one burst through `offer`, counting at `receiver`. */
async function burst(
  receiver: TailscaledNode,
  sink: { count: () => number },
  offer: () => Promise<void>,
): Promise<BurstFigures> {
  const arrivedNow = async () => (await userMetrics(receiver.socketPath)).get(DIRECT_METRIC) ?? 0;
  const before = await arrivedNow();
  const deliveredBefore = sink.count();
  const t0 = performance.now();
  const offered = offer().then(() => performance.now() - t0);
  let last = before, lastChange = t0;
  for (;;) {
    await sleep(POLL_MS);
    const now = await arrivedNow();
    if (now !== last) {
      last = now;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > QUIET_MS && performance.now() - t0 > QUIET_MS) {
      break;
    }
  }
  const offerMs = await offered;
  await sleep(100); // the sink writes its count every 10 ms
  const spanMs = Math.max(lastChange - t0, offerMs);
  const arrived = last - before;
  return {
    arrived,
    delivered: sink.count() - deliveredBefore,
    offerMs,
    spanMs,
    // A burst of which nothing arrived measured no rate (a failed burst, left out).
    packetsPerSecond: arrived > 0 ? arrived / (spanMs / 1000) : NaN,
  };
}

/** Measures `rounds` bursts from each sender, alternating, against one Headscale version. */
export async function runLoopbackThroughputBench(
  version: string,
  rounds = 3,
): Promise<LoopbackThroughputResult> {
  await using nexus = await startHeadscale({ version });
  const user = await nexus.createUser("bench");
  const key = await nexus.createPreAuthKey(user, { reusable: true });
  await using receiver = await startTailscaled({ headscale: nexus, authKey: key, hostname: "rx" });
  const socksPort = freeTcpPort();
  await using sender = await startTailscaled({
    headscale: nexus,
    authKey: key,
    hostname: "tx",
    daemonArgs: [`--socks5-server=127.0.0.1:${socksPort}`],
  });
  const node = new CitadelNode({
    controlURL: nexus.url,
    store: new MemoryStateStore(),
    authKey: key,
    hostname: "citadel-tx",
    dataPlane: {
      plainHTTPDerp: nexus.url.startsWith("http:"),
      udp: { hostname: "127.0.0.1", advertise: "loopback-only" },
    },
  });
  const sinkPort = freeUdpPort();
  const sink = await startSink(sinkPort);
  const pace = yielder();
  try {
    await node.start();
    const rxIP = await receiver.ip();
    // Direct paths and WireGuard sessions first, so that no burst waits for a handshake.
    for (let i = 0;; i++) {
      const r = await node.ping(rxIP, { type: "disco", timeoutMs: 2_000 }).catch(() => null);
      if (r?.path === "direct") break;
      if (i > 30) throw new Error("citadel never reached the receiver directly");
    }
    await node.ping(rxIP, { type: "icmp", timeoutMs: 5_000 });
    for (let i = 0;; i++) {
      const r = await localApiPing(sender.socketPath, rxIP, "disco", 2_000);
      if (r?.Endpoint) break;
      if (i > 30) throw new Error("the tailscaled sender never reached the receiver directly");
    }
    await localApiPing(sender.socketPath, rxIP, "ICMP", 5_000);

    const payload = new Uint8Array(PAYLOAD_BYTES).fill(0x5a);
    const socket = node.listenPacket(freeUdpPort());
    const to = new AddrPort(parseIPAddress(rxIP)!, sinkPort);
    const result: LoopbackThroughputResult = {
      headscaleVersion: version,
      citadel: [],
      tailscaled: [],
      citadelPps: 0,
      tailscaledPps: 0,
    };
    try {
      for (let round = 0; round < rounds; round++) {
        result.citadel.push(
          await burst(receiver, sink, async () => {
            for (let i = 0; i < BURST; i++) {
              await socket.send(payload, to);
              if (i % BATCH === BATCH - 1) await pace.next();
            }
          }),
        );
        // A fresh association each time: one that tailscaled has dropped takes nothing in.
        const association = await socks5UdpAssociate(socksPort);
        try {
          result.tailscaled.push(
            await burst(receiver, sink, async () => {
              let batch: Promise<number>[] = [];
              for (let i = 0; i < BURST; i++) {
                batch.push(association.send(payload, rxIP, sinkPort));
                if (batch.length === BATCH) {
                  await Promise.all(batch);
                  batch = [];
                }
              }
              await Promise.all(batch);
            }),
          );
        } finally {
          association.close();
        }
      }
    } finally {
      socket.close();
    }
    result.citadelPps = medianOf(result.citadel.map((b) => b.packetsPerSecond));
    result.tailscaledPps = medianOf(result.tailscaled.map((b) => b.packetsPerSecond));
    return result;
  } finally {
    pace.close();
    await node.close();
    await sink.stop();
  }
}

if (import.meta.main) {
  const { readPeerPins } = await import("../tests/interop/peers.ts");
  console.log(
    JSON.stringify(await runLoopbackThroughputBench(readPeerPins().headscaleVersions[0]), null, 1),
  );
}
