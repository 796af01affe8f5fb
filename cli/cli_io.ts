/**
 * Everything the CLI needs from the outside world, injected so that tests run
 * `runCli` in-process with fake streams, environment, prompts, signals and
 * time.
 *
 * @module
 */
import type { HeldPermissions, ProcessReport } from "../localapi/protocol.ts";
import { type Clock, systemClock } from "../network/clock.ts";
import {
  heldPermissions,
  type KeptPermissions,
  shedPermissions,
  UndeclaredAccessError,
} from "./permissions.ts";
import { RejectionGuard } from "./rejection_guard.ts";

/** A text sink (stdout or stderr). Writes are synchronous so lines keep their order. */
export interface TextWriter {
  /** Writes `text` as is (no newline added). */
  write(text: string): void;
}

/** The signals `citadel` reacts to. */
export type CliSignal = "SIGINT" | "SIGTERM";

/** Delivers termination signals; `work` and the long-running commands subscribe. */
export interface SignalSource {
  /**
   * Calls `listener` for each SIGINT/SIGTERM until the returned function is
   * called. While subscribed, the default action (terminating) is suppressed.
   */
  subscribe(listener: (signal: CliSignal) => void): () => void;
}

/** Which standard streams are terminals. */
export interface TtyFlags {
  /** stdin is a terminal (prompts can be answered). */
  stdin: boolean;
  /** stdout is a terminal. */
  stdout: boolean;
  /** stderr is a terminal (spinners and colours on stderr). */
  stderr: boolean;
}

/** The process's Deno permissions and its guard against unhandled promise rejections. */
export interface ProcessControl {
  /** Revokes every permission `keep` does not name (cli/permissions.ts). */
  shedPermissions(keep: KeptPermissions): void;
  /** What the process holds now. */
  heldPermissions(): HeldPermissions;
  /** Installs the process-level unhandled-rejection handler (once); each one is logged by `log`. */
  guardRejections(log: (line: string) => void): void;
  /** This process's report, running `command`: its pid, permissions and rejections caught. */
  report(command: string): ProcessReport;
}

/** Standard input and output as bytes, for commands that carry a stream (`nc`). */
export interface ByteStdio {
  /** Reads stdin into `p`: bytes read, or null at its end. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p` to stdout. */
  write(p: Uint8Array): Promise<number>;
  /** Closes stdout (whoever reads it sees its end). */
  closeWrite(): Promise<void>;
}

/** The injected I/O of one `runCli` call. */
export interface CliIO {
  /** Standard output: command results (data). */
  stdout: TextWriter;
  /** Standard error: progress, prompts, warnings and errors. */
  stderr: TextWriter;
  /** Terminal flags of the three streams. */
  isTTY: TtyFlags;
  /** Reads an environment variable; undefined when unset. */
  env(name: string): string | undefined;
  /** Reads one line from stdin without its line ending; null at end of input. */
  readLine(): Promise<string | null>;
  /** Standard input and output as bytes. */
  stdio: ByteStdio;
  /** Termination signals. */
  signals: SignalSource;
  /** Time and timers. */
  clock: Clock;
  /** Permissions and the unhandled-rejection guard of the process. */
  process: ProcessControl;
}

function writerFor(stream: { writeSync(p: Uint8Array): number }): TextWriter {
  const encoder = new TextEncoder();
  return {
    write(text: string) {
      let bytes = encoder.encode(text);
      while (bytes.length > 0) {
        const n = stream.writeSync(bytes);
        bytes = bytes.subarray(n);
      }
    },
  };
}

async function readStdinLine(): Promise<string | null> {
  // Byte by byte, so nothing after the newline is consumed from the shared stdin.
  const decoder = new TextDecoder();
  const byte = new Uint8Array(1);
  const bytes: number[] = [];
  while (true) {
    const n = await Deno.stdin.read(byte);
    if (n === null) return bytes.length > 0 ? decoder.decode(new Uint8Array(bytes)) : null;
    if (n === 0) continue;
    if (byte[0] === 0x0a) break;
    bytes.push(byte[0]);
  }
  return decoder.decode(new Uint8Array(bytes)).replace(/\r$/, "");
}

/** The process's stdin and stdout as bytes. */
const denoStdio: ByteStdio = {
  read: (p) => Deno.stdin.read(p),
  write: (p) => Deno.stdout.write(p),
  closeWrite: () => {
    try {
      Deno.stdout.close();
    } catch {
      // Already closed.
    }
    return Promise.resolve();
  },
};

/** Deno's signal listeners; SIGTERM is skipped where the platform has none (Windows). */
const denoSignals: SignalSource = {
  subscribe(listener) {
    const removers: Array<() => void> = [];
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const handler = () => listener(signal);
      try {
        Deno.addSignalListener(signal, handler);
        removers.push(() => Deno.removeSignalListener(signal, handler));
      } catch {
        // Not supported on this platform (SIGTERM on Windows).
      }
    }
    return () => removers.forEach((remove) => remove());
  },
};

/** One guard per process, however many times `runCli` runs in it. */
const rejectionGuard = new RejectionGuard();
/** Whether this process has shed permissions (a denied read is then a bug, not "unset"). */
let permissionsShed = false;

/** The real process: `Deno.permissions` and a handler on `globalThis`. */
const denoProcess: ProcessControl = {
  shedPermissions: (keep) => {
    permissionsShed = true;
    shedPermissions(keep);
  },
  heldPermissions: () => heldPermissions(),
  guardRejections: (log) => rejectionGuard.install(globalThis, log),
  report: (command) => ({
    pid: Deno.pid,
    command,
    permissions: heldPermissions(),
    unhandledRejections: rejectionGuard.count,
  }),
};

/** The real process I/O. */
export function denoCliIO(): CliIO {
  return {
    stdout: writerFor(Deno.stdout),
    stderr: writerFor(Deno.stderr),
    isTTY: {
      stdin: Deno.stdin.isTerminal(),
      stdout: Deno.stdout.isTerminal(),
      stderr: Deno.stderr.isTerminal(),
    },
    env: (name) => {
      try {
        return Deno.env.get(name);
      } catch (e) {
        // Given up by this command: a bug to report, never a silent "unset".
        if (permissionsShed && (e as Error)?.name === "NotCapable") {
          throw new UndeclaredAccessError(`the environment variable ${name}`);
        }
        return undefined; // no --allow-env (a development run)
      }
    },
    readLine: readStdinLine,
    stdio: denoStdio,
    signals: denoSignals,
    clock: systemClock,
    process: denoProcess,
  };
}
