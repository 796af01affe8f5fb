/**
 * Test doubles for running `runCli` in-process: captured streams, a scripted
 * stdin, signals the test raises, and a network whose behaviour each test
 * sets. Also a helper that writes a registered node state with state/.
 */
import type { CliIO, CliSignal, ProcessControl } from "../../../cli/cli_io.ts";
import { type KeptPermissions, UndeclaredAccessError } from "../../../cli/permissions.ts";
import type { HeldPermissions } from "../../../localapi/protocol.ts";
import { runCli } from "../../../cli/dispatch.ts";
import { COMMANDS } from "../../../commands/mod.ts";
import type { NetworkApi } from "../../../cli/dependencies.ts";
import {
  DataPlaneNotStartedError,
  type DERPMap,
  type DialOptions,
  type NetcheckReport,
  type TcpConn,
  type TcpListener,
} from "../../../network/mod.ts";
import { emptyReport } from "../../../network/netcheck/netcheck_report.ts";
import { systemClock } from "../../../network/clock.ts";
import type {
  ConnectOptions,
  ConnectResult,
  NodeStatus,
  PeerStatus,
  PingOptions,
  PingResult,
} from "../../../network/mod.ts";
import { FileStateStore, newNodeState } from "../../../state/mod.ts";

/**
 * The process's permissions, simulated: starts with everything, records what
 * the dispatcher kept, and never touches the test runner's own permissions.
 */
export class FakeProcess implements ProcessControl {
  /** Each `shedPermissions` call's argument, in order. */
  shed: KeptPermissions[] = [];
  /** Whether the rejection handler was installed. */
  guarded = false;
  /** What `report` says about rejections. */
  rejections = 0;

  shedPermissions(keep: KeptPermissions): void {
    this.shed.push(keep);
  }

  heldPermissions(): HeldPermissions {
    const keep = this.shed.at(-1);
    if (!keep) {
      return { net: true, read: true, write: true, run: true, ffi: false, env: "all", sys: "all" };
    }
    return {
      net: keep.net === true,
      read: keep.read === true,
      write: keep.write === true,
      run: keep.run === true,
      ffi: false,
      env: [...keep.env ?? []],
      sys: [...keep.sys ?? []],
    };
  }

  guardRejections(): void {
    this.guarded = true;
  }

  report(command: string) {
    return {
      pid: 4242,
      command,
      permissions: this.heldPermissions(),
      unhandledRejections: this.rejections,
    };
  }
}

/** Captured I/O with settable terminal flags, environment and stdin. */
export class FakeIO implements CliIO {
  out = "";
  err = "";
  isTTY = { stdin: false, stdout: false, stderr: false };
  envVars: Record<string, string> = {};
  stdinLines: string[] = [];
  clock = systemClock;
  process = new FakeProcess();
  readonly #listeners = new Set<(signal: CliSignal) => void>();

  stdout = { write: (text: string) => void (this.out += text) };
  /** Bytes `stdio.read` hands out, in order; then the end of input. */
  stdinBytes: Uint8Array[] = [];
  /** What was written to `stdio`. */
  stdoutBytes: Uint8Array[] = [];
  /** Whether stdout was closed through `stdio`. */
  stdoutClosed = false;
  stdio = {
    read: (p: Uint8Array): Promise<number | null> => {
      const next = this.stdinBytes.shift();
      if (!next) return Promise.resolve(null);
      const n = Math.min(p.length, next.length);
      p.set(next.subarray(0, n));
      if (n < next.length) this.stdinBytes.unshift(next.subarray(n));
      return Promise.resolve(n);
    },
    write: (p: Uint8Array): Promise<number> => {
      this.stdoutBytes.push(p.slice());
      return Promise.resolve(p.length);
    },
    closeWrite: (): Promise<void> => {
      this.stdoutClosed = true;
      return Promise.resolve();
    },
  };
  stderr = { write: (text: string) => void (this.err += text) };
  signals = {
    subscribe: (listener: (signal: CliSignal) => void) => {
      this.#listeners.add(listener);
      return () => void this.#listeners.delete(listener);
    },
  };

