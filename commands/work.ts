/**
 * `citadel work`: the long-running node. It takes the state directory's
 * single-instance lock, connects (from saved state, or with
 * `CITADEL_AUTHKEY` the first time), refuses to start unless the node is
 * online, serves the local API (so `citadel status` asks it), logs network
 * changes as timestamped lines, and runs the job loop until SIGINT/SIGTERM.
 *
 * The job loop is a placeholder: it does nothing but wait to be stopped. The
 * real job runner is a later issue.
 *
 * Container use: everything comes from the environment (`CITADEL_NEXUS`,
 * `CITADEL_STATE_DIR`, `CITADEL_AUTHKEY`, `CITADEL_NODE_NAME`), no terminal
 * is needed, and the state directory should be a volume so the node keeps
 * its identity across restarts. Later starts resume the saved identity, so
 * restarts never register a new node; the network layer uses the auth key
 * only to join the first time, or to log in again when Nexus has expired or
 * deleted the node.
 *
 * If the node stops for good while running (a "failed" event: deleted or
 * expired at Nexus and no way to log in again), `work` exits with that
 * error's code instead of running on without the network.
 *
 * Shutdown: the first SIGINT/SIGTERM stops the job loop, closes the local API
 * (removing its socket), disconnects, releases the lock and exits OK. A
 * second signal exits at once with INTERRUPTED; so does a shutdown that
 * takes longer than {@link SHUTDOWN_TIMEOUT_MS} (with FAILURE).
 *
 * Decisions on the Go original (§4):
 * - A second `work` on the same state exits ALREADY_RUNNING. The Go
 *   original exited 0 in that case to keep systemd from restarting it in a
 *   loop (#736); here the lock belongs to the state directory, the service
 *   manager sees the truth, and the message names the holder.
 * - Quirk §8.6 (`work` never blocked on the mesh and only warned): the job
 *   loop does not start unless `isGlobalConnected()`. While Nexus is
 *   unreachable at start, work waits and retries with backoff (up to 30 s
 *   apart), logging each try, as a service should across boot order or an
 *   outage; any other failure (auth, TLS, wrong URL, node removed) exits with
 *   its error's code.
 * - A second signal exits INTERRUPTED (130), not 1, as the shell would.
 * - No platform API, Redis queues, heartbeat, gateway, terminal server or
 *   auto-update here; those are later issues.
 *
 * @module
 */
import type { TimerHandle } from "../network/clock.ts";
import { Backoff, type NodeEvent } from "../network/mod.ts";
import { InstanceLock } from "../state/mod.ts";
import { readExtraCaCerts } from "../cli/ca_file.ts";
import type { CommandContext, CommandSpec, PermissionInvocation } from "../cli/command.ts";
import { CommandError } from "../cli/errors.ts";
import { AUTHKEY_ENV, CA_FILE_ENV, NEXUS_ENV, NODE_NAME_ENV, STATE_DIR_ENV } from "../cli/env.ts";
import {
  type KeptPermissions,
  NO_SHELL_JOBS_ENV,
  REDIS_URL_ENV,
  STATE_DIR_ENV_NAMES,
} from "../cli/permissions.ts";
import { ExitCode } from "../cli/exit_codes.ts";
import { formatDuration } from "../cli/duration.ts";
import { disconnectQuietly } from "../cli/join.ts";
import { type LocalApiServer, startLocalApi } from "../localapi/mod.ts";
import { nexusFor, nodeNameOf, readSavedNode, stateDirOf } from "../cli/node_target.ts";

/** Longest wait between two tries while Nexus is unreachable at start. */
export const UNREACHABLE_RETRY_MAX_MS = 30_000;

/** How long a clean shutdown may take before `work` gives up on it. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;

/**
 * The job loop. A placeholder until the job runner exists (a later issue):
 * it only waits until `stop` is aborted, or until the node fails for good
 * (then it rejects with the node's error).
 */
function runJobLoop(stop: AbortSignal, nodeFailed: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (stop.aborted) resolve();
      else if (nodeFailed.aborted) reject(nodeFailed.reason);
    };
    check();
    stop.addEventListener("abort", check, { once: true });
    nodeFailed.addEventListener("abort", check, { once: true });
  });
}

/**
 * Whether this `work` can run shell jobs, and so keeps `run`: only with a job
 * queue (`--redis` or `CITADEL_REDIS_URL`) and shell jobs not refused
 * (`--no-shell-jobs`, or `CITADEL_NO_SHELL_JOBS` set to 1/true/yes/on).
 */
