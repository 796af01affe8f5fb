/**
 * `citadel status [--json]`: is the node connected, its name and addresses,
 * its Nexus, when its key expires, and its peers.
 *
 * Where the answer comes from: a `citadel work` running on the same state
 * directory is asked through the local API (localapi/); otherwise
 * status connects briefly from the saved state and disconnects again. It
 * never starts an interactive login: without saved state it reports "not
 * logged in", and if Nexus asks for a login it stops and says so.
 *
 * Decisions on the Go original:
 * - Quirk §8.2 (every command started its own connection, even next to a
 *   running worker): status asks the worker instead.
 * - Quirk §8.3 (any file in the state directory counted as "logged in"):
 *   logged in means the state file exists and records a completed
 *   registration.
 * - Quirk §8.12 (`--json` was indented, so install.sh's grep for
 *   `"connected":true` never matched): `--json` prints one line of compact
 *   JSON, with exactly the NodeStatus keys.
 * - The Go status always exited 0. Here the exit code tells the outcome:
 *   OK when a status was obtained (connected or not), NOT_LOGGED_IN without
 *   state, and the mapped error code when the node could not be reached. In
 *   the failure cases `--json` still prints a status object
 *   (`"connected":false` plus what the saved state knows) before the error
 *   goes to stderr.
 * - The Go status also showed system vitals, GPUs, services and the job
 *   queue (read from Redis itself, by `REDIS_URL`); here the worker section
 *   is what the running `work`'s job loop reports through the local API,
 *   and vitals, GPUs and services belong to later issues.
 *
 * @module
 */
import { DEFAULT_NEXUS_URL, type NodeStatus, type ProxyConfig } from "../network/mod.ts";
import { readExtraCaCerts } from "../cli/ca_file.ts";
import { connectWithSavedLogin } from "../cli/saved_login.ts";
import { readProxyConfig } from "../cli/proxy_env.ts";
import type { CommandContext, CommandSpec } from "../cli/command.ts";
import { NEXUS_CLIENT_PERMISSIONS } from "../cli/permissions.ts";
import { formatDuration, parseDuration } from "../cli/duration.ts";
import { CommandError } from "../cli/errors.ts";
import { ExitCode } from "../cli/exit_codes.ts";
import { runInterruptible, withDeadline } from "../cli/interrupt.ts";
import { disconnectQuietly } from "../cli/join.ts";
import { statusOfRunningWork } from "../cli/running_work.ts";
import type { ProcessReport } from "../localapi/mod.ts";
import { nexusFor, readSavedNode, type SavedNode, stateDirOf } from "../cli/node_target.ts";
import { formatStatus, statusJson, type StatusView } from "../cli/status_format.ts";

/** How long status waits for a connection from saved state, by default. */
export const DEFAULT_STATUS_TIMEOUT = "20s";

function offlineStatus(saved: SavedNode | null, nexus: string): NodeStatus {
  return {
    connected: false,
    nodeName: saved?.nodeName ?? null,
    nodeId: saved?.nodeId ?? null,
    nodeIP: saved?.nodeIP ?? null,
    nodeIPv6: saved?.nodeIPv6 ?? null,
    nexus,
    keyExpiry: saved?.keyExpiry ?? null,
    peers: [],
  };
}

/**
 * The `--json` object: the status, what this process still holds
 * (`process`), and what the running `work` that answered holds (`work`, null
 * when status connected by itself).
 */
function statusJsonWithProcesses(
  ctx: CommandContext,
  status: StatusView,
  work: ProcessReport | null,
): Record<string, unknown> {
  return { ...statusJson(status), process: ctx.io.process.report("status"), work };
}

function printStatus(
  ctx: CommandContext,
  status: StatusView,
  source: string | null,
  work: ProcessReport | null = null,
): void {
  if (ctx.global.json) {
    ctx.out.json(statusJsonWithProcesses(ctx, status, work));
    return;
  }
  for (const line of formatStatus(status, ctx.io.clock.now(), ctx.out.stdoutPaint, source)) {
    ctx.out.line(line);
  }
}

/**
 * Prints what is known offline, then rethrows `error` for runCli to report.
 * In human mode the offline view is skipped: the error says it all.
 */
function failWithOffline(
  ctx: CommandContext,
  saved: SavedNode | null,
  nexus: string,
  error: unknown,
): never {
  if (ctx.global.json) {
    ctx.out.json(statusJsonWithProcesses(ctx, offlineStatus(saved, nexus), null));
  }
  throw error;
}

