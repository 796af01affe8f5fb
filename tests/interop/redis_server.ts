/**
 * A real `redis-server` (Debian package) for interop tests: started on
 * 127.0.0.1 on a free port, in a temporary folder, with persistence off
 * (`--save '' --appendonly no`) unless `persistent` (an append-only file
 * synced at every write, so `restart()` loses nothing), and stopped (and the
 * folder removed) by `stop()`. A missing `redis-server` fails the test:
 * `./dev` installs it.
 *
 * @module
 */
import { freeTcpPort } from "./free_port.ts";
import {
  makeTempDir,
  type ManagedProcess,
  removeTempDir,
  runCommand,
  spawnLogged,
  waitFor,
} from "./process.ts";

/** A running redis-server. */
export interface RedisServer {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>` (with the password when one was set). */
  readonly url: string;
  /** Its temporary folder (log in `redis.log`). */
  readonly dir: string;
  /** The process (a new one after {@link restart}). */
  readonly process: ManagedProcess;
  /**
   * Stops the server (SIGTERM), waits `downMs`, and starts it again on the
   * same port and folder; resolves once it answers PING (its data kept only
   * when `persistent`).
   */
  restart(downMs?: number): Promise<void>;
  /** Runs `redis-cli` against it; resolves with its stdout (trimmed). */
  cli(...args: string[]): Promise<string>;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** `requirepass` for the default user. */
  password?: string;
  /** Keep the data across {@link RedisServer.restart}: AOF, fsync at every write. */
  persistent?: boolean;
}

/**
 * Starts redis-server and waits until it answers PING.
 *
 * @example
 * ```ts
 * const redis = await startRedisServer();
 * try { console.log(await redis.cli("PING")); } finally { await redis.stop(); }
 * ```
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = await makeTempDir("redis");
  const port = freeTcpPort();
  const args = [
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    options.persistent ? "yes" : "no",
    "--appendfsync",
    "always",
    "--daemonize",
    "no",
  ];
  if (options.password) args.push("--requirepass", options.password);
  const spawn = () =>
    spawnLogged({
      name: "redis-server",
      cmd: "redis-server",
      args,
      logPath: `${dir}/redis.log`,
    });
  let proc = spawn();
  const authArgs = options.password ? ["--no-auth-warning", "-a", options.password] : [];
  const cli = async (...cmd: string[]): Promise<string> =>
    (await runCommand("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...authArgs, ...cmd]))
      .stdout.trim();
  const ready = () =>
    waitFor("redis-server PING", async () => (await cli("PING")) === "PONG", {
      process: proc,
      timeoutMs: 15_000,
    });
  try {
    await ready();
  } catch (e) {
    await proc.stop();
    await removeTempDir(dir);
    throw e;
  }
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : "";
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}`,
    dir,
    get process() {
      return proc;
    },
    cli,
    async restart(downMs = 0) {
      await proc.stop();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      proc = spawn();
      await ready();
    },
    async stop() {
      await proc.stop();
      await removeTempDir(dir);
    },
  };
}
