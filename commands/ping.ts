/**
 * `citadel ping <host-or-ip> [-c N] [--timeout 5s] [--json]`: ICMP echo to a
 * peer through the mesh (WireGuard over DERP), with one line per reply and a
 * summary.
 *
 * The pings are sent by the running `citadel work` on the same state
 * directory, through its local API (`POST /ping`): that process holds the
 * node's data plane, and a second one with the same node key would fight it
 * for the DERP connection. Without a running worker ping says so and exits
 * WORK_NOT_RUNNING.
 *
 * Exit codes: OK when at least one reply arrived; FAILURE when none did (as
 * Unix ping exits 1 without replies); PEER_NOT_FOUND for a target the netmap
 * does not know; WORK_NOT_RUNNING as above. The Go original always exited 0
 * (quirk §8.7), so scripts could not tell a dead peer from a live one.
 *
 * @module
 */
import type { PingResult } from "../network/mod.ts";
import type { CommandContext, CommandSpec } from "../cli/command.ts";
import { STATE_DIR_ENV_NAMES } from "../cli/permissions.ts";
import { formatDuration, parseDuration } from "../cli/duration.ts";
import { CommandError } from "../cli/errors.ts";
import { ExitCode } from "../cli/exit_codes.ts";
import { runInterruptible } from "../cli/interrupt.ts";
import {
  LOCAL_API_MAX_PING_TIMEOUT_MS,
  localApiSocketPath,
  localApiSupported,
  queryLocalPing,
} from "../localapi/mod.ts";
import { stateDirOf } from "../cli/node_target.ts";

/** Pings sent when `--count` is not given. */
export const DEFAULT_PING_COUNT = 3;
/** Most pings one run may send. */
export const MAX_PING_COUNT = 100;
/** How long each ping waits for its reply by default. */
export const DEFAULT_PING_TIMEOUT = "5s";
/** Pause between a reply and the next ping, so a run does not flood the relay. */
export const PING_INTERVAL_MS = 250;

/** What `citadel ping --json` prints: one line, at the end. */
export interface PingReport {
  /** The target as given. */
  target: string;
  /** Pings sent. */
  sent: number;
  /** Replies received. */
  received: number;
  /** Lost pings in percent, rounded. */
  lossPercent: number;
  /** Mean round trip of the replies in ms, or null without replies. */
  avgLatencyMs: number | null;
  /** The replies, in order. */
  replies: PingResult[];
}

function notRunning(stateDir: string): CommandError {
  return new CommandError(
    "citadel ping needs `citadel work` running on this state directory",
    ExitCode.WORK_NOT_RUNNING,
    `Start \`citadel work\` (state directory ${stateDir}), then ping again.`,
  );
}

function parseCount(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PING_COUNT;
  const count = Number(text);
  if (!/^\d+$/.test(text) || count < 1 || count > MAX_PING_COUNT) {
    throw new CommandError(
      `--count must be a whole number from 1 to ${MAX_PING_COUNT}, not "${text}"`,
      ExitCode.USAGE,
    );
  }
  return count;
}