async function connectBriefly(
  ctx: CommandContext,
  stateDir: string,
  saved: SavedNode,
  nexus: string,
  timeoutMs: number,
): Promise<number> {
  let caCerts: string[] | undefined;
  let proxy: ProxyConfig | undefined;
  try {
    caCerts = await readExtraCaCerts(ctx);
    proxy = readProxyConfig(ctx);
  } catch (e) {
    failWithOffline(ctx, saved, nexus, e);
  }
  const timedOut = () =>
    new CommandError(
      `could not reach the node's network within ${formatDuration(timeoutMs)}`,
      ExitCode.NEXUS_UNREACHABLE,
      "Check the network connection, or give it longer with --timeout.",
    );
  return await runInterruptible(ctx, async (interrupt) => {
    try {
      return await withDeadline(ctx, interrupt, timeoutMs, timedOut, async (controller) => {
        ctx.out.debug(`connecting from saved state in ${stateDir} to ${nexus}`);
        // status must never turn into an interactive login.
        const result = await connectWithSavedLogin(ctx, nexus, stateDir, controller, {
          caCerts,
          proxy,
        });
        const status = ctx.deps.network.status() ?? {
          ...offlineStatus(saved, nexus),
          connected: ctx.deps.network.isGlobalConnected(),
          nodeName: result.nodeName,
          nodeIP: result.nodeIP,
          nodeIPv6: result.nodeIPv6,
        };
        printStatus(ctx, status, null);
        return ExitCode.OK;
      });
    } catch (e) {
      failWithOffline(ctx, saved, nexus, e);
    } finally {
      await disconnectQuietly(ctx);
    }
  });
}

/** The `status` command. */
export const statusCommand: CommandSpec = {
  name: "status",
  summary: "Show the connection, network IPs, key expiry and peers",
  description: `
Shows whether this node is connected, its name, network IPv4/IPv6, Nexus,
when its key expires, and a table of its peers.

If 'citadel work' runs for the same state directory, status asks it.
Otherwise it connects briefly with the saved identity (never starting a login)
and disconnects again.

When that 'citadel work' runs a job loop (--redis), a worker section
follows: its state, Redis (password hidden), queues, job counts, last poll,
last heartbeat and last error.

--json prints one line: {"connected", "nodeName", "nodeId", "nodeIP",
"nodeIPv6", "nexus", "keyExpiry", "peers": [{"hostname", "ip", "ipv6",
"online", "os", "lastSeen", "path"}], "worker"}; "worker" is null unless a
running 'citadel work' has a job loop (docs/cli.md lists its keys). It is
printed even when the node is not logged in or cannot be reached
("connected": false); the exit code then says why.`,
  options: {
    timeout: {
      type: "string",
      valueName: "DURATION",
      description:
        `How long to try connecting from saved state (default ${DEFAULT_STATUS_TIMEOUT})`,
    },
  },
  json: true,
  // Asks a running work (a Unix socket needs net, read and write), else connects briefly.
  permissions: NEXUS_CLIENT_PERMISSIONS,
  async run(ctx: CommandContext): Promise<number> {
    const timeoutMs = parseDuration(
      (ctx.values.timeout as string | undefined) ?? DEFAULT_STATUS_TIMEOUT,
      "timeout",
    );
    const stateDir = stateDirOf(ctx);
    // A running work answers; one still starting is waited for, never connected beside.
    const fromWorker = await statusOfRunningWork(ctx, stateDir);
    if (fromWorker) {
      printStatus(ctx, fromWorker, "citadel work (running)", fromWorker.process ?? null);
      return ExitCode.OK;
    }
    let saved: SavedNode | null;
    try {
      saved = await readSavedNode(stateDir);
    } catch (e) {
      failWithOffline(ctx, null, ctx.global.nexusOverride ?? DEFAULT_NEXUS_URL, e);
    }
    if (saved === null || !saved.registered) {
      const nexus = saved?.controlURL ?? ctx.global.nexusOverride ?? DEFAULT_NEXUS_URL;
      failWithOffline(
        ctx,
        null,
        nexus,
        new CommandError(
          "not logged in",
          ExitCode.NOT_LOGGED_IN,
          "Run `citadel init` to join the network.",
        ),
      );
    }
    const nexus = nexusFor(ctx, saved);
    return await connectBriefly(ctx, stateDir, saved, nexus, timeoutMs);
  },
};
