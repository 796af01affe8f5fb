/**
 * The `shell` job: runs one program with arguments, in the workspace.
 *
 * Payload: `{"command": "echo", "args": ["hi"], "cwd": "sub/dir",
 * "timeout_seconds": 30}`; only `command` is required.
 *
 * Decisions (the Go original's `SHELL_COMMAND` ran the string through
 * `/bin/sh -c`, in whatever environment the worker had):
 * - No shell: `command` is the program and `args` its arguments, passed as an
 *   array to `Deno.Command`; nothing is interpolated. A producer who wants a
 *   shell asks for one (`"command": "sh", "args": ["-c", "…"]`).
 * - A clean environment: only the configured variables (default `PATH`) and
 *   `CITADEL_JOB_ID`, so the worker's secrets (`CITADEL_AUTHKEY`, a Redis
 *   password) never reach a job.
 * - `cwd` is relative to the workspace and must stay inside it (checked on
 *   the resolved path, so a symlink cannot lead out); stdin is closed.
 * - stdout and stderr stream as `chunk` events while the program runs; their
 *   total is capped: past the cap the program is killed and the job fails
 *   ("output limit"), keeping what came before it.
 * - A timeout kills the program (SIGKILL) and fails the job terminally, as the
 *   Go original treats a job past its deadline (its #548): running it again
 *   would hang again. A non-zero exit is a terminal failure with its exit code
 *   recorded. A program that cannot be started (not found, not executable) is
 *   a terminal failure.
 * - Only the program itself is killed; children it leaves behind are not
 *   (Deno has no process groups). Output pipes held open by such children are
 *   given up {@link PIPE_GRACE_MS} after the program exits.
 *
 * @module
 */
import type { Job } from "../job.ts";
import {
  type JobContext,
  type JobHandler,
  type JobOutcome,
  JobPayloadError,
  payloadTimeoutMs,
  type PreparedJob,
} from "../job_handler.ts";

/** Options of {@link ShellJobHandler}. */
export interface ShellJobOptions {
  /** Folder jobs run in (created when missing). */
  workspaceDir: string;
  /** The jobs' whole environment (default: `PATH` only, a standard one). */
  env?: Record<string, string>;
  /** Largest stdout + stderr, in bytes (default 1 MiB). */
  maxOutputBytes?: number;
  /** Time limit when the payload gives none (default 10 min). */
  defaultTimeoutMs?: number;
  /** Largest time limit a payload may ask for (default 1 h). */
  maxTimeoutMs?: number;
}

/** How long output pipes may stay open after the program exited. */
export const PIPE_GRACE_MS = 2_000;

const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";
const MAX_ARGS = 1024;
const MAX_ARG_BYTES = 64 * 1024;

interface ShellSpec {
  command: string;
  args: string[];
  cwd: string;
}

function parseShellPayload(payload: Record<string, unknown>): ShellSpec {
  const { command, args, cwd } = payload;
  if (typeof command !== "string" || command.trim() === "") {
    throw new JobPayloadError("command must be a non-empty string");
  }
  if (command.includes("\0")) throw new JobPayloadError("command contains a NUL byte");
  let list: string[] = [];
  if (args !== undefined && args !== null) {
    if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
      throw new JobPayloadError("args must be an array of strings");
    }
    if (args.length > MAX_ARGS) throw new JobPayloadError(`more than ${MAX_ARGS} args`);
    if (args.some((a) => a.includes("\0") || a.length > MAX_ARG_BYTES)) {
      throw new JobPayloadError("an argument contains a NUL byte or is too long");
    }
    list = args;
  }
  let relative = "";
  if (cwd !== undefined && cwd !== null && cwd !== "") {
    if (typeof cwd !== "string") throw new JobPayloadError("cwd must be a string");
    const parts = cwd.split("/").filter((p) => p !== "" && p !== ".");
    if (cwd.startsWith("/") || parts.includes("..") || cwd.includes("\0")) {
      throw new JobPayloadError("cwd must be a relative path inside the workspace");
    }
    relative = parts.join("/");
  }
  return { command, args: list, cwd: relative };
}

/** Runs `shell` jobs; see the module documentation. */
export class ShellJobHandler implements JobHandler {
  /** The job type. */
  readonly type = "shell";
  readonly #options: Required<ShellJobOptions>;