  constructor(init: Partial<Pick<FakeIO, "isTTY" | "envVars" | "stdinLines">> = {}) {
    Object.assign(this, init);
  }

  /**
   * Like the real process: once the dispatcher shed permissions, reading a
   * variable the command did not keep is a loud bug (NO_COLOR is readable
   * by every Deno program).
   */
  env(name: string): string | undefined {
    const kept = this.process.shed.at(-1);
    if (kept && name !== "NO_COLOR" && !(kept.env ?? []).includes(name)) {
      throw new UndeclaredAccessError(`the environment variable ${name}`);
    }
    return this.envVars[name];
  }

  readLine(): Promise<string | null> {
    return Promise.resolve(this.stdinLines.shift() ?? null);
  }

  /** Delivers a signal to every current subscriber. */
  raise(signal: CliSignal): void {
    for (const listener of [...this.#listeners]) listener(signal);
  }

  /** How many listeners are subscribed (0 after a command cleaned up). */
  get signalListeners(): number {
    return this.#listeners.size;
  }

  /** Everything printed, both streams. */
  get all(): string {
    return this.out + this.err;
  }
}

/** One recorded connect call (the key is recorded to check what was passed). */
export interface ConnectCall {
  nexus: string;
  authKey: string;
  stateDir: string;
  options: ConnectOptions;
}

/** A network whose connect is scripted by the test. */
export class FakeNetwork implements NetworkApi {
  connectCalls: ConnectCall[] = [];
  logoutCalls: Array<{ stateDir?: string; nexus?: string }> = [];
  disconnects = 0;
  connected = false;
  currentStatus: NodeStatus | null = null;
  /** What connect does; default: succeed as node "box" at 100.64.0.5. */
  onConnect: (call: ConnectCall) => Promise<ConnectResult> = () =>
    Promise.resolve({
      nodeName: "box",
      nodeIP: "100.64.0.5",
      nodeIPv6: "fd7a:115c:a1e0::5",
      newlyRegistered: true,
    });
  /** What logout does; default: clear the state like the real one. */
  onLogout: (stateDir?: string) => Promise<void> = async (stateDir) => {
    const store = await FileStateStore.open({ dir: stateDir });
    await store.clear();
  };
  /** Status served once connected. */
  statusWhenConnected: (nexus: string) => NodeStatus = (nexus) => ({
    connected: true,
    nodeName: "box",
    nodeId: 7,
    nodeIP: "100.64.0.5",
    nodeIPv6: "fd7a:115c:a1e0::5",
    nexus,
    keyExpiry: "2030-01-01T00:00:00.000Z",
    peers: [{
      hostname: "peer-a",
      ip: "100.64.0.6",
      ipv6: "fd7a:115c:a1e0::6",
      online: true,
      os: "linux",
      lastSeen: null,
      path: "direct",
    }],
  });

  async connect(
    nexus: string,
    authKey: string,
    stateDir: string,
    options: ConnectOptions = {},
  ): Promise<ConnectResult> {
    const call = { nexus, authKey, stateDir, options };
    this.connectCalls.push(call);
    const result = await this.onConnect(call);
    this.connected = true;
    this.currentStatus = this.statusWhenConnected(nexus);
    return result;
  }
  disconnect(): Promise<void> {
    this.disconnects += 1;
    this.connected = false;
    this.currentStatus = null;
    return Promise.resolve();
  }
  async logout(stateDir?: string, nexus?: string): Promise<void> {
    this.logoutCalls.push({ stateDir, nexus });
    await this.onLogout(stateDir);
  }
  isGlobalConnected(): boolean {
    return this.connected;
  }
  status(): NodeStatus | null {
    return this.currentStatus;
  }
  peers(): PeerStatus[] {
    return this.currentStatus?.peers ?? [];
  }
  /** Targets pinged, in order. */
  pingCalls: Array<{ target: string; options: PingOptions }> = [];
  /** What ping does; default: peer-a at 100.64.0.6 answers via DERP in 2.5 ms. */
  onPing: (target: string, options: PingOptions) => Promise<PingResult> = () =>
    Promise.resolve({ ip: "100.64.0.6", nodeName: "peer-a", latencyMs: 2.5, path: "relay" });
  ping(target: string, options: PingOptions = {}): Promise<PingResult> {
    this.pingCalls.push({ target, options });
    return this.onPing(target, options);
  }
  /** Each dial's host and port. */
  dialCalls: Array<{ host: string; port: number; options: DialOptions }> = [];
  /** What dial does; by default the node has no data plane. */
  onDial: (host: string, port: number, options: DialOptions) => Promise<TcpConn> = () =>
    Promise.reject(new DataPlaneNotStartedError("dial"));
  dial(host: string, port: number, options: DialOptions = {}): Promise<TcpConn> {
    this.dialCalls.push({ host, port, options });
    return this.onDial(host, port, options);
  }
  /** What listen does; by default the node has no data plane. */
  onListen: (port: number) => TcpListener = () => {
    throw new DataPlaneNotStartedError("listen");
  };
  listen(port: number): TcpListener {
    return this.onListen(port);
  }
  /** The DERP map cached in the saved state; none by default. */
  cachedDerpMap: DERPMap | null = null;
  /** The DERP map a connected node has. */
  liveDerpMap: DERPMap | null = null;
  /** DERP maps netcheck ran against. */
  netcheckCalls: DERPMap[] = [];
  /** What netcheck reports; default: an empty report. */
  onNetcheck: (derpMap: DERPMap) => Promise<NetcheckReport> = () => Promise.resolve(emptyReport());
  derpMap(): DERPMap | null {
    return this.connected ? this.liveDerpMap : null;
  }
  savedDerpMap(): Promise<DERPMap | null> {
    return Promise.resolve(this.cachedDerpMap);
  }
  netcheck(derpMap: DERPMap): Promise<NetcheckReport> {
    this.netcheckCalls.push(derpMap);
    return this.onNetcheck(derpMap);
  }
}

/** Runs the CLI (every command) against fakes; the state dir comes from `io.envVars` or the args. */
export async function run(
  args: string[],
  io = new FakeIO(),
  network = new FakeNetwork(),
): Promise<{ code: number; io: FakeIO; network: FakeNetwork }> {
  const code = await runCli(args, COMMANDS, io, { network });
  return { code, io, network };
}

/** A fresh temporary state directory path (not created). */
export async function tempStateDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const root = await Deno.makeTempDir({ prefix: "citadel-cli-test-" });
  return {
    dir: `${root}/network`,
    cleanup: () => Deno.remove(root, { recursive: true }),
  };
}

/** Runs `fn` with a fresh temporary state directory path (not created), removed afterwards. */
export async function withStateDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempStateDir();
  try {
    await fn(dir);
  } finally {
    await cleanup();
  }
}

/** Whether anything (a file, directory or socket) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes a registered node state to `dir`, as a completed join would. */
export async function writeRegisteredState(
  dir: string,
  controlURL = "https://nexus.test",
): Promise<void> {
  const store = await FileStateStore.open({ dir });
  const state = newNodeState({ controlURL });
  state.login = {
    userId: 1,
    loginName: "alice@example.com",
    displayName: "Alice",
    nodeId: 7,
    nodeName: "box",
    addresses: { v4: "100.64.0.5", v6: "fd7a:115c:a1e0::5" },
    keyExpiry: Date.parse("2030-01-01T00:00:00Z"),
  };
  await store.save(state);
}

/** Waits until `predicate` holds, polling; fails after `ms`. */
export async function waitFor(predicate: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
