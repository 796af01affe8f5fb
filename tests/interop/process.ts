/**
 * Child processes for interop tests: long-running peers whose output goes to a log file, one-shot
 * CLI commands, polling until something is ready, and temporary folders.
 *
 * Every process started here is stopped by `ManagedProcess.stop()`; as a last resort, any that
 * are still alive when Deno exits are killed by an `unload` handler.
 *
 * @module
 */

/** Environment variable that keeps interop temp folders (and their logs) after a test. */
export const KEEP_TEMP_ENV = "CITADEL_KEEP_INTEROP";

/** Thrown when a one-shot command exits non-zero or times out. */
export class CommandError extends Error {
  /** Exit code, or `undefined` when the command was killed by the timeout. */
  readonly code: number | undefined;
  /** Captured standard output. */
  readonly stdout: string;
  /** Captured standard error. */
  readonly stderr: string;

  /** Builds the error from the command line (already redacted) and its outcome. */
  constructor(commandLine: string, code: number | undefined, stdout: string, stderr: string) {
    const outcome = code === undefined ? "timed out" : `exited with code ${code}`;
    super(
      `command ${outcome}: ${commandLine}\n--- stderr ---\n${
        redactSecrets(stderr.trim())
      }\n--- stdout ---\n${redactSecrets(stdout.trim())}`,
    );
    this.name = "CommandError";
    this.code = code;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

/** Thrown by {@link waitFor} when the condition is not met in time or the watched process died. */
export class WaitTimeoutError extends Error {
  /** Builds the error; `detail` holds the last probe error and log tails. */
  constructor(message: string) {
    super(message);
    this.name = "WaitTimeoutError";
  }
}

const SECRET_FLAG = /^(--auth-?key=)(.+)$/i;

/** Renders a command line for logs and errors with auth keys replaced by `<redacted>`. */
export function redactedCommandLine(cmd: string, args: readonly string[]): string {
  const shown = args.map((arg) => arg.replace(SECRET_FLAG, "$1<redacted>"));
  return [cmd, ...shown].map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : `'${part}'`))
    .join(" ");
}

/** Secrets that peers may write into their own logs: auth keys and private keys. */
const SECRET_IN_LOG = /\b(hskey-auth-|tskey-[a-z]+-|privkey:)[\w-]+/g;

/** Replaces auth keys and private keys in peer output by `<prefix><redacted>`. */
export function redactSecrets(text: string): string {
  return text.replace(SECRET_IN_LOG, "$1<redacted>");
}

/**
 * Last `lines` lines of a log file with secrets redacted, or a note saying it could not be
 * read.
 */
export function readLogTail(path: string, lines = 40): string {
  try {
    const text = Deno.readTextFileSync(path);
    return redactSecrets(text.split("\n").slice(-lines - 1).join("\n"));
  } catch (error) {
    return `(log ${path} unreadable: ${(error as Error).message})`;
  }
}

/** Options for {@link spawnLogged}. */
export interface SpawnOptions {
  /** Short name used in errors, e.g. `headscale` or `tailscaled a1`. */
  readonly name: string;
  /** Executable path. */
  readonly cmd: string;
  /** Arguments. */
  readonly args: readonly string[];
  /** File that receives stdout and stderr (appended, so a restart keeps the earlier output). */
  readonly logPath: string;
  /** Extra environment variables (added to the inherited environment). */
  readonly env?: Record<string, string>;
  /** Working directory. */
  readonly cwd?: string;
}

const live = new Set<ManagedProcess>();
const liveTempDirs = new Set<string>();
let unloadHookInstalled = false;

/** Last resort when a test forgot to stop a peer: kill it and remove the temp folders. */
function installUnloadHook(): void {
  if (unloadHookInstalled) return;
  unloadHookInstalled = true;
  globalThis.addEventListener("unload", () => {
    for (const proc of live) {
      try {
        Deno.kill(proc.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    if (keepTempDirs()) return;
    for (const dir of liveTempDirs) {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Already gone, or still busy: nothing more to do at exit.
      }
    }
  });
}

/** A long-running child whose output goes to a log file. Create it with {@link spawnLogged}. */
export class ManagedProcess {
  /** Short name used in errors. */
  readonly name: string;
  /** Log file holding the child's stdout and stderr. */
  readonly logPath: string;
  /** Process id. */
  readonly pid: number;
  /** Resolves with the exit status once the child has exited. */
  readonly exited: Promise<Deno.CommandStatus>;
  #status: Deno.CommandStatus | undefined;
  #child: Deno.ChildProcess;

  /** Use {@link spawnLogged}. */
  constructor(name: string, logPath: string, child: Deno.ChildProcess) {
    this.name = name;
    this.logPath = logPath;
    this.#child = child;
    this.pid = child.pid;
    this.exited = child.status.then((status) => {
      this.#status = status;
      live.delete(this);
      return status;
    });
  }

  /** Whether the child is still running. */
  get running(): boolean {
    return this.#status === undefined;
  }

  /** Exit status, once the child has exited. */
  get status(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /** Last lines of the log file. */
  logTail(lines = 40): string {
    return readLogTail(this.logPath, lines);
  }

  /**
   * Sends SIGTERM, waits up to `graceMs`, then SIGKILL, and waits for the exit. Safe to call
   * more than once and after the child exited by itself.
   */
  async stop(graceMs = 5_000): Promise<Deno.CommandStatus> {
    if (this.#status) return this.#status;
    this.#signal("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    try {
      const first = await Promise.race([this.exited, graceOver]);
      if (first !== "timeout") return first;
    } finally {
      clearTimeout(timer);
    }
    this.#signal("SIGKILL");
    return await this.exited;
  }

  #signal(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // The child exited between the check and the signal.
    }
  }
}

/**
 * Starts a long-running child with stdout and stderr appended to `logPath`.
 *
 * The child is exec'd by `/bin/sh` with its output redirected, so Deno holds no pipes for it
 * and the pid is the child's own.
 *
 * @example
 * ```ts
 * const proc = spawnLogged({ name: "sleep", cmd: "sleep", args: ["60"], logPath: "/tmp/x.log" });
 * await proc.stop();
 * ```
 */
export function spawnLogged(options: SpawnOptions): ManagedProcess {
  const header = `=== ${new Date().toISOString()} $ ${
    redactedCommandLine(options.cmd, options.args)
  }\n`;
  Deno.writeTextFileSync(options.logPath, header, { append: true });
  const child = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'log="$1"; shift; exec "$@" >>"$log" 2>&1',
      "sh",
      options.logPath,
      options.cmd,
      ...options.args,
    ],
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  installUnloadHook();
  const proc = new ManagedProcess(options.name, options.logPath, child);
  live.add(proc);
  return proc;
}

