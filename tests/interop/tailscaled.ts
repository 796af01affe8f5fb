/**
 * A real tailscaled (userspace networking) joined to a test Headscale, driven through the
 * `tailscale` CLI on its own socket. Everything it talks to is on 127.0.0.1.
 *
 * @module
 */

import type { HeadscaleServer } from "./headscale.ts";
import { tailscaleBinary, tailscaledBinary } from "./peers.ts";
import {
  CommandError,
  makeTempDir,
  type ManagedProcess,
  readLogTail,
  removeTempDir,
  runCommand,
  type RunResult,
  spawnLogged,
  waitFor,
} from "./process.ts";

/** The control server a tailscaled joins: a {@link HeadscaleServer} or its URL and CA. */
export interface ControlServerRef {
  /** `server_url` of the control server. */
  readonly url: string;
  /** PEM file of the CA to trust for HTTPS (control and DERP), if any. */
  readonly caCertPath?: string | undefined;
}

/** Options for {@link startTailscaled}. */
export interface StartTailscaledOptions {
  /** Control server to join. */
  readonly headscale: HeadscaleServer | ControlServerRef;
  /** Host name to register with. */
  readonly hostname: string;
  /**
   * Pre-auth key. Without one the login is interactive: `tailscale up` waits in the
   * background, {@link TailscaledNode.authUrl} gives the login URL and
   * {@link TailscaledNode.waitForRunning} waits for the approval.
   */
  readonly authKey?: string;
  /** Extra arguments for `tailscale up` (e.g. `["--advertise-tags=tag:x"]`). */
  readonly upArgs?: readonly string[];
  /** Extra environment for tailscaled (e.g. `{ TS_DEBUG_ALWAYS_USE_DERP: "1" }`). */
  readonly env?: Record<string, string>;
  /** Extra tailscaled arguments (e.g. `["--socks5-server=127.0.0.1:1080"]`). */
  readonly daemonArgs?: readonly string[];
  /** How long `tailscale up` may take (default 60 s). */
  readonly upTimeoutSeconds?: number;
}

/** One peer (or self) in `tailscale status --json`; only the fields tests use are typed. */
export interface TailscalePeerStatus {
  /** Stable node id. */
  readonly ID: string;
  /** `nodekey:…` */
  readonly PublicKey: string;
  /** Host name. */
  readonly HostName: string;
  /** MagicDNS name (`host.base.domain.`). */
  readonly DNSName: string;
  /** Tailnet addresses. */
  readonly TailscaleIPs?: readonly string[];
  /** Whether control says it is connected. */
  readonly Online: boolean;
  /** Home DERP region code. */
  readonly Relay?: string;
  /** Current direct UDP address, empty when over DERP. */
  readonly CurAddr?: string;
  /** Owner's user id. */
  readonly UserID?: number;
  /** Anything else tailscaled reports. */
  readonly [key: string]: unknown;
}

/** `tailscale status --json`; only the fields tests use are typed. */
export interface TailscaleStatus {
  /** `NoState`, `NeedsLogin`, `NeedsMachineAuth`, `Stopped`, `Starting` or `Running`. */
  readonly BackendState: string;
  /** Login URL while an interactive login is pending. */
  readonly AuthURL?: string;
  /** This node's tailnet addresses. */
  readonly TailscaleIPs?: readonly string[] | null;
  /** This node. */
  readonly Self?: TailscalePeerStatus;
  /** Peers keyed by node public key; absent when there are none. */
  readonly Peer?: Record<string, TailscalePeerStatus> | null;
  /** Health warnings. */
  readonly Health?: readonly string[] | null;
  /** Anything else tailscaled reports. */
  readonly [key: string]: unknown;
}

/** Options for {@link TailscaledNode.ping}. */
export interface PingOptions {
  /** Keep trying for this long (default 30 s). */
  readonly timeoutSeconds?: number;
  /** Kind of ping (default `disco`). */
  readonly type?: "disco" | "tsmp" | "icmp";
  /** Succeed only once a pong arrives over a direct path, not DERP. */
  readonly untilDirect?: boolean;
}

