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
import { tailscaleBinary } from "../tests/interop/peers.ts";
import { startTailscaled, type TailscaledNode } from "../tests/interop/tailscaled.ts";
import { median } from "./netmap_bench.ts";

/** Figures of {@link runMeshTcpBench}. */
export interface MeshTcpBenchResult {
  /** MiB/s, citadel → tailscaled. */
  citadelToTailscaled: number;
  /** MiB/s, tailscaled → citadel. */
  tailscaledToCitadel: number;
  /** Median datagrams the node sent (its ACKs) while receiving one bulk transfer. */
  receiverDatagrams: number;
  /** MiB/s, tailscaled → tailscaled. */
  tailscaledToTailscaled: number;
  /** Median ms from dial to established. */
  setupMedianMs: number;
  /** 90th percentile of the same. */
  setupP90Ms: number;
  /** Heap bytes per open idle connection. */
  bytesPerIdleConnection: number;
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
  const ipB = await tsB.ip();
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
    await driver.call({ cmd: "listen", port: 9199 });
    await tailscaleNcSend(tsA, citadelIP, 9199, MiB);
    await driver.call({ cmd: "accepted" }, 60_000);

    const rate = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
    const c2t: number[] = [];
    const t2c: number[] = [];
    const receiverDatagrams: number[] = [];
    const t2t: number[] = [];
    // CITADEL_PROFILE_DIR: a CPU profile of the node's process for each direction of the first run.
    const profileDir = Deno.env.get("CITADEL_PROFILE_DIR");
    const profiled = async <T>(run: number, name: string, body: () => Promise<T>): Promise<T> => {
      if (!profileDir || run > 0) return await body();
      await driver.call({ cmd: "profile-start" });
      const result = await body();
      await driver.call({ cmd: "profile-stop", path: `${profileDir}/${name}.cpuprofile` });
      return result;
    };
    for (let run = 0; run < RUNS; run++) {
      const upload = await profiled(
        run,
        "citadel-to-tailscaled",
        () => driver.call({ cmd: "upload", bytes: BULK, port: sink.port }, 300_000),
      );
      const served = sink.done.at(-1)!;
      if (upload.bytes !== BULK || served.received !== BULK) {
        throw new Error(`citadel → tailscaled moved ${served.received} of ${BULK} bytes`);
      }
      c2t.push(rate(BULK, served.elapsedMs));

      const port = 9200 + run;
      await driver.call({ cmd: "listen", port });
      const received = await profiled(run, "tailscaled-to-citadel", async () => {
        await tailscaleNcSend(tsA, citadelIP, port, BULK);
        return await driver.call({ cmd: "accepted" }, 300_000);
      });
      if (received.bytes !== BULK) {
        throw new Error(`tailscaled → citadel moved ${received.bytes} of ${BULK} bytes`);
      }
      t2c.push(rate(BULK, received.ms as number));
      receiverDatagrams.push(received.datagramsSent as number);

      const before = sink.done.length;
      await tailscaleNcSend(tsA, ipB, sink.port, BULK);
      const baseline = await waitFor("the sink", () => sink.done[before]);
      if (baseline.received !== BULK) {
        throw new Error(`tailscaled → tailscaled moved ${baseline.received} of ${BULK} bytes`);
      }
      t2t.push(rate(BULK, baseline.elapsedMs));
    }

    const setup = await driver.call({ cmd: "short", count: 200, port: hello.port }, 120_000);
    const hold = await driver.call({ cmd: "hold", count: 200, port: sink.port }, 120_000);
    await driver.call({ cmd: "release" });
    return {
      citadelToTailscaled: median(c2t),
      tailscaledToCitadel: median(t2c),
      receiverDatagrams: median(receiverDatagrams),
      tailscaledToTailscaled: median(t2t),
      setupMedianMs: setup.setupMedianMs as number,
      setupP90Ms: setup.setupP90Ms as number,
      bytesPerIdleConnection: hold.perConnection as number,
    };
  } finally {
    await driver.stop();
    await sink.close();
    await hello.close();
  }
}