/** Options for {@link runCommand}. */
export interface RunOptions {
  /** Extra environment variables. */
  readonly env?: Record<string, string>;
  /** Kill the command after this long (default 30 s). */
  readonly timeoutMs?: number;
  /** When false, a non-zero exit is returned instead of thrown (default true). */
  readonly check?: boolean;
}

/** Outcome of {@link runCommand}. */
export interface RunResult {
  /** Exit code. */
  readonly code: number;
  /** Standard output as text. */
  readonly stdout: string;
  /** Standard error as text. */
  readonly stderr: string;
}

/**
 * Runs a one-shot command to completion and captures its output.
 *
 * @throws {CommandError} on a non-zero exit (unless `check: false`) or on timeout.
 * @example
 * ```ts
 * const { stdout } = await runCommand("headscale", ["version"]);
 * ```
 */
export async function runCommand(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 30_000);
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(cmd, {
      args: [...args],
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
  } finally {
    clearTimeout(timer);
  }
  const decoder = new TextDecoder();
  const result = {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  if (controller.signal.aborted) {
    throw new CommandError(redactedCommandLine(cmd, args), undefined, result.stdout, result.stderr);
  }
  if (output.code !== 0 && options.check !== false) {
    throw new CommandError(
      redactedCommandLine(cmd, args),
      output.code,
      result.stdout,
      result.stderr,
    );
  }
  return result;
}

/** Options for {@link waitFor}. */
export interface WaitOptions {
  /** Give up after this long (default 30 s). */
  readonly timeoutMs?: number;
  /** Pause between probes (default 100 ms). */
  readonly intervalMs?: number;
  /** Fail at once if this process exits, and add its log tail to any failure. */
  readonly process?: ManagedProcess;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls `probe` until it returns a value other than `undefined`, `null` or `false`. A probe
 * that throws counts as "not yet"; its last error is reported on timeout.
 *
 * @throws {WaitTimeoutError} on timeout, or when `options.process` exits first.
 * @example
 * ```ts
 * await waitFor("headscale /health", async () => (await fetch(url)).ok || undefined);
 * ```
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const proc = options.process;
    if (proc && !proc.running) {
      throw new WaitTimeoutError(
        `${proc.name} exited (code ${proc.status?.code}) while waiting for ${what}\n` +
          `--- ${proc.logPath} ---\n${proc.logTail()}`,
      );
    }
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value as T;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await sleep(options.intervalMs ?? 100);
  }
  let message = `timed out after ${timeoutMs} ms waiting for ${what}`;
  if (lastError !== undefined) {
    message += `\nlast error: ${(lastError as Error).message ?? lastError}`;
  }
  if (options.process) {
    message += `\n--- ${options.process.logPath} ---\n${options.process.logTail()}`;
  }
  throw new WaitTimeoutError(message);
}

/** Whether temp folders are kept for inspection ({@link KEEP_TEMP_ENV} set to a non-empty value). */
export function keepTempDirs(): boolean {
  return (Deno.env.get(KEEP_TEMP_ENV) ?? "") !== "";
}

/**
 * Creates a fresh temporary folder for one peer (mode 0700).
 *
 * @example
 * ```ts
 * const dir = await makeTempDir("headscale");
 * ```
 */
export async function makeTempDir(label: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `citadel-interop-${label}-` });
  await Deno.chmod(dir, 0o700);
  installUnloadHook();
  liveTempDirs.add(dir);
  return dir;
}

/**
 * Removes a temporary folder, unless {@link KEEP_TEMP_ENV} is set (then its path is printed so
 * the logs can be read).
 */
export async function removeTempDir(dir: string): Promise<void> {
  liveTempDirs.delete(dir);
  if (keepTempDirs()) {
    console.error(`interop: keeping ${dir} (${KEEP_TEMP_ENV} is set)`);
    return;
  }
  await Deno.remove(dir, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}
