/**
 * `citadel work`: the long-running node. It takes the state directory's
 * single-instance lock, connects (from saved state, or with
 * `CITADEL_AUTHKEY` the first time), refuses to start unless the node is
 * online, serves the local API (so `citadel status` asks it), logs network
 * changes as timestamped lines, and runs until SIGINT/SIGTERM.
 *
 * With `--redis` (or `CITADEL_REDIS_URL`) it runs the job loop (worker/):
 * Redis Streams consumer groups on the `--queue` streams plus this node's
 * own stream `jobs:v1:shell:org_<org>:node:<Nexus node id>`, `shell`, `http`
 * and `ping` jobs, heartbeats to `node:status:stream`, and watchdogs. The
 * loop reads only while the node is connected, drains running jobs on
 * SIGTERM (up to 8 s of the 10 s shutdown), and a watchdog makes work exit
 * WORKER_WATCHDOG (14) so its supervisor restarts it. Its consumer name is
 * `citadel-<node name>`, stable across restarts, so a restarted work takes
 * back the jobs it held at once. Without a Redis URL work only stays
 * connected and serves the local API.
 *
 * Container use: everything comes from the environment (`CITADEL_NEXUS`,
 * `CITADEL_STATE_DIR`, `CITADEL_AUTHKEY`, `CITADEL_NODE_NAME`,
 * `CITADEL_REDIS_URL`, `CITADEL_QUEUES`, …), no terminal is needed, and the
 * state directory should be a volume so the node keeps its identity across
 * restarts. Later starts resume the saved identity, so restarts never
 * register a new node; the network layer uses the auth key only to join the
 * first time, or to log in again when Nexus has expired or deleted the node.
 * Service managers that cannot hold secrets apart (launchd, Windows tasks)
 * pass `--env-file` (cli/env_file_context.ts).
 *
 * If the node stops for good while running (a "failed" event: deleted or
 * expired at Nexus and no way to log in again), `work` exits with that
 * error's code instead of running on without the network.
 *
 * Shutdown: the first SIGINT/SIGTERM stops the job loop (which drains),
 * closes the local API (removing its socket), disconnects, releases the lock
 * and exits OK. A second signal exits at once with INTERRUPTED; so does a
 * shutdown that takes longer than {@link SHUTDOWN_TIMEOUT_MS} (with FAILURE).
 *
 * Decisions on the Go original (§4):
 * - A second `work` on the same state exits ALREADY_RUNNING. The Go
 *   original exited 0 in that case to keep systemd from restarting it in a
 *   loop (#736); here the lock belongs to the state directory, the service
 *   manager sees the truth (and `service install` tells systemd not to
 *   restart on it), and the message names the holder.
 * - Quirk §8.6 (`work` never blocked on the mesh and only warned): the job
 *   loop does not start unless `isGlobalConnected()`, and pauses while the
 *   node is not connected. While Nexus is unreachable at start, work waits
 *   and retries with backoff (up to 30 s apart), logging each try, as a
 *   service should across boot order or an outage; any other failure (auth,
 *   TLS, wrong URL, node removed) exits with its error's code.
 * - A second signal exits INTERRUPTED (130), not 1, as the shell would.
 * - Redis direct by URL (the Go original's hidden `--debug-redis-url`) is the
 *   only job source: there is no platform API mode. The organisation comes
 *   from `--org` or the Nexus user name (cli/job_loop_settings.ts).
 * - A Redis (or an `http` job's URL) on a mesh peer, by name or mesh IP, is
 *   reached through the node's own TCP stack, never through the host's
 *   network (cli/job_loop_routes.ts); the log and `status` say which route
 *   the Redis connection took.
 * - No gateway, terminal server, status HTTP server or auto-update here.
 *
 * @module
 */