export function workRunsShellJobs(invocation: PermissionInvocation): boolean {
  const redis = invocation.values.redis;
  const queue = (typeof redis === "string" && redis !== "") ||
    (invocation.env(REDIS_URL_ENV) ?? "").trim() !== "";
  const refused = invocation.values["no-shell-jobs"] === true ||
    /^(1|true|yes|on)$/i.test((invocation.env(NO_SHELL_JOBS_ENV) ?? "").trim());
  return queue && !refused;
}

/**
 * What `work` keeps: the network, the state, Hostinfo's and the state
 * directory's system facts, the variables it reads while running (the auth
 * key to log in again, the queue's URL), and `run` only for shell jobs.
 */
export function workPermissions(invocation: PermissionInvocation): KeptPermissions {
  return {
    net: true,
    read: true,
    write: true,
    run: workRunsShellJobs(invocation),
    env: [...STATE_DIR_ENV_NAMES, AUTHKEY_ENV, NODE_NAME_ENV, CA_FILE_ENV, REDIS_URL_ENV],
    sys: ["hostname", "osRelease", "uid", "networkInterfaces"],
  };
}

/** Timestamped log lines: information on stdout, trouble on stderr. */
class WorkLog {
  readonly #ctx: CommandContext;
  constructor(ctx: CommandContext) {
    this.#ctx = ctx;
  }
  #stamp(): string {
    return new Date(this.#ctx.io.clock.now()).toISOString();
  }
  info(message: string): void {
    this.#ctx.out.line(`${this.#stamp()} ${message}`);
  }
  warn(message: string): void {
    this.#ctx.out.info(`${this.#stamp()} warning: ${message}`);
  }
}

function logEvent(log: WorkLog, event: NodeEvent): void {
  switch (event.kind) {
    case "connecting":
      log.info(`connecting to ${event.nexus} (attempt ${event.attempt})`);
      return;
    case "auth-url":
      return; // Handled by onAuthURL: work never logs in interactively.
    case "registered":
      log.info(`registered as ${event.nodeName ?? "?"} (${event.nodeIP ?? "no IPv4"})`);
      return;
    case "netmap":
      log.info(`netmap: ${event.summary}`);
      return;
    case "disconnected":
      log.warn(
        `disconnected from Nexus (${event.reason}); retrying in ${formatDuration(event.retryInMs)}`,
      );
      return;
    case "reconnected":
      log.info("reconnected to Nexus");
      return;
    case "warning":
      log.warn(event.message);
      return;
    case "failed":
      log.warn(`the node stopped: ${event.error.message}`);
      return;
    default:
      log.info(`event ${(event as { kind: string }).kind}`);
  }
}

