/**
 * `./dev bench`: every benchmark, against the real peers in the same run,
 * printed as `name value unit` lines and ratios with their goals.
 */
import { readPeerPins } from "../tests/interop/peers.ts";
import { runFakeControlBench } from "./fake_control_bench.ts";
import { runJobLoopBench } from "./job_loop_bench.ts";
import { runNetmapBench } from "./netmap_bench.ts";
import { runStartupBench } from "./startup_bench.ts";
import { runWireGuardBench } from "./wireguard_bench.ts";
import { runMeshTcpBench } from "./mesh_tcp_bench.ts";

const line = (name: string, value: string, goal: string, ok: boolean) =>
  console.log(`${name.padEnd(44)} ${value.padStart(14)}   goal ${goal}${ok ? "" : "   (missed)"}`);

/** Sections that failed: reported where they stand; the run goes on and exits 1 at the end. */
let failedSections = 0;
const failed = (what: string, e: unknown) => {
  failedSections++;
  console.log(`${what} FAILED: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
};

if (Deno.args[0] === "mesh") {
  await meshSection().catch((e) => failed("TCP over the mesh", e));
  Deno.exit(failedSections > 0 ? 1 : 0);
}

console.log("Start-up from saved state to netmap, median of 10 (vs tailscaled in the same run)");
for (const version of readPeerPins().headscaleVersions) {
  let r;
  try {
    r = await runStartupBench(version);
  } catch (e) {
    failed(`startup (headscale ${version})`, e);
    continue;
  }
  line(`startup citadel (headscale ${version})`, `${r.citadelMs.toFixed(0)} ms`, "", true);
  line(`startup tailscaled (headscale ${version})`, `${r.tailscaledMs.toFixed(0)} ms`, "", true);
  line(`startup ratio citadel/tailscaled`, r.ratio.toFixed(2), "≤ 1.00", r.ratio <= 1);
  line(
    `online at Headscale, citadel work (${version})`,
    `${r.citadelOnlineMs.toFixed(0)} ms`,
    "",
    true,
  );
  line(
    `online at Headscale, tailscaled (${version})`,
    `${r.tailscaledOnlineMs.toFixed(0)} ms`,
    "",
    true,
  );
  line(`online ratio citadel/tailscaled`, r.onlineRatio.toFixed(2), "≤ 1.00", r.onlineRatio <= 1);
}

console.log(
  "  (tailscaled's Running comes from its disk-cached netmap, citadel's figure waits for the live map;\n" +
    "   'online at Headscale' times the live map session of both the same way, median of 5)",
);

console.log("\nNetmap of 10,000 peers");
const netmap = await runNetmapBench();
line(
  "decode+apply (MapFrameDecoder + Netmap)",
  `${netmap.applyMs.toFixed(0)} ms`,
  "< 1000 ms",
  netmap.applyMs < 1000,
);
line(
  "heap per peer (Netmap)",
  `${netmap.heapPerPeerBytes.toFixed(0)} B`,
  "≤ 65536 B",
  netmap.heapPerPeerBytes <= 65536,
);
const fake = await runFakeControlBench();
line(
  "start→netmap via in-process fake ts2021 server",
  `${fake.startToNetmapMs.toFixed(0)} ms`,
  "< 1000 ms",
  fake.startToNetmapMs < 1000,
);
line(
  "heap per peer (CitadelNode)",
  `${fake.heapPerPeerBytes.toFixed(0)} B`,
  "≤ 65536 B",
  fake.heapPerPeerBytes <= 65536,
);

console.log("\nWireGuard transport, 1420-byte packets, in process (no peer to compare with yet)");
const wg = await runWireGuardBench();
for (const [name, figure] of Object.entries(wg)) {
  console.log(
    `${`wireguard ${name}`.padEnd(44)} ${
      `${(figure.packetsPerSecond / 1000).toFixed(1)} kpkt/s`.padStart(14)
    }   ${figure.gbitPerSecond.toFixed(2)} Gbit/s`,
  );
}

console.log(
  "\nJob loop through bin/citadel work: Redis through the mesh (tailscaled's localhost) vs direct " +
    "on localhost, same run",
);
{
  const version = readPeerPins().headscaleVersions[0];
  const jobs = await runJobLoopBench(version).catch((e) => failed("job loop", e));
  if (jobs) {
    const rate = (n: number) => `${n.toFixed(0)} jobs/s`;
    const plain = (name: string, value: string) =>
      console.log(`${name.padEnd(44)} ${value.padStart(14)}`);
    for (
      const [kind, f] of [["shell (true)", jobs.shell], ["http to 127.0.0.1", jobs.http]] as const
    ) {
      plain(`${kind}, Redis direct`, rate(f.direct));
      plain(`${kind}, Redis over the mesh`, rate(f.mesh));
      plain(`${kind}, ratio mesh/direct`, f.ratio.toFixed(2));
    }
    plain("http through the mesh, Redis over the mesh", rate(jobs.httpOverMesh));
    console.log(
      `  (headscale ${version}, --concurrency ${jobs.concurrency}, median of 3 rounds of ` +
        `${jobs.shell.jobs} shell / ${jobs.http.jobs} http jobs; path to tailscaled: ${jobs.meshPath})`,
    );
  }
}
await meshSection().catch((e) => failed("TCP over the mesh", e));
if (failedSections > 0) Deno.exit(1);

/** TCP over the mesh against tailscaleds in the same run (bench/mesh_tcp_bench.ts). */
async function meshSection(): Promise<void> {
  const version = readPeerPins().headscaleVersions[0];
  console.log(
    `\nTCP over the mesh, 32 MiB, median of 3 (vs tailscaled→tailscaled, headscale ${version})`,
  );
  const r = await runMeshTcpBench(version);
  const mib = (x: number) => `${x.toFixed(1)} MiB/s`;
  line("bulk tailscaled→tailscaled (baseline)", mib(r.tailscaledToTailscaled), "", true);
  line("bulk citadel→tailscaled", mib(r.citadelToTailscaled), "", true);
  line("bulk tailscaled→citadel", mib(r.tailscaledToCitadel), "", true);
  const up = r.citadelToTailscaled / r.tailscaledToTailscaled;
  const down = r.tailscaledToCitadel / r.tailscaledToTailscaled;
  line("ratio citadel→ts / ts→ts", up.toFixed(2), "≥ 0.5, then ≥ 1.0", up >= 0.5);
  line("ratio ts→citadel / ts→ts", down.toFixed(2), "≥ 0.5, then ≥ 1.0", down >= 0.5);
  line("connection set-up, median", `${r.setupMedianMs.toFixed(2)} ms`, "", true);
  line("connection set-up, p90", `${r.setupP90Ms.toFixed(2)} ms`, "", true);
  line(
    "memory per open idle connection",
    `${(r.bytesPerIdleConnection / 1024).toFixed(1)} KiB`,
    "≤ 64 KiB",
    r.bytesPerIdleConnection <= 64 * 1024,
  );
}