import type { TimerHandle } from "../network/clock.ts";
import { Backoff, type NodeEvent } from "../network/mod.ts";
import { systemRandom } from "../network/crypto/random.ts";
import { InstanceLock } from "../state/mod.ts";
import { dialTcp, JobLoop, type WorkerWatchdogError } from "../worker/mod.ts";
import { readExtraCaCerts } from "../cli/ca_file.ts";
import { describeDerpEvent, describeNetcheckEvent } from "../cli/derp_events.ts";
import { readProxyConfig } from "../cli/proxy_env.ts";
import type { CommandContext, CommandSpec, PermissionInvocation } from "../cli/command.ts";
import { CommandError } from "../cli/errors.ts";
import {
  AUTHKEY_ENV,
  NEXUS_ENV,
  NO_DIRECT_ENV,
  NODE_NAME_ENV,
  PATH_ENV,
  QUEUES_ENV,
  REDIS_URL_ENV,
  STATE_DIR_ENV,
  UDP_BIND_ENV,
} from "../cli/env.ts";
import { withEnvFile } from "../cli/env_file_context.ts";
import { dataPlaneOf } from "../cli/data_plane_settings.ts";
import {
  CITADEL_ENV_NAMES,
  type KeptPermissions,
  NO_SHELL_JOBS_ENV,
  PROXY_ENV_NAMES,
  STATE_DIR_ENV_NAMES,
} from "../cli/permissions.ts";
import { parseEnvFile } from "../service/mod.ts";
import { ExitCode } from "../cli/exit_codes.ts";
import { formatDuration } from "../cli/duration.ts";
import { disconnectQuietly } from "../cli/join.ts";
import {
  JOB_LOOP_OPTIONS,
  type JobLoopSettings,
  jobLoopSettings,
  orgFromLoginName,
} from "../cli/job_loop_settings.ts";
import { workerEventLine } from "../cli/worker_event_text.ts";
import {
  isMeshHost,
  meshDial,
  meshPeerNamed,
  routedDial,
  routedFetch,
} from "../cli/job_loop_routes.ts";
import { type LocalApiServer, startLocalApi } from "../localapi/mod.ts";
import { meshDialerOf, meshForwardStarter } from "../cli/mesh_access.ts";
import { type MeshProxies, startMeshProxies } from "../cli/mesh_proxies.ts";
import { proxyAddresses } from "./proxy.ts";
import { nexusFor, nodeNameOf, readSavedNode, stateDirOf } from "../cli/node_target.ts";
import { CITADEL_VERSION } from "./version.ts";

/** Longest wait between two tries while Nexus is unreachable at start. */
export const UNREACHABLE_RETRY_MAX_MS = 30_000;

/** Errors that make `work` wait and try again at start instead of exiting. */
const RETRIED_AT_START: ReadonlySet<string | undefined> = new Set([
  "ControlUnreachableError",
  "ProxyUnreachableError",
]);

/** How long a clean shutdown may take before `work` gives up on it. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;

/** How long the job loop may drain running jobs on shutdown (inside {@link SHUTDOWN_TIMEOUT_MS}). */
export const DRAIN_TIMEOUT_MS = 8_000;

/**
 * Without a job loop: waits until `stop` is aborted, or until the node fails
 * for good (then it rejects with the node's error).
 */
function waitUntilStopped(stop: AbortSignal, nodeFailed: AbortSignal): Promise<void> {
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
 * key to log in again, the job loop's and direct paths' settings, the
 * proxy, `PATH` for shell jobs), and `run` only for shell jobs. With
 * `--env-file`, the file's settings count as the environment's (read here,
 * before anything is revoked, so that a queue set only there keeps `run`).
 */
export function workPermissions(invocation: PermissionInvocation): KeptPermissions {
  const envFile = invocation.values["env-file"];
  const fromFile = typeof envFile === "string"
    ? envFileQuietly(envFile)
    : new Map<string, string>();
  const env = (name: string) => invocation.env(name) || fromFile.get(name);
  return {
    net: true,
    read: true,
    write: true,
    run: workRunsShellJobs({ values: invocation.values, env }),
    env: [
      ...new Set([...STATE_DIR_ENV_NAMES, ...CITADEL_ENV_NAMES, ...PROXY_ENV_NAMES, PATH_ENV]),
    ],
    sys: ["hostname", "osRelease", "uid", "networkInterfaces"],
  };
}

/** The variables of an env file, or none when it cannot be read (the run reports that). */
function envFileQuietly(path: string): Map<string, string> {
  try {
    return parseEnvFile(Deno.readTextFileSync(path), path);
  } catch {
    return new Map();
  }
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
  debug(message: string): void {
    this.#ctx.out.debug(`${this.#stamp()} ${message}`);
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
    case "derp":
      if (event.event.kind === "derp-lost" || event.event.kind === "derp-connect-failed") {
        log.warn(describeDerpEvent(event.event));
      } else {
        log.info(describeDerpEvent(event.event));
      }
      return;
    case "netcheck":
      log.info(describeNetcheckEvent(event));
      return;
    default:
      log.info(`event ${(event as { kind: string }).kind}`);
  }
}