/** Runs the worker until stopped; the exit code. */
async function runWorker(ctx: CommandContext, stop: AbortSignal, log: WorkLog): Promise<number> {
  const stateDir = stateDirOf(ctx);
  const authKey = (ctx.io.env(AUTHKEY_ENV) ?? "").trim();
  ctx.out.addSecret(authKey);
  const nodeName = nodeNameOf(ctx);

  const lock = await InstanceLock.acquire(stateDir, { clock: ctx.io.clock });
  let api: LocalApiServer | null = null;
  try {
    const saved = await readSavedNode(stateDir);
    const nexus = nexusFor(ctx, saved);
    const caCerts = await readExtraCaCerts(ctx);
    const resume = saved?.registered === true;
    if (!resume && authKey === "") {
      throw new CommandError(
        `not logged in, and ${AUTHKEY_ENV} is not set`,
        ExitCode.NOT_LOGGED_IN,
        `Run \`citadel init\` first, or set ${AUTHKEY_ENV} (for example in a container).`,
      );
    }
    log.info(
      `starting: state ${stateDir}, nexus ${nexus}, ` +
        (resume ? "resuming the saved identity" : "joining with the auth key"),
    );

    const connecting = new AbortController();
    const nodeFailed = new AbortController();
    const onStop = () => connecting.abort(stop.reason);
    stop.addEventListener("abort", onStop, { once: true });
    // Nexus may be down when a service starts (boot order, an outage): keep
    // trying, saying so, rather than exit. Any other failure ends work.
    const backoff = new Backoff({ baseMs: 1_000, maxMs: UNREACHABLE_RETRY_MAX_MS });
    try {
      for (;;) {
        try {
          await ctx.deps.network.connect(nexus, authKey, stateDir, {
            nodeName,
            signal: connecting.signal,
            allowInteractive: false,
            caCerts,
            // work is the node peers talk to: WireGuard over DERP.
            dataPlane: true,
            onAuthURL: () =>
              connecting.abort(
                new CommandError(
                  "Nexus asks for an interactive login, which citadel work cannot do",
                  ExitCode.NOT_LOGGED_IN,
                  "Run `citadel login` (or `citadel init --authkey KEY`), then start work again.",
                ),
              ),
            onEvent: (event) => {
              logEvent(log, event);
              if (event.kind === "failed") nodeFailed.abort(event.error);
            },
          });
          break;
        } catch (e) {
          if (stop.aborted) return ExitCode.OK; // Stopped while connecting: a clean exit.
          const error = connecting.signal.aborted ? connecting.signal.reason : e;
          if ((error as Error)?.name !== "ControlUnreachableError") throw error;
          const delay = backoff.nextDelayMs();
          log.warn(
            `Nexus is unreachable (${(error as Error).message}); ` +
              `retrying in ${formatDuration(delay)}`,
          );
          try {
            await ctx.io.clock.sleep(delay, stop);
          } catch {
            return ExitCode.OK;
          }
        }
      }
    } finally {
      stop.removeEventListener("abort", onStop);
    }

    if (!ctx.deps.network.isGlobalConnected()) {
      throw new CommandError(
        "connect returned, but the node is not online (no network map); " +
          "refusing to start the job loop",
        ExitCode.FAILURE,
        "Run with --verbose, and check `citadel status`.",
      );
    }
    const status = ctx.deps.network.status();
    log.info(
      `online as ${status?.nodeName ?? "?"} (${status?.nodeIP ?? "no IPv4"}), ` +
        `${status?.peers.length ?? 0} peer(s)`,
    );

    api = await startLocalApi({
      stateDir,
      nexus,
      status: () => ctx.deps.network.status(),
      ping: (target, options) => ctx.deps.network.ping(target, options),
      process: () => ctx.io.process.report("work"),
    });
    log.info(api ? `local API on ${api.path}` : "local API not available on this platform");
    log.info("job loop running (placeholder: waits until stopped)");
    await runJobLoop(stop, nodeFailed.signal);
    log.info("stopping");
    return ExitCode.OK;
  } finally {
    try {
      await api?.close();
    } catch (e) {
      log.warn(`closing the local API failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    await disconnectQuietly(ctx);
    await lock.release();
  }
}

/** The `work` command. */
export const workCommand: CommandSpec = {
  name: "work",
  summary: "Run the node: stay connected and run jobs until stopped",
  description: `
Keeps this node connected to the AceTeam Network and runs its job loop until
it receives SIGINT or SIGTERM (Ctrl-C); then it disconnects and exits 0. A
second signal exits at once (130). Only one 'citadel work' may run per state
directory.

While Nexus cannot be reached at start it waits and retries (up to 30 s
apart), logging each try.

It resumes the saved identity; the first time (no saved state) it joins with
the auth key in ${AUTHKEY_ENV}, which is also used to log in again should
Nexus expire or delete the node. It never shows a login link. For containers,
configure it through ${NEXUS_ENV}, ${STATE_DIR_ENV} (keep it on a volume),
${AUTHKEY_ENV} and ${NODE_NAME_ENV}.

While it runs, 'citadel status' asks it through a local socket
(<state dir>/citadel.sock). Network changes are logged as timestamped lines.

The job loop is a placeholder in this version: it does nothing but wait.`,
  options: {
    "node-name": {
      type: "string",
      valueName: "NAME",
      description: `Name to register under when joining (env ${NODE_NAME_ENV})`,
    },
  },
  json: false,
  permissions: workPermissions,
  async run(ctx: CommandContext): Promise<number> {
    const log = new WorkLog(ctx);
    const stop = new AbortController();
    let exitNow: (code: number) => void = () => {};
    const forced = new Promise<number>((resolve) => exitNow = resolve);
    let watchdog: TimerHandle | null = null;
    let signals = 0;
    const unsubscribe = ctx.io.signals.subscribe((signal) => {
      signals += 1;
      if (signals === 1) {
        log.info(`received ${signal}; shutting down (send it again to exit at once)`);
        stop.abort(new DOMException(signal, "AbortError"));
        watchdog = ctx.io.clock.setTimeout(() => {
          log.warn(`shutdown took longer than ${formatDuration(SHUTDOWN_TIMEOUT_MS)}; exiting`);
          exitNow(ExitCode.FAILURE);
        }, SHUTDOWN_TIMEOUT_MS);
      } else {
        log.warn(`received ${signal} again; exiting now`);
        exitNow(ExitCode.INTERRUPTED);
      }
    });
    try {
      return await Promise.race([runWorker(ctx, stop.signal, log), forced]);
    } finally {
      if (watchdog !== null) ctx.io.clock.clearTimeout(watchdog);
      unsubscribe();
    }
  },
};
