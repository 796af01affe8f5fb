/**
 * TCP over the mesh against real tailscaleds (userspace networking) in the
 * same run, on a real Headscale, everything on 127.0.0.1:
 *
 * - Bulk throughput, measured at the receiver from accept to the end of the
 *   stream, median of three runs: citadel → tailscaled (the node API's dial
 *   to tailscaled B, which forwards to a local sink), tailscaled → citadel
 *   (`tailscale nc` on tailscaled A into the node's listener), and the
 *   baseline tailscaled → tailscaled (`tailscale nc` on A to B's forward to
 *   the same sink). Ratios against the baseline; goal ≥ 0.5, then ≥ 1.0.
 *   The tailscaled senders go through `tailscale nc` and tailscaled's local
 *   API, citadel's through its node API in process. For tailscaled →
 *   citadel, the datagrams the node sent meanwhile (its ACKs) too.
 * - Connection set-up: the node API's dial to tailscaled until established,
 *   median and 90th percentile of 200.
 * - CPU per MiB moved, of the sending and the receiving node's process
 *   (user + system time from /proc, Linux): where the time goes, and how
 *   much more a tailscaled spends on a stream that arrives from citadel
 *   (one datagram per syscall, as Deno's UDP API sends) than on one from a
 *   tailscaled, which sends up to 64 segments in one datagram with UDP GSO.
 * - The same baseline between two more tailscaleds with UDP GSO and GRO
 *   turned off (their TS_DEBUG_DISABLE_UDP_GSO/GRO knobs): one datagram per
 *   segment, though still several datagrams per sendmmsg/recvmmsg. A
 *   reference, not the goal's baseline: it shows how much of the gap
 *   segment-sized datagrams alone make.
 * - UDP datagrams the kernel dropped for a full socket receive buffer
 *   during each transfer (median): losses the sender's congestion control
 *   answers.
 * - Memory per open idle connection: the node's heap after a collection
 *   with 200 idle connections open, less before, per connection (goal ≤ 64
 *   KiB).
 *
 * The citadel node runs in a process of its own (tests/interop/
 * mesh_load_driver.ts) so that its heap is its own.
 */
import { startHeadscale } from "../tests/interop/headscale.ts";
import { startMeshDriver } from "../tests/interop/mesh_driver.ts";
import { MiB, PatternSource, startTcpService } from "../tests/interop/mesh_services.ts";
import { processCpuTimes, udpReceiveBufferErrors } from "./process_memory.ts";
import { tailscaleBinary } from "../tests/interop/peers.ts";
import { startTailscaled, type TailscaledNode } from "../tests/interop/tailscaled.ts";
import { median } from "./netmap_bench.ts";

/** CPU milliseconds per MiB moved, of the two node processes of one bulk transfer. */
export interface TransferCpu {
  /** The sending node's process (citadel's includes its in-process application). */
  sender: number;
  /** The receiving node's process. */
  receiver: number;
  /** Of `sender`, the part spent in the kernel (system time). */
  senderSystem: number;
  /** Of `receiver`, the part spent in the kernel (system time). */
  receiverSystem: number;
  /**
   * UDP datagrams the kernel dropped meanwhile for a full socket receive
   * buffer (any socket here; in practice the receiver's): each is a lost
   * segment the sender must retransmit, and its congestion window shrinks.
   */
  udpDrops: number;
}

/** Figures of {@link runMeshTcpBench}. */
export interface MeshTcpBenchResult {
  /** MiB/s, citadel → tailscaled. */
  citadelToTailscaled: number;
  /** MiB/s, tailscaled → citadel. */
  tailscaledToCitadel: number;
  /** Median datagrams the node sent (its ACKs) while receiving one bulk transfer. */
  receiverDatagrams: number;
  /** Median datagrams the node received (tailscaled's ACKs) while sending one bulk transfer. */
  senderDatagrams: number;
  /** MiB/s, tailscaled → tailscaled. */
  tailscaledToTailscaled: number;
  /** MiB/s, tailscaled → tailscaled with UDP GSO and GRO off. */
  tailscaledToTailscaledNoGso: number;
  /** Median ms from dial to established. */
  setupMedianMs: number;
  /** 90th percentile of the same. */
  setupP90Ms: number;
  /** Heap bytes per open idle connection. */
  bytesPerIdleConnection: number;
  /** CPU per MiB (medians) of citadel → tailscaled, tailscaled → citadel and the baseline. */
  cpuPerMiB: {
    citadelToTailscaled: TransferCpu;
    tailscaledToCitadel: TransferCpu;
    baseline: TransferCpu;
    baselineNoGso: TransferCpu;
  };
}