/** Builds the job loop once the node is online. */
async function createJobLoop(
  ctx: CommandContext,
  settings: JobLoopSettings,
  stateDir: string,
  log: WorkLog,
): Promise<JobLoop> {
  const network = ctx.deps.network;
  const status = network.status();
  // Peers (and mesh addresses) through the node's TCP stack, decided at each
  // connection from the netmap of the moment; everything else directly.
  const dials = ctx.deps.redisDial ?? { direct: dialTcp, mesh: meshDial };
  const isMesh = (host: string) => isMeshHost(network.status(), host);
  if (isMesh(settings.redisHost)) {
    const peer = meshPeerNamed(status, settings.redisHost);
    log.info(
      `job loop: Redis at ${settings.redisHost} is on the mesh` +
        `${peer !== null ? ` (peer ${peer})` : ""}: connecting through the mesh`,
    );
  }
  const org = settings.org ?? orgFromLoginName((await readSavedNode(stateDir))?.loginName ?? null);
  const nodeId = status?.nodeId ?? null;
  if (org === null || nodeId === null) {
    log.warn(
      `no per-node stream: ${org === null ? "the organisation is unknown (--org)" : ""}` +
        `${org === null && nodeId === null ? " and " : ""}` +
        `${nodeId === null ? "the node's Nexus id is unknown" : ""}`,
    );
  }
  const nodeName = status?.nodeName ?? "node";
  return new JobLoop({
    redisURL: settings.redisURL,
    dial: routedDial(dials, isMesh),
    clock: ctx.io.clock,
    random: systemRandom,
    connected: () => network.isGlobalConnected(),
    node: () => {
      const s = network.status();
      return {
        nodeName: s?.nodeName ?? null,
        nodeId: s?.nodeId != null ? String(s.nodeId) : null,
        meshIPs: [s?.nodeIP, s?.nodeIPv6].filter((ip): ip is string => !!ip),
      };
    },
    version: CITADEL_VERSION,
    queues: settings.queues,
    org,
    consumer: `citadel-${nodeName}`,
    concurrency: settings.concurrency,
    maxRetries: settings.maxRetries,
    drainTimeoutMs: DRAIN_TIMEOUT_MS,
    // Jobs get PATH and nothing else of work's environment (no auth key, no Redis password).
    shell: settings.shellJobs
      ? {
        workspaceDir: `${stateDir}/workspace`,
        env: { PATH: ctx.io.env(PATH_ENV) || "/usr/local/bin:/usr/bin:/bin" },
      }
      : null,
    // http jobs to a peer go over a mesh TCP connection, others through fetch.
    fetch: routedFetch({
      mesh: dials.mesh,
      isMesh,
      direct: (request) => fetch(request),
      caCerts: await readExtraCaCerts(ctx),
    }),
    ping: (target, options) => network.ping(target, options),
    onEvent: (event) => {
      const line = workerEventLine(event);
      log[line.level](line.text);
    },
  });
}

