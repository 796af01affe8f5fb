/**
 * `bin/citadel` as a real process for interop tests: one-shot commands with captured stdout,
 * stderr and exit code, and `citadel work` in the background with its output in a log file.
 *
 * Every command gets `--state-dir` (and `--nexus`, unless told otherwise) and a controlled
 * environment: the caller's `CITADEL_*` variables never leak in, and any auth key a test gave is
 * checked to appear nowhere in what the process printed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CITADEL_ENV_NAMES, PROXY_ENV_NAMES } from "../../cli/env.ts";
import { REPO_ROOT } from "./peers.ts";
import {
  makeTempDir,
  type ManagedProcess,
  readLogTail,
  removeTempDir,
  spawnLogged,
  waitFor,
} from "./process.ts";

/** The launcher the tests run (main.ts with the flags the compiled binary has). */
export const CITADEL_BIN = `${REPO_ROOT}/bin/citadel`;

/** Options for {@link createCitadel}. */
export interface CitadelOptions {
  /** Nexus URL passed as `--nexus` to every command (omit to rely on the saved state). */
  readonly nexus?: string;
  /** Environment added to every command (e.g. `{ CITADEL_CA_FILE: path }`). */
  readonly env?: Record<string, string>;
  /** Label of the temp folder. */
  readonly label?: string;
}

/** Options of one command run. */
export interface CitadelRunOptions {
  /** Extra environment for this run (wins over the instance's). */
  readonly env?: Record<string, string>;
  /** Kill the command after this long (default 60 s); a kill is a test failure. */
  readonly timeoutMs?: number;
  /** Leave out `--nexus` for this run. */
  readonly noNexus?: boolean;
}

/** Outcome of one `bin/citadel` run. */
export interface CitadelResult {
  /** The arguments (after the global options). */
  readonly args: readonly string[];
  /** Exit code. */
  readonly code: number;
  /** Standard output. */
  readonly stdout: string;
  /** Standard error. */
  readonly stderr: string;
  /** Wall-clock time from spawn to exit, in milliseconds. */
  readonly durationMs: number;
}

/** Renders a result for assertion messages. */
export function describeResult(result: CitadelResult): string {
  return `citadel ${result.args.join(" ")} → exit ${result.code} in ${result.durationMs} ms\n` +
    `--- stdout ---\n${result.stdout.trimEnd()}\n--- stderr ---\n${result.stderr.trimEnd()}`;
}

/** The `citadel status --json` object (docs/cli.md). */
export interface CitadelStatusJson {
  /** Registered and receiving the netmap. */
  readonly connected: boolean;
  /** Node name at Nexus. */
  readonly nodeName: string | null;
  /** Nexus's numeric node id. */
  readonly nodeId: number | null;
  /** Mesh IPv4. */
  readonly nodeIP: string | null;
  /** Mesh IPv6. */
  readonly nodeIPv6: string | null;
  /** Nexus URL. */
  readonly nexus: string;
  /** ISO key expiry, or null. */
  readonly keyExpiry: string | null;
  /** Visible peers. */
  readonly peers: readonly {
    readonly hostname: string;
    readonly ip: string | null;
    readonly ipv6: string | null;
    readonly online: boolean | null;
    readonly os: string | null;
    readonly lastSeen: string | null;
    readonly path: string;
    /** The data plane's keys, present when a running work answered. */
    readonly endpoint?: string | null;
    readonly relayRegion?: number | null;
    readonly latencyMs?: number | null;
    readonly lastHandshake?: string | null;
    readonly rxBytes?: number;
    readonly txBytes?: number;
  }[];
  /** The running work's job loop (docs/cli.md), or null. */
  readonly worker: {
    readonly state: string;
    readonly redis: string;
    readonly queues: readonly string[];
    readonly jobsDone: number;
    readonly jobsRunning: number;
  } | null;
}

/**
 * One Citadel installation: a temp folder whose `state` subfolder is the `--state-dir` (so a
 * logout that deletes the state directory can be observed), plus logs of background runs.
 */