/** Runs `body`, a bulk transfer of `bytes` from `sender` to `receiver` (PIDs); CPU per MiB of each. */
async function measuredCpu<T>(
  sender: number,
  receiver: number,
  bytes: number,
  body: () => Promise<T>,
): Promise<[T, TransferCpu]> {
  const before = [processCpuTimes(sender), processCpuTimes(receiver)];
  const dropsBefore = udpReceiveBufferErrors();
  const result = await body();
  const after = [processCpuTimes(sender), processCpuTimes(receiver)];
  const udpDrops = udpReceiveBufferErrors() - dropsBefore;
  const perMiB = (ms: number) => ms / (bytes / MiB);
  const total = (i: number) =>
    perMiB(after[i].userMs + after[i].systemMs - before[i].userMs - before[i].systemMs);
  const system = (i: number) => perMiB(after[i].systemMs - before[i].systemMs);
  return [result, {
    sender: total(0),
    receiver: total(1),
    senderSystem: system(0),
    receiverSystem: system(1),
    udpDrops,
  }];
}

function medianCpu(runs: TransferCpu[]): TransferCpu {
  return {
    sender: median(runs.map((r) => r.sender)),
    receiver: median(runs.map((r) => r.receiver)),
    senderSystem: median(runs.map((r) => r.senderSystem)),
    receiverSystem: median(runs.map((r) => r.receiverSystem)),
    udpDrops: median(runs.map((r) => r.udpDrops)),
  };
}

const BULK = 32 * MiB;
const RUNS = 3;

