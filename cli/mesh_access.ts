/**
 * How `nc`, `expose` and `proxy` reach the mesh. One node key has one
 * session (cli/running_work.ts says why), so:
 *
 * - When a `citadel work` runs on the state directory, everything goes
 *   through its local API: `POST /dial` for connections, `POST /expose` for
 *   forwards (localapi/tunnel_client.ts). Nothing connects to Nexus.
 * - Otherwise the command becomes the node for as long as it runs: it takes
 *   the state directory's instance lock (so a `work` started meanwhile
 *   refuses, and no second session can start beside it), connects with the
 *   data plane from the saved state (never a login), and serves the local
 *   API itself, so that `status`, `ping`, `nc` … run meanwhile go through
 *   it. On the way out it closes the API, disconnects and releases the lock.
 *
 * Also the node-side pieces the local API needs ({@link meshDialerOf},
 * {@link meshForwardStarter}), shared with `work`.
 *
 * @module
 */
import { Forwarder, type ForwardEvent, type ForwardTarget } from "../bridge/forwarder.ts";
import type { MeshDialer } from "../bridge/mesh_dialer.ts";
import type { ByteStream } from "../bridge/relay.ts";
import {
  dialThroughWork,
  type ExposeEvent,
  type ExposeStarter,
  exposeThroughWork,
  type LocalApiServer,
  localApiSocketPath,
  startLocalApi,
} from "../localapi/mod.ts";
import type { ProxyConfig } from "../network/mod.ts";
import { InstanceLock } from "../state/mod.ts";
import { readExtraCaCerts } from "./ca_file.ts";
import type { CommandContext } from "./command.ts";
import { dataPlaneOf } from "./data_plane_settings.ts";
import type { NetworkApi } from "./dependencies.ts";
import { formatDuration } from "./duration.ts";
import { CommandError } from "./errors.ts";
import { ExitCode } from "./exit_codes.ts";
import { withDeadline } from "./interrupt.ts";
import { disconnectQuietly } from "./join.ts";
import { nexusFor, readSavedNode, stateDirOf } from "./node_target.ts";
import { readProxyConfig } from "./proxy_env.ts";
import { statusOfRunningWork } from "./running_work.ts";

/** How long a command waits for its own node to come online, by default. */
export const OWN_NODE_CONNECT_TIMEOUT_MS = 30_000;

/** A forward in progress, through work or in this process. */
export interface RunningExpose {
  /** Resolves when the forward ends by itself (work stopped); never while it runs. */
  readonly ended: Promise<void>;
  /** Stops the forward. */
  close(): Promise<void>;
}

/** What the commands get: a way to dial, a way to expose, and through whom. */
export interface MeshAccess {
  /** `"work"`: through the running work's local API; `"own"`: this process is the node. */
  readonly via: "work" | "own";
  /** Opens mesh TCP connections. */
  readonly dial: MeshDialer;
  /** Forwards mesh `port` to `target`, telling `onEvent` what happens. */
  expose(
    port: number,
    target: ForwardTarget,
    onEvent: (event: ExposeEvent) => void,
  ): Promise<RunningExpose>;
}

/** The node's dial as a {@link MeshDialer}. */
export function meshDialerOf(network: NetworkApi): MeshDialer {
  return (host, port, options = {}) =>
    network.dial(host, port, { timeoutMs: options.timeoutMs, signal: options.signal });
}

/** Forwards in this process: a {@link Forwarder} on the node's listener. */
export function meshForwardStarter(network: NetworkApi): ExposeStarter {
  return (port, target, onEvent) => {
    const forwarder = new Forwarder({ listener: network.listen(port), target, onEvent });
    return { close: () => forwarder.close() };
  };
}

function workGone(stateDir: string): CommandError {
  return new CommandError(
    `citadel work stopped (state directory ${stateDir})`,
    ExitCode.WORK_NOT_RUNNING,
    "Start `citadel work` again, or run this command alone (it then connects by itself).",
  );
}

/** Access through the running work's local API. */
function throughWork(stateDir: string): MeshAccess {
  const socket = localApiSocketPath(stateDir);
  return {
    via: "work",
    dial: async (host, port, options) => {
      const stream = await dialThroughWork(socket, host, port, options);
      if (!stream) throw workGone(stateDir);
      return stream;
    },
    expose: async (port, target, onEvent) => {
      const to = target.hostname.includes(":")
        ? `[${target.hostname}]:${target.port}`
        : `${target.hostname}:${target.port}`;
      const held = await exposeThroughWork(socket, port, to);
      if (!held) throw workGone(stateDir);
      const ended = (async () => {
        for await (const event of held.events) onEvent(event);
      })();
      return {
        ended,
        close: async () => {
          held.close();
          await ended;
        },
      };
    },
  };
}