/** Runs the worker until stopped; the exit code. */
async function runWorker(ctx: CommandContext, stop: AbortSignal, log: WorkLog): Promise<number> {
  const stateDir = stateDirOf(ctx);
  const authKey = (ctx.io.env(AUTHKEY_ENV) ?? "").trim();
  ctx.out.addSecret(authKey);
  const nodeName = nodeNameOf(ctx);
  // Checked before anything connects: a typo exits USAGE at once.
  const jobs = jobLoopSettings(ctx);
  if (jobs?.redisPassword) {
    // Shown redacted everywhere; these catch a stray copy.
    ctx.out.addSecret(jobs.redisURL);
    ctx.out.addSecret(jobs.redisPassword);
  }

  const proxyListen = proxyAddresses(ctx, { socks5: "socks5", http: "http-proxy" });

  const lock = await InstanceLock.acquire(stateDir, { clock: ctx.io.clock });
  let api: LocalApiServer | null = null;
  let proxies: MeshProxies | null = null;
  try {
    const saved = await readSavedNode(stateDir);
    const nexus = nexusFor(ctx, saved);
    const caCerts = await readExtraCaCerts(ctx);
    const proxy = readProxyConfig(ctx);
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
            proxy,
            // work is the node peers talk to: WireGuard over direct paths, DERP as the fallback.
            dataPlane: dataPlaneOf(ctx),
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
          // Nexus, or the proxy in front of it, may be down at boot: wait for it.
          if (!RETRIED_AT_START.has((error as Error)?.name)) throw error;
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

    const loop = jobs ? await createJobLoop(ctx, jobs, stateDir, log) : null;
    api = await startLocalApi({
      stateDir,
      nexus,
      status: () => ctx.deps.network.status(),
      ping: (target, options) => ctx.deps.network.ping(target, options),
      dial: meshDialerOf(ctx.deps.network),
      expose: meshForwardStarter(ctx.deps.network),
      worker: () => loop?.status() ?? null,
      process: () => ctx.io.process.report("work"),
    });
    log.info(api ? `local API on ${api.path}` : "local API not available on this platform");
    proxies = startMeshProxies(proxyListen, meshDialerOf(ctx.deps.network), log);
    if (!loop) {
      log.info(`ready: no job loop (no --redis or ${REDIS_URL_ENV}); staying connected`);
      await waitUntilStopped(stop, nodeFailed.signal);
      log.info("stopping");
      return ExitCode.OK;
    }
    log.info(
      `ready: job loop on ${jobs!.redisShown}, queues ${loop.queues.join(", ")}, ` +
        `${jobs!.concurrency} at once${jobs!.shellJobs ? "" : ", shell jobs refused"}`,
    );
    try {
      const { abandoned } = await loop.run(AbortSignal.any([stop, nodeFailed.signal]));
      if (abandoned.length > 0) log.warn(`left ${abandoned.length} job(s) for another run`);
    } catch (e) {
      const watchdog = e as WorkerWatchdogError;
      log.warn(`the job loop's watchdog fired: ${watchdog.message}; exiting for a restart`);
      throw e;
    }
    if (nodeFailed.signal.aborted) throw nodeFailed.signal.reason;
    log.info("stopping");
    return ExitCode.OK;
  } finally {
    await proxies?.close();
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
Keeps this node connected to the AceTeam Network until it receives SIGINT or
SIGTERM (Ctrl-C); then it disconnects and exits 0. A second signal exits at
once (130). Only one 'citadel work' may run per state directory.

While Nexus cannot be reached at start it waits and retries (up to 30 s
apart), logging each try.

It resumes the saved identity; the first time (no saved state) it joins with
the auth key in ${AUTHKEY_ENV}, which is also used to log in again should
Nexus expire or delete the node. It never shows a login link. For containers,
configure it through ${NEXUS_ENV}, ${STATE_DIR_ENV} (keep it on a volume),
${AUTHKEY_ENV}, ${NODE_NAME_ENV}, ${REDIS_URL_ENV}, ${QUEUES_ENV} and the
other variables of docs/cli.md.

Jobs: with --redis (or ${REDIS_URL_ENV}) it runs a job loop on Redis
Streams once the node is connected: it reads the --queue streams and this
node's own stream jobs:v1:shell:org_<ORG>:node:<Nexus node id> in the consumer
group citadel-workers, runs shell, http and ping jobs, writes their output
to stream:v1:<jobId> and a heartbeat to node:status:stream every 30 s, and
moves a job that failed --max-retries times to dlq:v1:<queue name>. It pauses
while the node is disconnected. SIGTERM lets running jobs finish for up to 8 s.
If no queue is read for 10 minutes, or a job will not stop at its limit,
work exits 14 so that its service manager restarts it. The Redis password
is never printed. Without --redis, work runs no jobs: it only stays
connected and serves the local API.

Peers are reached over direct UDP paths where NAT traversal finds one (STUN
and disco, as Tailscale does), else through DERP relays. --no-direct keeps
everything on DERP, for networks that allow no UDP.

While it runs, 'citadel status' asks it through a local socket
(<state dir>/citadel.sock); it shows the job loop too. 'citadel nc', 'expose'
and 'proxy' use its mesh connection through the same socket. --socks5 and
--http-proxy serve local proxies into the mesh, as 'citadel proxy'. Network
changes and jobs are logged as timestamped lines.`,
  options: {
    "node-name": {
      type: "string",
      valueName: "NAME",
      description: `Name to register under when joining (env ${NODE_NAME_ENV})`,
    },
    "no-direct": {
      type: "boolean",
      description: `DERP relays only: no direct UDP paths, no UDP socket (env ${NO_DIRECT_ENV}=1)`,
    },
    "udp-bind": {
      type: "string",
      valueName: "ADDR[:PORT]",
      description:
        `Where the direct-path UDP socket binds (default 0.0.0.0:0; env ${UDP_BIND_ENV})`,
    },
    socks5: {
      type: "string",
      valueName: "ADDR:PORT",
      description: "Also serve a SOCKS5 proxy into the mesh here (as citadel proxy --socks5)",
    },
    "http-proxy": {
      type: "string",
      valueName: "ADDR:PORT",
      description: "Also serve an HTTP CONNECT proxy into the mesh here",
    },
    ...JOB_LOOP_OPTIONS,
    "env-file": {
      type: "string",
      valueName: "FILE",
      description: "Read CITADEL_* settings from FILE (mode 0600), under the environment's",
    },
  },
  json: false,
  permissions: workPermissions,
  async run(given: CommandContext): Promise<number> {
    const envFile = given.values["env-file"] as string | undefined;
    const ctx = envFile ? await withEnvFile(given, envFile) : given;
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
