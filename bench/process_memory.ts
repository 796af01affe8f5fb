/**
 * Resident memory of processes, from Linux's `/proc/<pid>/status`, and the
 * floor any Deno program pays: the RSS of `deno run` of an empty script,
 * and of a script that only imports Citadel's modules (main.ts's whole
 * graph, nothing run). With those two beside it, a node's RSS can be read
 * as floor + what the node itself holds.
 *
 * @module
 */
import { REPO_ROOT } from "../tests/interop/peers.ts";

/** Resident memory of one process, in bytes. */
export interface ProcessMemory {
  /** Resident set size now (`VmRSS`). */
  rssBytes: number;
  /** The highest RSS so far (`VmHWM`). */
  peakBytes: number;
}

/** Reads `VmRSS` and `VmHWM` of `pid`; throws when the process is gone. */
export function processMemory(pid: number): ProcessMemory {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (field: string) => {
    const match = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: kib("VmRSS"), peakBytes: kib("VmHWM") };
}

/** Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time `pid` has used so far, in milliseconds: in user space and in the kernel. */
export function processCpuTimes(pid: number): { userMs: number; systemMs: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start at field 3 (state).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]), stime = Number(fields[12]);
  const ms = (ticks: number) => (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  return { userMs: ms(utime), systemMs: ms(stime) };
}

/**
 * UDP datagrams the kernel has dropped so far because a socket's receive
 * buffer was full (`RcvbufErrors` of /proc/net/snmp): every socket in this
 * network namespace, Linux only.
 */
export function udpReceiveBufferErrors(): number {
  const lines = Deno.readTextFileSync("/proc/net/snmp").split("\n").filter((l) =>
    l.startsWith("Udp: ")
  );
  const names = lines[0].split(/\s+/), values = lines[1].split(/\s+/);
  return Number(values[names.indexOf("RcvbufErrors")]);
}

/** CPU time (user + system) `pid` has used so far, in milliseconds. */
export function processCpuMs(pid: number): number {
  const { userMs, systemMs } = processCpuTimes(pid);
  return userMs + systemMs;
}

/** The Deno floor, measured the way a node is: an outside read of a running process. */
export interface DenoFloor {
  /** `deno run` of a script that only waits. */
  emptyScript: ProcessMemory;
  /** `deno run` of a script that imports main.ts (every command and module) and waits. */
  importsOnly: ProcessMemory;
}

async function idleScriptMemory(source: string, settleMs: number): Promise<ProcessMemory> {
  const dir = await Deno.makeTempDir({ prefix: "citadel-bench-floor-" });
  try {
    const path = `${dir}/script.ts`;
    await Deno.writeTextFile(
      path,
      `${source}\nconsole.log("ready");\nsetInterval(() => {}, 60_000);\n`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      // The flags bin/citadel gives main.ts, so that the same config and lock apply.
      args: [
        "run",
        "--quiet",
        "--no-prompt",
        "--config",
        `${REPO_ROOT}/deno.json`,
        "--allow-all",
        path,
      ],
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
    }).spawn();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("ready")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("the floor script exited before it was ready");
        text += value;
      }
      reader.releaseLock();
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      return processMemory(child.pid);
    } finally {
      child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Measures the {@link DenoFloor}, each process given `settleMs` after it is ready. */
export async function denoFloor(settleMs = 2_000): Promise<DenoFloor> {
  return {
    emptyScript: await idleScriptMemory("", settleMs),
    importsOnly: await idleScriptMemory(
      `import ${JSON.stringify(new URL("../main.ts", import.meta.url).href)};`,
      settleMs,
    ),
  };
}

/** Bytes as MB with one decimal (10^6, as `ps` and most dashboards show RSS). */
export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

if (import.meta.main) {
  const floor = await denoFloor();
  console.log(
    `empty script ${megabytes(floor.emptyScript.rssBytes)}, ` +
      `imports only ${megabytes(floor.importsOnly.rssBytes)}`,
  );
}