export class CitadelCli {
  /** Temp folder holding the state directory and logs. */
  readonly dir: string;
  /** The `--state-dir` given to every command (does not exist until the first join). */
  readonly stateDir: string;
  /** `--nexus` given to every command, if any. */
  readonly nexus: string | undefined;
  readonly #env: Record<string, string>;
  readonly #secrets = new Set<string>();
  readonly #workers = new Set<CitadelWork>();
  readonly #children = new Set<CitadelChild>();
  readonly #spawned = new Set<Deno.ChildProcess>();
  #workCount = 0;

  /** Use {@link createCitadel}. */
  constructor(dir: string, options: CitadelOptions) {
    this.dir = dir;
    this.stateDir = `${dir}/state`;
    this.nexus = options.nexus;
    // Direct paths bind loopback only, so that nothing is offered or sent beyond 127.0.0.1.
    this.#env = { CITADEL_UDP_BIND: "127.0.0.1:0", ...options.env };
  }

  /**
   * Registers a secret (an auth key) that must never appear in any output; every later run
   * fails its assertion if it does. Returns the secret.
   */
  secret(value: string): string {
    if (value !== "") this.#secrets.add(value);
    return value;
  }

  #globalArgs(options: CitadelRunOptions): string[] {
    const args = ["--state-dir", this.stateDir];
    if (this.nexus !== undefined && !options.noNexus) args.push("--nexus", this.nexus);
    return args;
  }

  #environment(extra: Record<string, string> | undefined): Record<string, string> {
    // DENO_NO_UPDATE_CHECK: `deno run` (unlike a compiled binary) checks dl.deno.land for
    // updates, through HTTPS_PROXY when one is set; a test's proxy must see Citadel's traffic only.
    const env: Record<string, string> = { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" };
    // The caller's CITADEL_* and proxy variables never leak in; a test sets what it wants.
    for (const name of [...CITADEL_ENV_NAMES, ...PROXY_ENV_NAMES]) env[name] = "";
    Object.assign(env, this.#env, extra);
    for (const [name, value] of Object.entries(env)) {
      if (name.startsWith("CITADEL_AUTHKEY")) this.secret(value);
    }
    return env;
  }

  /** Asserts that no registered secret occurs in `text`. */
  assertNoSecrets(text: string, where: string): void {
    for (const secret of this.#secrets) {
      assert.ok(!text.includes(secret), `${where} contains an auth key`);
    }
  }

  /**
   * Runs `bin/citadel ARGS --state-dir … [--nexus …]` to completion. Auth keys passed with
   * `--authkey` are registered as secrets. Fails (throws) when the command hangs past the
   * timeout or prints a secret; a non-zero exit is returned, not thrown.
   */
  async run(args: readonly string[], options: CitadelRunOptions = {}): Promise<CitadelResult> {
    const authKeyAt = args.indexOf("--authkey");
    if (authKeyAt !== -1 && args[authKeyAt + 1]) this.secret(args[authKeyAt + 1]);
    const fullArgs = [...args, ...this.#globalArgs(options)];
    const env = this.#environment(options.env);
    const timeoutMs = options.timeoutMs ?? 60_000;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const started = performance.now();
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command(CITADEL_BIN, {
        args: fullArgs,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: controller.signal,
      }).output();
    } finally {
      clearTimeout(timer);
    }
    const decoder = new TextDecoder();
    const result: CitadelResult = {
      args,
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
      durationMs: Math.round(performance.now() - started),
    };
    const shown = args.map((arg, i) => (i === authKeyAt + 1 && authKeyAt !== -1 ? "<key>" : arg));
    const described = describeResult({ ...result, args: shown });
    this.assertNoSecrets(result.stdout + result.stderr, described.replaceAll(/hskey-\S+/g, "…"));
    if (controller.signal.aborted) {
      throw new Error(`citadel did not finish within ${timeoutMs} ms:\n${described}`);
    }
    return { ...result, args: shown };
  }

  /** Runs a command and asserts exit 0; returns the result. */
  async ok(args: readonly string[], options: CitadelRunOptions = {}): Promise<CitadelResult> {
    const result = await this.run(args, options);
    assert.equal(result.code, 0, describeResult(result));
    return result;
  }

  /** `citadel init --node-name NAME` with a pre-auth key (never shown); returns the mesh IPv4. */
  async join(nodeName: string, authKey: string): Promise<string> {
    const init = await this.ok(["init", "--node-name", nodeName], {
      env: { CITADEL_AUTHKEY: authKey },
    });
    const ip = init.stdout.match(/IPv4:\s+(\S+)/)?.[1];
    assert.ok(ip, `init printed no IPv4:\n${describeResult(init)}`);
    return ip;
  }

  /**
   * `citadel status --json`: the parsed object and the result. The object is printed even on
   * failure (docs/cli.md), so it is parsed whatever the exit code.
   */
  async status(
    options: CitadelRunOptions & { timeout?: string } = {},
  ): Promise<{ json: CitadelStatusJson; result: CitadelResult }> {
    const args = ["status", "--json"];
    if (options.timeout) args.push("--timeout", options.timeout);
    const result = await this.run(args, options);
    const lines = result.stdout.trim().split("\n");
    assert.equal(lines.length, 1, `status --json prints one line\n${describeResult(result)}`);
    let json: CitadelStatusJson;
    try {
      json = JSON.parse(lines[0]);
    } catch {
      throw new Error(`status --json printed no JSON\n${describeResult(result)}`);
    }
    return { json, result };
  }

  /**
   * Starts `citadel work` in the background, its stdout and stderr appended to a log file in
   * {@link dir}.
   */
  startWork(
    args: readonly string[] = [],
    options: { env?: Record<string, string>; noNexus?: boolean } = {},
  ): CitadelWork {
    this.#workCount += 1;
    const logPath = `${this.dir}/work-${this.#workCount}.log`;
    const proc = spawnLogged({
      name: `citadel work #${this.#workCount}`,
      cmd: CITADEL_BIN,
      args: ["work", ...args, ...this.#globalArgs(options)],
      logPath,
      env: this.#environment(options.env),
    });
    const work = new CitadelWork(this, proc);
    this.#workers.add(work);
    void proc.exited.then(() => this.#workers.delete(work));
    return work;
  }

  /**
   * Starts a command in the background with stdout and stderr piped and collected separately
   * (for `login`, which prints a link and then waits for an approval).
   */
  start(args: readonly string[], options: { env?: Record<string, string> } = {}): CitadelChild {
    const child = new CitadelChild(this, args, [...args, ...this.#globalArgs({})], {
      ...this.#environment(options.env),
    });
    this.#children.add(child);
    void child.exited.then(() => this.#children.delete(child));
    return child;
  }

  /**
   * Spawns `bin/citadel ARGS` with stdin, stdout and stderr piped, for
   * commands that carry a stream (`nc`): the caller feeds and drains them. It
   * is killed by {@link cleanup} if still alive.
   */
  spawn(
    args: readonly string[],
    options: { env?: Record<string, string> } = {},
  ): Deno.ChildProcess {
    const child = new Deno.Command(CITADEL_BIN, {
      args: [...args, ...this.#globalArgs({})],
      env: this.#environment(options.env),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#spawned.add(child);
    void child.status.then(() => this.#spawned.delete(child));
    return child;
  }

  /** Stops any background run still alive and removes the temp folder. */
  async cleanup(): Promise<void> {
    try {
      for (const child of this.#spawned) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }
      await Promise.all([
        ...[...this.#workers].map((work) => work.kill()),
        ...[...this.#children].map((child) => child.kill()),
        ...[...this.#spawned].map((child) => child.status.catch(() => {})),
      ]);
    } finally {
      await removeTempDir(this.dir);
    }
  }

  /** Same as {@link cleanup}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.cleanup();
  }
}

/** A background `citadel` process (usually `work`). */
export class CitadelWork {
  /** The installation it belongs to. */
  readonly cli: CitadelCli;
  /** The process. */
  readonly process: ManagedProcess;

  /** Use {@link CitadelCli.startWork}. */
  constructor(cli: CitadelCli, process: ManagedProcess) {
    this.cli = cli;
    this.process = process;
  }

  /** Whether it still runs. */
  get running(): boolean {
    return this.process.running;
  }

  /** The whole log so far (the spawn header line included). */
  log(): string {
    try {
      return Deno.readTextFileSync(this.process.logPath);
    } catch {
      return "";
    }
  }

  /** Last lines of the log. */
  logTail(lines = 30): string {
    return readLogTail(this.process.logPath, lines);
  }

  /** Waits until the log matches `pattern`; returns the match. Fails if the process exits first. */
  waitForLog(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return waitFor(`${this.process.name} to log ${pattern}`, () => {
      return this.log().match(pattern) ?? undefined;
    }, { process: this.process, timeoutMs, intervalMs: 100 });
  }

  /** Waits until `work` says it is online and serves the local API. */
  async waitOnline(timeoutMs = 30_000): Promise<void> {
    await this.waitForLog(/local API on /, timeoutMs);
  }

  /** Waits for the process to exit by itself; returns its exit code. Fails on timeout. */
  async waitExit(timeoutMs = 30_000): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    try {
      const outcome = await Promise.race([this.process.exited, timeout]);
      if (outcome === "timeout") {
        throw new Error(
          `${this.process.name} did not exit within ${timeoutMs} ms\n${this.logTail()}`,
        );
      }
      this.#checkSecrets();
      return outcome.code;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops it with SIGTERM (the clean shutdown) and returns the exit code; fails if it needed a
   * SIGKILL, i.e. did not shut down within `graceMs`.
   */
  async stop(graceMs = 15_000): Promise<number> {
    const started = Date.now();
    const status = await this.process.stop(graceMs);
    this.#checkSecrets();
    assert.ok(
      status.signal === null,
      `${this.process.name} did not stop on SIGTERM within ${graceMs} ms ` +
        `(killed by ${status.signal} after ${Date.now() - started} ms)\n${this.logTail()}`,
    );
    return status.code;
  }

  /** Kills it if still running (cleanup path; no assertions). */
  async kill(): Promise<void> {
    await this.process.stop(2_000);
  }

  #checkSecrets(): void {
    this.cli.assertNoSecrets(
      this.log().split("\n").slice(1).join("\n"),
      `log of ${this.process.name}`,
    );
  }
}

/** A background `citadel` command with piped output; see {@link CitadelCli.start}. */
export class CitadelChild {
  /** The arguments (after the global options are removed). */
  readonly args: readonly string[];
  /** Standard output so far. */
  stdout = "";
  /** Standard error so far. */
  stderr = "";
  /** Resolves with the result once the process has exited and its output is read. */
  readonly exited: Promise<CitadelResult>;
  readonly #cli: CitadelCli;
  readonly #child: Deno.ChildProcess;
  #done = false;

  /** Use {@link CitadelCli.start}. */
  constructor(
    cli: CitadelCli,
    args: readonly string[],
    fullArgs: readonly string[],
    env: Record<string, string>,
  ) {
    this.#cli = cli;
    this.args = args;
    const started = performance.now();
    this.#child = new Deno.Command(CITADEL_BIN, {
      args: [...fullArgs],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const collect = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) this[into] += text;
    };
    this.exited = Promise.all([
      this.#child.status,
      collect(this.#child.stdout, "stdout"),
      collect(this.#child.stderr, "stderr"),
    ]).then(([status]) => {
      this.#done = true;
      return {
        args,
        code: status.code,
        stdout: this.stdout,
        stderr: this.stderr,
        durationMs: Math.round(performance.now() - started),
      };
    });
  }

  /** Waits until stderr matches `pattern`; fails if the process exits first. */
  waitForStderr(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return waitFor(`citadel ${this.args.join(" ")} to print ${pattern} on stderr`, () => {
      const match = this.stderr.match(pattern);
      if (match) return match;
      if (this.#done) {
        throw new Error(
          `it exited\n--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`,
        );
      }
      return undefined;
    }, { timeoutMs });
  }

  /** Waits for the exit (fails after `timeoutMs`) and checks the output holds no secret. */
  async result(timeoutMs = 30_000): Promise<CitadelResult> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    try {
      const outcome = await Promise.race([this.exited, timeout]);
      if (outcome === "timeout") {
        throw new Error(
          `citadel ${this.args.join(" ")} did not exit within ${timeoutMs} ms\n` +
            `--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`,
        );
      }
      this.#cli.assertNoSecrets(outcome.stdout + outcome.stderr, describeResult(outcome));
      return outcome;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills it if still running and waits for it (cleanup path; no assertions). */
  async kill(): Promise<void> {
    if (!this.#done) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await this.exited.catch(() => {});
  }
}

/**
 * Creates a {@link CitadelCli} in a fresh temp folder.
 *
 * @example
 * ```ts
 * await using citadel = await createCitadel({ nexus: hs.url });
 * await citadel.ok(["init", "--authkey", key, "--node-name", "n1"]);
 * const work = citadel.startWork();
 * await work.waitOnline();
 * ```
 */
export async function createCitadel(options: CitadelOptions = {}): Promise<CitadelCli> {
  const dir = await makeTempDir(`citadel-${options.label ?? "cli"}`);
  return new CitadelCli(dir, options);
}

/** Polls every 200 ms (default) until `probe` returns a value; the elapsed time with it. */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  options: { timeoutMs?: number; intervalMs?: number; process?: ManagedProcess } = {},
): Promise<{ value: T; elapsedMs: number }> {
  const started = performance.now();
  const value = await waitFor(what, probe, {
    timeoutMs: options.timeoutMs ?? 30_000,
    intervalMs: options.intervalMs ?? 200,
    process: options.process,
  });
  return { value, elapsedMs: Math.round(performance.now() - started) };
}

/** The lines of `stderr` a failing command printed as its error: `citadel: …` and the hint. */
export function errorLines(result: CitadelResult): { message: string; hint: string | undefined } {
  const lines = result.stderr.split("\n");
  const at = lines.findIndex((line) => line.startsWith("citadel: "));
  assert.ok(at !== -1, `no 'citadel: …' error line on stderr\n${describeResult(result)}`);
  const hint = lines[at + 1]?.trim() || undefined;
  return { message: lines[at].slice("citadel: ".length), hint };
}

/**
 * Asserts a failing command's shape: exit code `code`, one `citadel: …` line followed by one
 * hint line and nothing after them, no stack trace, and nothing on stdout (unless `stdoutOk`).
 */
export function assertCliError(
  result: CitadelResult,
  code: number,
  message: RegExp,
  options: { hint?: RegExp; stdoutOk?: boolean } = {},
): void {
  const detail = describeResult(result);
  assert.equal(result.code, code, `exit code\n${detail}`);
  const { message: text, hint } = errorLines(result);
  assert.match(text, message, `error line\n${detail}`);
  assert.ok(hint, `a hint line follows the error\n${detail}`);
  if (options.hint) assert.match(hint, options.hint, `hint line\n${detail}`);
  const lines = result.stderr.trimEnd().split("\n");
  const at = lines.findIndex((line) => line.startsWith("citadel: "));
  assert.equal(lines.length, at + 2, `nothing follows the hint\n${detail}`);
  assert.ok(!/^\s+at\s/m.test(result.stderr), `no stack trace\n${detail}`);
  assert.ok(!/\b(Uncaught|error: )/.test(result.stderr), `no Deno error report\n${detail}`);
  if (!options.stdoutOk) assert.equal(result.stdout, "", `stdout is empty\n${detail}`);
}
