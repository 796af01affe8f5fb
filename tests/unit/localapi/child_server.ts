/**
 * Starts serve_child.ts as a child process (optionally under a shell's
 * `ulimit -n` or `umask`) and reads what it says, for the tests that watch
 * the local API from outside: its memory and descriptors in /proc.
 */
import type { ChildOptions } from "./serve_child.ts";

/** A running child server. */
export interface ChildServer {
  /** Its process id (the shell `exec`s Deno, so this is Deno's). */
  pid: number;
  /** The socket. */
  path: string;
  /** What it recorded at bind time, when asked to. */
  bind?: { dir: string; dirMode: number; dirUid: number; socketModeAtBind: number };
  /** Whether it still runs. */
  alive(): boolean;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM; resolves with its final counters and exit code. */
  stop(): Promise<{ code: number; final: Record<string, unknown> | null }>;
}

const CHILD = new URL("./serve_child.ts", import.meta.url).pathname;

/** A `/proc/<pid>/status` field in KiB (VmRSS, VmHWM, …). */
export function procStatusKiB(pid: number, field: string): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(text);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]);
}

/** How many file descriptors `pid` has open. */
export function openDescriptors(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/** Starts the child; `shellPrefix` runs first in bash (e.g. `ulimit -n 1024`). */
export async function startChildServer(
  options: ChildOptions,
  shellPrefix = "",
): Promise<ChildServer> {
  const deno = Deno.execPath();
  const script = `${shellPrefix}${shellPrefix ? "; " : ""}exec "$0" run --quiet --allow-all ` +
    `"$1" "$2"`;
  const child = new Deno.Command("bash", {
    args: ["-c", script, deno, CHILD, JSON.stringify(options)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const decoder = new TextDecoder();
  let stderrText = "";
  const stderrDone = (async () => {
    for await (const chunk of child.stderr) stderrText += decoder.decode(chunk);
  })();
  const lines: string[] = [];
  const wake = { waiting: null as (() => void) | null };
  const stdoutDone = (async () => {
    let buffer = "";
    for await (const chunk of child.stdout) {
      buffer += decoder.decode(chunk);
      let newline;
      while ((newline = buffer.indexOf("\n")) !== -1) {
        lines.push(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        wake.waiting?.();
      }
    }
    wake.waiting?.();
  })();
  const deadline = Date.now() + 30_000;
  while (lines.length === 0) {
    if (exited || Date.now() > deadline) {
      await status;
      await stderrDone;
      throw new Error(`the child server did not start:\n${stderrText}`);
    }
    await new Promise<void>((resolve) => {
      wake.waiting = resolve;
      setTimeout(resolve, 100);
    });
  }
  const ready = JSON.parse(lines[0]);
  return {
    pid: ready.pid,
    path: ready.path,
    bind: ready.bind,
    alive: () => !exited,
    stderr: () => stderrText,
    async stop() {
      if (!exited) child.kill("SIGTERM");
      const { code } = await status;
      await stdoutDone;
      await stderrDone;
      const last = lines.length > 1 ? lines.at(-1)! : null;
      return { code, final: last ? JSON.parse(last) : null };
    },
  };
}