/** `3.1 ms`: one decimal below 100 ms, whole milliseconds above. */
function formatLatency(ms: number): string {
  return ms < 100 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** The `ping` command. */
export const pingCommand: CommandSpec = {
  name: "ping",
  summary: "Ping a peer through the mesh (needs `citadel work` running)",
  description: `
Sends ICMP echo requests to a peer through the mesh (WireGuard, relayed over
DERP) and prints each reply's round trip, then a summary. The peer is named
by its mesh IP, its name or its hostname (case does not matter).

The pings are sent by the 'citadel work' running on the same state directory;
without one, ping says so and exits ${ExitCode.WORK_NOT_RUNNING}.

Exit codes: 0 when at least one reply arrived, 1 when none did,
${ExitCode.PEER_NOT_FOUND} when no peer has that name or IP.

--json prints one line at the end: {"target", "sent", "received",
"lossPercent", "avgLatencyMs", "replies": [{"ip", "nodeName", "latencyMs",
"path"}]}.`,
  options: {
    count: {
      type: "string",
      short: "c",
      valueName: "N",
      description: `Pings to send, 1 to ${MAX_PING_COUNT} (default ${DEFAULT_PING_COUNT})`,
    },
    timeout: {
      type: "string",
      valueName: "DURATION",
      description: `How long each ping waits for its reply (default ${DEFAULT_PING_TIMEOUT})`,
    },
  },
  positionals: [{ name: "HOST", description: "The peer's mesh IP, name or hostname" }],
  json: true,
  // Only the local API: a Unix socket needs net, read and write on its path.
  permissions: { net: true, read: true, write: true, env: STATE_DIR_ENV_NAMES },
  async run(ctx: CommandContext): Promise<number> {
    if (ctx.positionals.length !== 1) {
      throw new CommandError(
        ctx.positionals.length === 0
          ? "ping needs the peer to ping: citadel ping <host-or-ip>"
          : "ping takes one peer",
        ExitCode.USAGE,
      );
    }
    const target = ctx.positionals[0];
    const count = parseCount(ctx.values.count as string | undefined);
    const timeoutMs = parseDuration(
      (ctx.values.timeout as string | undefined) ?? DEFAULT_PING_TIMEOUT,
      "timeout",
    );
    if (timeoutMs <= 0 || timeoutMs > LOCAL_API_MAX_PING_TIMEOUT_MS) {
      throw new CommandError(
        `--timeout must be more than 0 and at most ${
          formatDuration(LOCAL_API_MAX_PING_TIMEOUT_MS)
        }`,
        ExitCode.USAGE,
      );
    }
    const stateDir = stateDirOf(ctx);
    if (!localApiSupported()) throw notRunning(stateDir);
    const socket = localApiSocketPath(stateDir);
    return await runInterruptible(ctx, async (interrupt) => {
      const replies: PingResult[] = [];
      let sent = 0;
      for (let i = 0; i < count && !interrupt.aborted; i++) {
        if (i > 0) {
          try {
            await ctx.io.clock.sleep(PING_INTERVAL_MS, interrupt);
          } catch {
            break;
          }
        }
        const outcome = await queryLocalPing(socket, target, timeoutMs);
        if (outcome === null) throw notRunning(stateDir);
        sent++;
        if (outcome.ok) {
          const r = outcome.result;
          replies.push(r);
          if (!ctx.global.json) {
            ctx.out.line(
              `reply from ${r.nodeName} (${r.ip}) via ${r.path === "relay" ? "DERP" : "direct"} ` +
                `in ${formatLatency(r.latencyMs)}`,
            );
          }
          continue;
        }
        if (outcome.name === "PingTimeoutError") {
          if (!ctx.global.json) {
            ctx.out.line(`no reply from ${target} within ${formatDuration(timeoutMs)}`);
          }
          continue;
        }
        if (outcome.name === "PeerNotFoundError") {
          throw new CommandError(
            `no peer named or addressed "${target}"`,
            ExitCode.PEER_NOT_FOUND,
            "`citadel status` lists the peers' names and IPs.",
          );
        }
        throw new CommandError(
          `ping failed: ${outcome.message}`,
          ExitCode.FAILURE,
          outcome.name === "DataPlaneNotStartedError"
            ? "The running `citadel work` has no data plane yet; see its log."
            : null,
        );
      }
      const report: PingReport = {
        target,
        sent,
        received: replies.length,
        lossPercent: sent === 0 ? 0 : Math.round(100 * (sent - replies.length) / sent),
        avgLatencyMs: replies.length === 0
          ? null
          : replies.reduce((sum, r) => sum + r.latencyMs, 0) / replies.length,
        replies,
      };
      if (ctx.global.json) {
        ctx.out.json(report);
      } else {
        const avg = report.avgLatencyMs === null
          ? ""
          : `, avg ${formatLatency(report.avgLatencyMs)}`;
        ctx.out.line(
          `${sent} sent, ${report.received} received, ${report.lossPercent}% loss${avg}`,
        );
      }
      if (interrupt.aborted && replies.length === 0) return ExitCode.INTERRUPTED;
      return replies.length > 0 ? ExitCode.OK : ExitCode.FAILURE;
    });
  },
};