/** Access in this process, through the node it started. */
function inProcess(network: NetworkApi): MeshAccess {
  return {
    via: "own",
    dial: meshDialerOf(network),
    expose: (port, target, onEvent) => {
      const forwarder = new Forwarder({
        listener: network.listen(port),
        target,
        onEvent: (event: ForwardEvent) => {
          const { kind, ...rest } = event;
          onEvent({ event: kind, ...rest } as ExposeEvent);
        },
      });
      onEvent({
        event: "ready",
        port,
        to: `${target.hostname}:${target.port}`,
      });
      // A forward of our own ends only when closed.
      return Promise.resolve({
        ended: new Promise<void>(() => {}),
        close: () => forwarder.close(),
      });
    },
  };
}

/**
 * Runs `fn` with mesh access: through the running work, or as the node
 * itself (see the module's comment). `interrupt` (Ctrl-C) also aborts the
 * connect. Refuses a work that is starting (cli/running_work.ts), a node
 * that has not joined (NOT_LOGGED_IN), and a login Nexus asks for.
 */
export async function withMeshAccess(
  ctx: CommandContext,
  command: string,
  interrupt: AbortSignal,
  fn: (mesh: MeshAccess) => Promise<number>,
): Promise<number> {
  const stateDir = stateDirOf(ctx);
  if (await statusOfRunningWork(ctx, stateDir)) {
    ctx.out.debug(`using the running citadel work (${localApiSocketPath(stateDir)})`);
    return await fn(throughWork(stateDir));
  }
  const saved = await readSavedNode(stateDir);
  if (!saved?.registered) {
    throw new CommandError(
      "not logged in",
      ExitCode.NOT_LOGGED_IN,
      "Run `citadel init` to join the network.",
    );
  }
  const nexus = nexusFor(ctx, saved);
  const caCerts = await readExtraCaCerts(ctx);
  const proxy: ProxyConfig | undefined = readProxyConfig(ctx);
  const lock = await InstanceLock.acquire(stateDir, { clock: ctx.io.clock });
  let api: LocalApiServer | null = null;
  try {
    const network = ctx.deps.network;
    const timedOut = () =>
      new CommandError(
        `could not bring the node online within ${formatDuration(OWN_NODE_CONNECT_TIMEOUT_MS)}`,
        ExitCode.NEXUS_UNREACHABLE,
        "Check the network connection, or run `citadel work` and try again.",
      );
    await withDeadline(ctx, interrupt, OWN_NODE_CONNECT_TIMEOUT_MS, timedOut, (controller) => {
      ctx.out.debug(`no citadel work runs; connecting as the node from ${stateDir} to ${nexus}`);
      return network.connect(nexus, "", stateDir, {
        signal: controller.signal,
        allowInteractive: false,
        caCerts,
        proxy,
        dataPlane: dataPlaneOf(ctx),
        onAuthURL: () =>
          controller.abort(
            new CommandError(
              "the saved login is no longer accepted: Nexus asks for a new login",
              ExitCode.NOT_LOGGED_IN,
              "Run `citadel login` to log in again.",
            ),
          ),
      });
    });
    // Others on this state directory (status, ping, another nc) go through us meanwhile.
    api = await startLocalApi({
      stateDir,
      nexus,
      status: () => network.status(),
      ping: (target, options) => network.ping(target, options),
      dial: meshDialerOf(network),
      expose: meshForwardStarter(network),
      process: () => ctx.io.process.report(command),
    });
    return await fn(inProcess(network));
  } finally {
    try {
      await api?.close();
    } catch (e) {
      ctx.out.debug(`closing the local API failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    await disconnectQuietly(ctx);
    await lock.release();
  }
}

/** Standard input and output as one {@link ByteStream}, for `nc`. */
export function stdioStream(ctx: CommandContext): ByteStream {
  const stdio = ctx.io.stdio;
  return {
    read: (p) => stdio.read(p),
    write: (p) => stdio.write(p),
    closeWrite: () => stdio.closeWrite(),
    close: () => {},
  };
}
