/**
 * Joining the network, shared by `init` and `login` (commands/init.ts,
 * commands/login.ts): connect with an auth key
 * or through the interactive login (AuthURL, QR code, a wait for approval),
 * report the node's name and addresses, and disconnect again: a joined node
 * keeps its state, and `citadel work` is what stays connected.
 *
 * Decision on the Go original's quirk §8.4 (interactive `login` wiped the
 * state before connecting, which gave the machine a new identity and usually
 * a new IP): joining never deletes state. Existing state is reused, so a
 * second `init` or `login` just reconnects the same node; to start over as a
 * new node, run `citadel logout` first.
 *
 * Decision on quirk §8.9 (the Go `init` logged the first 20 characters of
 * the auth key): the key is never printed or logged, in whole or in part,
 * and Output redacts it should any message echo it.
 *
 * @module
 */
import { renderUnicodeCompact } from "uqr";
import type { NodeEvent } from "../network/mod.ts";
import { readExtraCaCerts } from "./ca_file.ts";
import { describeDerpEvent, describeNetcheckEvent } from "./derp_events.ts";
import { readProxyConfig } from "./proxy_env.ts";
import type { CommandContext, OptionSpec } from "./command.ts";
import { NODE_NAME_ENV } from "./env.ts";
import { refuseWhileWorkRuns } from "./running_work.ts";
import { CommandError } from "./errors.ts";
import { ExitCode } from "./exit_codes.ts";
import { formatDuration } from "./duration.ts";
import { runInterruptible, withDeadline } from "./interrupt.ts";
import { nexusFor, readSavedNode, stateDirOf } from "./node_target.ts";
import { Spinner } from "./spinner.ts";

/** How long a join may take by default (an interactive login waits for a person). */
export const DEFAULT_JOIN_TIMEOUT = "10m";

/** `--node-name` of the joining commands (`init`, `login`); see {@link nodeNameOf}. */
export const NODE_NAME_OPTION: OptionSpec = {
  type: "string",
  valueName: "NAME",
  description: `Name to register under (env ${NODE_NAME_ENV}; default: the hostname)`,
};

/** How to join. */
export interface JoinRequest {
  /** Pre-auth key; empty for saved state or the interactive login. */
  authKey: string;
  /** Name to register under; undefined for the OS hostname. */
  nodeName?: string;
  /** Give up after this long. */
  timeoutMs: number;
}

/** What `init --json` / `login --json` print. */
export interface JoinResult {
  /** Node name at Nexus. */
  nodeName: string | null;
  /** Mesh IPv4. */
  nodeIP: string | null;
  /** Mesh IPv6. */
  nodeIPv6: string | null;
  /** Nexus URL. */
  nexus: string;
  /** True when this run registered the node; false when it reconnected from saved state. */
  newlyRegistered: boolean;
}

/** Prints the AuthURL and its QR code on stderr (stdout stays for results). */
function showAuthURL(ctx: CommandContext, url: string): void {
  const paint = ctx.out.stderrPaint;
  ctx.out.info("");
  ctx.out.info(paint.paint("To join this machine, open this link and sign in:", "bold"));
  ctx.out.info("");
  ctx.out.info(`    ${paint.paint(url, "cyan")}`);
  ctx.out.info("");
  ctx.out.info("Or scan this QR code with a phone:");
  ctx.out.writeStderr(renderUnicodeCompact(url, { border: 1 }) + "\n");
  ctx.out.info("");
}

function describeEvent(event: NodeEvent): string {
  switch (event.kind) {
    case "connecting":
      return `connecting to ${event.nexus} (attempt ${event.attempt})`;
    case "auth-url":
      return "login URL received";
    case "registered":
      return `registered as ${event.nodeName ?? "?"} (${event.nodeIP ?? "no IPv4"})`;
    case "netmap":
      return `netmap: ${event.summary}`;
    case "disconnected":
      return `disconnected (${event.reason}); retrying in ${formatDuration(event.retryInMs)}`;
    case "reconnected":
      return "reconnected";
    case "warning":
      return `warning: ${event.message}`;
    case "failed":
      return `stopped: ${event.error.message}`;
    case "derp":
      return describeDerpEvent(event.event);
    case "netcheck":
      return describeNetcheckEvent(event);
    default:
      return `event ${(event as { kind: string }).kind}`;
  }
}

/** Joins (or reconnects) and prints the result; returns the exit code. */
export function joinNetwork(ctx: CommandContext, request: JoinRequest): Promise<number> {
  return runInterruptible(ctx, async (interrupt) => {
    const stateDir = stateDirOf(ctx);
    await refuseWhileWorkRuns(stateDir, request.authKey ? "joining" : "logging in");
    const saved = await readSavedNode(stateDir);
    const nexus = nexusFor(ctx, saved);
    const caCerts = await readExtraCaCerts(ctx);
    const proxy = readProxyConfig(ctx);
    ctx.out.debug(`state directory ${stateDir}; nexus ${nexus}`);

    const timedOut = () =>
      new CommandError(
        `gave up after ${formatDuration(request.timeoutMs)}: ` +
          (request.authKey ? "could not join in time" : "the login was not approved in time"),
        ExitCode.FAILURE,
        "Run the command again (the link is new each time), or give it longer with --timeout.",
      );
    const spinner = new Spinner(ctx.out, ctx.io.clock, ctx.io.isTTY.stderr);
    try {
      return await withDeadline(ctx, interrupt, request.timeoutMs, timedOut, async (controller) => {
        spinner.start(`Connecting to ${nexus}`);
        try {
          const result = await ctx.deps.network.connect(nexus, request.authKey, stateDir, {
            nodeName: request.nodeName,
            caCerts,
            proxy,
            signal: controller.signal,
            onAuthURL: (url) => {
              spinner.stop();
              showAuthURL(ctx, url);
              spinner.start("Waiting for the login to be approved");
            },
            onEvent: (event) => ctx.out.debug(describeEvent(event)),
          });
          spinner.stop();
          printJoined(ctx, {
            nodeName: result.nodeName,
            nodeIP: result.nodeIP,
            nodeIPv6: result.nodeIPv6,
            nexus,
            newlyRegistered: result.newlyRegistered,
          });
          return ExitCode.OK;
        } catch (e) {
          spinner.stop();
          throw e;
        }
      });
    } finally {
      await disconnectQuietly(ctx);
    }
  });
}

/** Disconnects; a failure here must not hide the command's own outcome. */
export async function disconnectQuietly(ctx: CommandContext): Promise<void> {
  try {
    await ctx.deps.network.disconnect();
  } catch (e) {
    ctx.out.debug(`disconnect failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function printJoined(ctx: CommandContext, joined: JoinResult): void {
  if (ctx.global.json) {
    ctx.out.json(joined);
    return;
  }
  const paint = ctx.out.stdoutPaint;
  const headline = joined.newlyRegistered
    ? "Joined the AceTeam Network."
    : "Already joined; reconnected with the saved identity.";
  ctx.out.line(paint.paint(headline, "green", "bold"));
  ctx.out.line(`  Node:   ${joined.nodeName ?? "(unknown)"}`);
  ctx.out.line(`  IPv4:   ${joined.nodeIP ?? "(none)"}`);
  if (joined.nodeIPv6) ctx.out.line(`  IPv6:   ${joined.nodeIPv6}`);
  ctx.out.line(`  Nexus:  ${joined.nexus}`);
  ctx.out.line("");
  ctx.out.line("Run 'citadel work' to keep the node online, 'citadel status' to check it.");
}