/** `tailscale nc` from `from` to `ip:port`, fed `bytes` of pattern; resolves when it exits. */
async function tailscaleNcSend(from: TailscaledNode, ip: string, port: number, bytes: number) {
  const child = new Deno.Command(tailscaleBinary(), {
    args: [`--socket=${from.socketPath}`, "nc", ip, String(port)],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const writer = child.stdin.getWriter();
  const source = new PatternSource(3);
  try {
    for (let sent = 0; sent < bytes; sent += MiB) await writer.write(source.next(MiB));
    await writer.close();
  } catch (error) {
    throw new Error(`tailscale nc ${ip}:${port} stopped reading (${error}): ${await stderr}`);
  }
  const status = await child.status;
  if (!status.success) {
    throw new Error(`tailscale nc ${ip}:${port} failed (${status.code}): ${await stderr}`);
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs the mesh TCP figures against one Headscale version. */
export async function runMeshTcpBench(version: string): Promise<MeshTcpBenchResult> {
  await using hs = await startHeadscale({ version });
  const user = await hs.createUser("bench");
  const sink = startTcpService({ kind: "sink" });
  const hello = startTcpService({ kind: "hello" });
  await using tsA = await startTailscaled({
    headscale: hs,
    authKey: await hs.createPreAuthKey(user),
    hostname: "ts-a",
  });
  await using tsB = await startTailscaled({
    headscale: hs,
    authKey: await hs.createPreAuthKey(user),
    hostname: "ts-b",
  });
  // One datagram per segment, as citadel sends (tailscale's net/batching knobs).
  const noGso = { TS_DEBUG_DISABLE_UDP_GSO: "1", TS_DEBUG_DISABLE_UDP_GRO: "1" };
  await using tsC = await startTailscaled({
    headscale: hs,
    authKey: await hs.createPreAuthKey(user),
    hostname: "ts-c-nogso",
    env: noGso,
  });
  await using tsD = await startTailscaled({
    headscale: hs,
    authKey: await hs.createPreAuthKey(user),
    hostname: "ts-d-nogso",
    env: noGso,
  });
  const ipB = await tsB.ip();
  const ipD = await tsD.ip();
  const { driver, ip: citadelIP } = await startMeshDriver(
    hs.url,
    await hs.createPreAuthKey(user),
    "citadel",
    ipB,
  );
  try {
    await tsA.waitForPeer("citadel");
    await tsA.waitForPeer("ts-b");
    // Warm the paths up (handshakes, direct paths) before timing anything.
    await driver.call({ cmd: "short", count: 20, port: hello.port }, 60_000);
    await tailscaleNcSend(tsA, ipB, sink.port, MiB);
    await tsC.waitForPeer("ts-d-nogso");
    await tailscaleNcSend(tsC, ipD, sink.port, MiB);
    await driver.call({ cmd: "listen", port: 9199 });
    await tailscaleNcSend(tsA, citadelIP, 9199, MiB);
    await driver.call({ cmd: "accepted" }, 60_000);

    const rate = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
    const c2t: number[] = [];
    const t2c: number[] = [];
    const receiverDatagrams: number[] = [];
    const senderDatagrams: number[] = [];
    const t2t: number[] = [];
    const t2tNoGso: number[] = [];
    const cpu = {
      c2t: [] as TransferCpu[],
      t2c: [] as TransferCpu[],
      t2t: [] as TransferCpu[],
      t2tNoGso: [] as TransferCpu[],
    };
    const pid = (node: TailscaledNode) => {
      if (node.pid === undefined) throw new Error(`${node.hostname} is not running`);
      return node.pid;
    };
    // CITADEL_PROFILE_DIR: a CPU profile of the node's process for each direction of the first run.
    const profileDir = Deno.env.get("CITADEL_PROFILE_DIR");
    const profiled = async <T>(run: number, name: string, body: () => Promise<T>): Promise<T> => {
      if (!profileDir || run > 0) return await body();
      await driver.call({ cmd: "profile-start" });
      const result = await body();
      await driver.call({ cmd: "profile-stop", path: `${profileDir}/${name}.cpuprofile` });
      return result;
    };
    // `tailscale nc` on `from` into `to`'s forward to the sink: MiB/s and CPU per MiB.
    const tailscaledToTailscaled = async (
      from: TailscaledNode,
      to: TailscaledNode,
      toIP: string,
      variant: string,
    ) => {
      const before = sink.done.length;
      const [served, transferCpu] = await measuredCpu(pid(from), pid(to), BULK, async () => {
        await tailscaleNcSend(from, toIP, sink.port, BULK);
        return await waitFor("the sink", () => sink.done[before]);
      });
      if (served.received !== BULK) {
        throw new Error(
          `tailscaled → tailscaled${variant} moved ${served.received} of ${BULK} bytes`,
        );
      }
      return { rate: rate(BULK, served.elapsedMs), cpu: transferCpu };
    };
    for (let run = 0; run < RUNS; run++) {
      const [upload, upCpu] = await measuredCpu(driver.pid, pid(tsB), BULK, () =>
        profiled(
          run,
          "citadel-to-tailscaled",
          () => driver.call({ cmd: "upload", bytes: BULK, port: sink.port }, 300_000),
        ));
      cpu.c2t.push(upCpu);
      const served = sink.done.at(-1)!;
      if (upload.bytes !== BULK || served.received !== BULK) {
        throw new Error(`citadel → tailscaled moved ${served.received} of ${BULK} bytes`);
      }
      c2t.push(rate(BULK, served.elapsedMs));
      senderDatagrams.push(upload.datagramsReceived as number);

      const port = 9200 + run;
      await driver.call({ cmd: "listen", port });
      const [received, downCpu] = await measuredCpu(
        pid(tsA),
        driver.pid,
        BULK,
        () =>
          profiled(run, "tailscaled-to-citadel", async () => {
            await tailscaleNcSend(tsA, citadelIP, port, BULK);
            return await driver.call({ cmd: "accepted" }, 300_000);
          }),
      );
      cpu.t2c.push(downCpu);
      if (received.bytes !== BULK) {
        throw new Error(`tailscaled → citadel moved ${received.bytes} of ${BULK} bytes`);
      }
      t2c.push(rate(BULK, received.ms as number));
      receiverDatagrams.push(received.datagramsSent as number);

      const baseline = await tailscaledToTailscaled(tsA, tsB, ipB, "");
      t2t.push(baseline.rate);
      cpu.t2t.push(baseline.cpu);
      const plain = await tailscaledToTailscaled(tsC, tsD, ipD, " with GSO/GRO off");
      t2tNoGso.push(plain.rate);
      cpu.t2tNoGso.push(plain.cpu);
    }

    const setup = await driver.call({ cmd: "short", count: 200, port: hello.port }, 120_000);
    const hold = await driver.call({ cmd: "hold", count: 200, port: sink.port }, 120_000);
    await driver.call({ cmd: "release" });
    return {
      citadelToTailscaled: median(c2t),
      tailscaledToCitadel: median(t2c),
      receiverDatagrams: median(receiverDatagrams),
      senderDatagrams: median(senderDatagrams),
      tailscaledToTailscaled: median(t2t),
      tailscaledToTailscaledNoGso: median(t2tNoGso),
      setupMedianMs: setup.setupMedianMs as number,
      setupP90Ms: setup.setupP90Ms as number,
      bytesPerIdleConnection: hold.perConnection as number,
      cpuPerMiB: {
        citadelToTailscaled: medianCpu(cpu.c2t),
        tailscaledToCitadel: medianCpu(cpu.t2c),
        baseline: medianCpu(cpu.t2t),
        baselineNoGso: medianCpu(cpu.t2tNoGso),
      },
    };
  } finally {
    await driver.stop();
    await sink.close();
    await hello.close();
  }
}