/** A successful `tailscale ping`. */
export interface PingResult {
  /** Name of the node that answered. */
  readonly nodeName: string;
  /** Its tailnet address. */
  readonly nodeIp: string;
  /** `DERP(code)`, `ip:port` for a direct path, or the ping type. */
  readonly via: string;
  /** Whether the pong came over a direct UDP path. */
  readonly direct: boolean;
  /** Round-trip time in milliseconds. */
  readonly latencyMs: number;
}

/** Thrown when `tailscale ping` gets no (suitable) pong in time. */
export class TailscalePingError extends Error {
  /** Builds the error from the target and the last output. */
  constructor(target: string, detail: string) {
    super(`tailscale ping ${target} failed: ${detail}`);
    this.name = "TailscalePingError";
  }
}

function goDurationMs(text: string): number {
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    "µs": 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
  };
  let total = 0;
  for (const [, value, unit] of text.matchAll(/([\d.]+)(ns|us|µs|ms|s|m)/g)) {
    total += Number(value) * units[unit];
  }
  return total;
}

/** Parses the last `pong from NAME (IP[, PORT]) via VIA in LATENCY` line of `tailscale ping`. */
export function parsePingOutput(output: string): PingResult | undefined {
  const pongs = [
    ...output.matchAll(/^pong from (\S+) \(([^,)]+)(?:, \d+)?\) via (.+) in (\S+)$/gm),
  ];
  const last = pongs.at(-1);
  if (!last) return undefined;
  const via = last[3];
  return {
    nodeName: last[1],
    nodeIp: last[2],
    via,
    direct: /^\[?[\d.:a-fA-F]+\]?:\d+$/.test(via),
    latencyMs: goDurationMs(last[4]),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A running tailscaled started by {@link startTailscaled}. */
export class TailscaledNode {
  /** Host name it registered with. */
  readonly hostname: string;
  /** Temp folder holding state, socket and logs. */
  readonly dir: string;
  /** tailscaled's LocalAPI socket. */
  readonly socketPath: string;
  /** Log file of tailscaled (kept across restarts). */
  readonly logPath: string;
  readonly #env: Record<string, string>;
  readonly #control: ControlServerRef;
  readonly #daemonArgs: readonly string[];
  #daemon: ManagedProcess | undefined;
  #pendingUp: ManagedProcess | undefined;
  #stopped = false;

  /** Use {@link startTailscaled}. */
  constructor(
    hostname: string,
    dir: string,
    control: ControlServerRef,
    env: Record<string, string>,
    daemonArgs: readonly string[] = [],
  ) {
    this.hostname = hostname;
    this.#daemonArgs = daemonArgs;
    this.dir = dir;
    this.socketPath = `${dir}/tailscaled.sock`;
    this.logPath = `${dir}/tailscaled.log`;
    this.#control = control;
    this.#env = env;
  }

  /** Whether tailscaled is running. */
  get running(): boolean {
    return this.#daemon?.running ?? false;
  }

  /** The daemon's process id while it runs. */
  get pid(): number | undefined {
    return this.running ? this.#daemon?.pid : undefined;
  }

  /**
   * Starts tailscaled from the state in {@link dir} and waits until its LocalAPI answers
   * (unless `waitForLocalAPI` is false: then it returns once the process is spawned, so a
   * caller timing the start polls nothing but what it measures).
   */
  async startDaemon(options: { waitForLocalAPI?: boolean } = {}): Promise<void> {
    if (this.#stopped) throw new Error(`tailscaled ${this.hostname} was stopped for good`);
    if (this.running) return;
    const daemon = spawnLogged({
      name: `tailscaled ${this.hostname}`,
      cmd: tailscaledBinary(),
      args: [
        "--tun=userspace-networking",
        `--statedir=${this.dir}`,
        `--socket=${this.socketPath}`,
        "--port=0",
        "--no-logs-no-support",
        ...this.#daemonArgs,
      ],
      logPath: this.logPath,
      env: this.#env,
      cwd: this.dir,
    });
    this.#daemon = daemon;
    if (options.waitForLocalAPI === false) return;
    await waitFor(`tailscaled ${this.hostname} LocalAPI`, async () => {
      const result = await this.cli(["status", "--json"], { check: false, timeoutMs: 5_000 });
      return result.stdout.trimStart().startsWith("{");
    }, { process: daemon, timeoutMs: 20_000 });
  }

  /**
   * Runs the tailscale CLI against this daemon (`tailscale --socket=… ARGS`).
   *
   * @throws {CommandError} on a non-zero exit unless `check: false`.
   */
  cli(
    args: readonly string[],
    options: { check?: boolean; timeoutMs?: number } = {},
  ): Promise<RunResult> {
    return runCommand(tailscaleBinary(), [`--socket=${this.socketPath}`, ...args], options);
  }

  /** Parsed `tailscale status --json`. */
  async status(): Promise<TailscaleStatus> {
    const { stdout } = await this.cli(["status", "--json"]);
    return JSON.parse(stdout) as TailscaleStatus;
  }

  /** Peers from `tailscale status --json` (empty when there are none). */
  async peers(): Promise<TailscalePeerStatus[]> {
    return Object.values((await this.status()).Peer ?? {});
  }

  /** This node's tailnet IPv4 address (`tailscale ip -4`). */
  async ip(): Promise<string> {
    const { stdout } = await this.cli(["ip", "-4"]);
    const ip = stdout.trim().split("\n")[0];
    if (!ip) throw new Error(`tailscaled ${this.hostname} has no IPv4 address yet`);
    return ip;
  }

  /** This node's tailnet addresses (`tailscale ip`), IPv4 first. */
  async ips(): Promise<string[]> {
    const { stdout } = await this.cli(["ip"]);
    return stdout.trim().split("\n").filter((line) => line !== "");
  }

  /**
   * `tailscale up` against the control server. With an auth key it waits until the node is
   * registered; without one it starts the interactive login in the background (see
   * {@link authUrl}).
   */
  async up(authKey: string | undefined, extraArgs: readonly string[] = [], timeoutSeconds = 60) {
    const args = [
      "up",
      `--login-server=${this.#control.url}`,
      `--hostname=${this.hostname}`,
      "--accept-dns=false",
      `--timeout=${timeoutSeconds}s`,
      ...extraArgs,
    ];
    if (authKey !== undefined) {
      await this.cli([...args, `--auth-key=${authKey}`], {
        timeoutMs: (timeoutSeconds + 15) * 1000,
      });
      return;
    }
    await this.#pendingUp?.stop();
    this.#pendingUp = spawnLogged({
      name: `tailscale up ${this.hostname}`,
      cmd: tailscaleBinary(),
      args: [`--socket=${this.socketPath}`, ...args],
      logPath: `${this.dir}/tailscale-up.log`,
    });
  }

  /** Waits for the login URL of a pending interactive login and returns it. */
  authUrl(timeoutMs = 30_000): Promise<string> {
    return waitFor(`login URL of ${this.hostname}`, async () => {
      const url = (await this.status()).AuthURL;
      return url ? url : undefined;
    }, { process: this.#daemon, timeoutMs });
  }

  /** Waits until the backend state is `Running` and returns the status. */
  waitForRunning(timeoutMs = 60_000): Promise<TailscaleStatus> {
    return waitFor(`tailscaled ${this.hostname} Running`, async () => {
      const status = await this.status();
      return status.BackendState === "Running" && (status.TailscaleIPs?.length ?? 0) > 0
        ? status
        : undefined;
    }, { process: this.#daemon, timeoutMs });
  }

  /**
   * Waits until `tailscale status` lists a peer with this host name and returns it.
   *
   * @example
   * ```ts
   * await a1.waitForPeer("a2");
   * ```
   */
  waitForPeer(hostname: string, timeoutMs = 30_000): Promise<TailscalePeerStatus> {
    return waitFor(`${this.hostname} to see peer ${hostname}`, async () => {
      return (await this.peers()).find((peer) => peer.HostName === hostname);
    }, { process: this.#daemon, timeoutMs });
  }

  /**
   * `tailscale ping` until a pong arrives (over DERP or direct, or only direct with
   * `untilDirect`), retrying single pings until `timeoutSeconds` runs out.
   *
   * @throws {TailscalePingError} when no suitable pong arrives in time.
   */
  async ping(target: string, options: PingOptions = {}): Promise<PingResult> {
    const deadline = Date.now() + (options.timeoutSeconds ?? 30) * 1000;
    let lastDetail = "no attempt";
    while (Date.now() < deadline) {
      // Short single pings, retried: the first ones may go out before the peer's endpoints and
      // home DERP have reached this node. `--until-direct` makes a direct pong return at once;
      // a DERP pong then exits non-zero after a second, but its line is already printed.
      const perPing = Math.max(1, Math.min(2, Math.ceil((deadline - Date.now()) / 1000)));
      const args = ["ping", "--c=1", `--timeout=${perPing}s`, "--until-direct=true"];
      if (options.type === "tsmp") args.push("--tsmp");
      if (options.type === "icmp") args.push("--icmp");
      const result = await this.cli([...args, target], {
        check: false,
        timeoutMs: (perPing + 10) * 1000,
      });
      const pong = parsePingOutput(result.stdout);
      if (pong && (!options.untilDirect || pong.direct)) return pong;
      lastDetail = `exit ${result.code}: ${(result.stdout + result.stderr).trim()}`;
      await sleep(200);
    }
    throw new TailscalePingError(target, lastDetail);
  }

  /** Stops the tailscaled process but keeps its state; {@link startDaemon} starts it again. */
  async stopDaemon(): Promise<void> {
    await this.#pendingUp?.stop();
    await this.#daemon?.stop();
  }

  /** Stops tailscaled (keeping its state) and starts it again; waits until `Running`. */
  async restart(): Promise<TailscaleStatus> {
    await this.#pendingUp?.stop();
    await this.#daemon?.stop();
    await this.startDaemon();
    return await this.waitForRunning();
  }

  /** Stops tailscaled for good and removes its temp folder. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      await this.#pendingUp?.stop();
      await this.#daemon?.stop();
    } finally {
      await removeTempDir(this.dir);
    }
  }

  /** Same as {@link stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * Environment for a tailscaled that must talk to 127.0.0.1 only: no log upload, no port
 * mapping probes of the gateway, no local interface addresses as endpoints, plain-HTTP DERP
 * unless the control server uses HTTPS (then the test CA is trusted instead), and a dead proxy
 * so any non-loopback HTTP request fails at once.
 */
export function offlineTailscaledEnv(
  control: ControlServerRef,
  dir: string,
): Record<string, string> {
  const env: Record<string, string> = {
    TS_LOGS_DIR: dir,
    TS_NO_LOGS_NO_SUPPORT: "1",
    TS_DISABLE_PORTMAPPER: "1",
    TS_DISABLE_UPNP: "1",
    TS_DEBUG_OMIT_LOCAL_ADDRS: "1",
    TS_PANIC_IF_HIT_MAIN_CONTROL: "1",
    TS_ASSUME_NETWORK_UP_FOR_TEST: "1",
    HTTP_PROXY: "http://127.0.0.1:9",
    HTTPS_PROXY: "http://127.0.0.1:9",
    NO_PROXY: "127.0.0.1,localhost",
  };
  if (control.url.startsWith("https:")) {
    if (control.caCertPath) env.SSL_CERT_FILE = control.caCertPath;
  } else {
    env.TS_DEBUG_USE_DERP_HTTP = "1";
  }
  return env;
}

/**
 * Starts a tailscaled in a fresh temp folder and joins it to the control server. With an auth
 * key it returns once the node is `Running`; without one, once the interactive login is pending.
 *
 * @throws {PeerNotBuiltError} when tailscaled or tailscale is not built.
 * @example
 * ```ts
 * await using a1 = await startTailscaled({ headscale: hs, authKey: key, hostname: "a1" });
 * console.log(await a1.ip());
 * ```
 */
export async function startTailscaled(options: StartTailscaledOptions): Promise<TailscaledNode> {
  tailscaledBinary();
  tailscaleBinary();
  const control: ControlServerRef = {
    url: options.headscale.url,
    caCertPath: options.headscale.caCertPath,
  };
  const dir = await makeTempDir(`tailscaled-${options.hostname}`);
  const env = { ...offlineTailscaledEnv(control, dir), ...options.env };
  const node = new TailscaledNode(options.hostname, dir, control, env, options.daemonArgs);
  try {
    await node.startDaemon();
    await node.up(options.authKey, options.upArgs ?? [], options.upTimeoutSeconds ?? 60);
    if (options.authKey !== undefined) await node.waitForRunning();
    return node;
  } catch (error) {
    if (error instanceof CommandError) {
      error.message += `\n--- ${node.logPath} ---\n${readLogTail(node.logPath)}`;
    }
    await node.stop();
    throw error;
  }
}