  /** A handler with the given workspace and limits. */
  constructor(options: ShellJobOptions) {
    this.#options = {
      env: { PATH: DEFAULT_PATH },
      maxOutputBytes: 1024 * 1024,
      defaultTimeoutMs: 10 * 60_000,
      maxTimeoutMs: 60 * 60_000,
      ...options,
    };
  }

  /** Checks the payload. */
  prepare(job: Job): PreparedJob {
    const spec = parseShellPayload(job.payload);
    const limitMs = payloadTimeoutMs(
      job.payload,
      this.#options.defaultTimeoutMs,
      this.#options.maxTimeoutMs,
    );
    return { limitMs, run: (ctx) => this.#run(spec, limitMs, ctx) };
  }

  async #resolveCwd(relative: string): Promise<string> {
    const root = this.#options.workspaceDir;
    await Deno.mkdir(root, { recursive: true });
    const realRoot = await Deno.realPath(root);
    if (relative === "") return realRoot;
    let real: string;
    try {
      real = await Deno.realPath(`${realRoot}/${relative}`);
    } catch {
      throw new JobPayloadError(`cwd ${relative} does not exist in the workspace`);
    }
    if (real !== realRoot && !real.startsWith(realRoot + "/")) {
      throw new JobPayloadError("cwd leads out of the workspace");
    }
    return real;
  }

  async #run(spec: ShellSpec, limitMs: number, ctx: JobContext): Promise<JobOutcome> {
    let cwd: string;
    try {
      cwd = await this.#resolveCwd(spec.cwd);
    } catch (e) {
      const message = e instanceof JobPayloadError ? e.message : `workspace: ${String(e)}`;
      return { status: "failed", error: message, retryable: false };
    }
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(spec.command, {
        args: spec.args,
        cwd,
        clearEnv: true,
        env: { ...this.#options.env, CITADEL_JOB_ID: ctx.job.jobId },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      const error = e instanceof Deno.errors.NotFound
        ? `command not found: ${spec.command}`
        : e instanceof Deno.errors.PermissionDenied
        ? `permission denied running ${spec.command}`
        : `cannot start ${spec.command}: ${e instanceof Error ? e.message : String(e)}`;
      return { status: "failed", error, retryable: false };
    }

    type StopReason = "timeout" | "output" | "abandoned";
    const stop: { reason: StopReason | null } = { reason: null };
    const kill = (reason: "timeout" | "output" | "abandoned") => {
      stop.reason ??= reason;
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
    };
    const timer = ctx.clock.setTimeout(() => kill("timeout"), limitMs);
    const onAbort = () => kill("abandoned");
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    if (ctx.signal.aborted) onAbort();

    let outputBytes = 0;
    const max = this.#options.maxOutputBytes;
    const readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
    const pump = async (stream: ReadableStream<Uint8Array>, name: "stdout" | "stderr") => {
      const reader = stream.getReader();
      readers.push(reader);
      const decoder = new TextDecoder();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          let chunk = value;
          if (outputBytes + chunk.length > max) {
            chunk = chunk.subarray(0, Math.max(0, max - outputBytes));
            kill("output");
          }
          outputBytes += chunk.length;
          if (chunk.length > 0) {
            const text = decoder.decode(chunk, { stream: true });
            if (text !== "") await ctx.output(name, text);
          }
          if (stop.reason === "output") break;
        }
        const tail = decoder.decode();
        if (tail !== "") await ctx.output(name, tail);
      } catch {
        // The pipe was cancelled after the grace period.
      } finally {
        reader.releaseLock();
      }
    };
    const pumps = Promise.all([pump(child.stdout, "stdout"), pump(child.stderr, "stderr")]);
    const status = await child.status;
    ctx.clock.clearTimeout(timer);
    ctx.signal.removeEventListener("abort", onAbort);
    let graceTimer: ReturnType<typeof ctx.clock.setTimeout> | null = null;
    const grace = new Promise<void>((resolve) => {
      graceTimer = ctx.clock.setTimeout(resolve, PIPE_GRACE_MS);
    });
    await Promise.race([pumps, grace]);
    if (graceTimer !== null) ctx.clock.clearTimeout(graceTimer);
    for (const reader of readers) reader.cancel().catch(() => {});

    const result: Record<string, unknown> = {
      exit_code: status.code,
      signal: status.signal,
      output_bytes: outputBytes,
    };
    switch (stop.reason) {
      case "timeout":
        return {
          status: "failed",
          error: `timed out after ${limitMs / 1000} s`,
          retryable: false,
          result,
        };
      case "output":
        return {
          status: "failed",
          error: `output over the limit of ${max} bytes; the command was stopped`,
          retryable: false,
          result,
        };
      case "abandoned":
        return { status: "failed", error: "abandoned by the worker", retryable: true, result };
    }
    if (status.success) return { status: "succeeded", result };
    const how = status.signal
      ? `was killed by ${status.signal}`
      : `exited with code ${status.code}`;
    return { status: "failed", error: `${spec.command} ${how}`, retryable: false, result };
  }
}
