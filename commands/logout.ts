/**
 * `citadel logout [--force]`: tell Nexus to expire this node, disconnect,
 * and delete the node's state, so the machine is no longer part of the
 * network. Asks first on a terminal; `--force` skips the question.
 *
 * Decisions on the Go original (§2.4):
 * - No terminal and no `--force` is an error (exit USAGE), not a silent
 *   "Aborted." with exit 0: a script that meant to log out must learn it did
 *   not. Declining at the prompt exits FAILURE, since nothing was done.
 * - Quirk §8.5 (logout kept the platform's device token and deregistered only
 *   when `CITADEL_API_KEY` was set): there is no separate platform token or
 *   API key; the node itself asks Nexus to expire it, over the control
 *   protocol, with its own keys.
 * - Nothing to log out from ("not logged in") exits OK, so logout is
 *   idempotent.
 * - A node that Nexus already deleted or expired is cleaned up locally and
 *   counts as success. When Nexus cannot be reached, the state is kept (so
 *   the logout can be retried) unless `--force` is given, which deletes it
 *   anyway and warns that Nexus was not told. `--force` is also the way out
 *   of a corrupt state file.
 * - While a `citadel work` holds the state directory, logout refuses.
 *
 * @module
 */
import { FileStateStore, inspectInstanceLock, InstanceLockedError } from "../state/mod.ts";
import { instanceLockPath } from "../state/mod.ts";
import { readExtraCaCerts } from "../cli/ca_file.ts";
import { readProxyConfig } from "../cli/proxy_env.ts";
import type { CommandContext, CommandSpec } from "../cli/command.ts";
import { NEXUS_CLIENT_PERMISSIONS } from "../cli/permissions.ts";
import { CommandError, describeError } from "../cli/errors.ts";
import { ExitCode } from "../cli/exit_codes.ts";
import { nexusFor, readSavedNode, type SavedNode, stateDirOf } from "../cli/node_target.ts";

const STATE_UNREADABLE = new Set(["StateCorruptError", "StateVersionError"]);
const ALREADY_GONE = new Set(["NodeNotFoundError", "NodeExpiredError"]);
const NEXUS_NOT_TOLD = new Set([
  "ControlUnreachableError",
  "ControlTLSError",
  "ControlProtocolError",
  "UnsupportedVersionError",
  "TimeoutError",
  "ProxyUnreachableError",
  "ProxyRefusedError",
  "ProxyProtocolError",
  "ProxyAuthError",
]);

function errorName(e: unknown): string {
  return typeof e === "object" && e !== null ? String((e as { name?: unknown }).name ?? "") : "";
}

async function clearLocalState(stateDir: string): Promise<void> {
  const store = await FileStateStore.open({ dir: stateDir });
  await store.clear();
}

async function confirm(ctx: CommandContext, saved: SavedNode, nexus: string): Promise<boolean> {
  const who = saved.nodeName ? `node '${saved.nodeName}'` : "this node";
  ctx.out.writeStderr(
    `Log ${who} out of ${nexus} and delete its identity from this machine? [y/N] `,
  );
  const answer = (await ctx.io.readLine())?.trim().toLowerCase() ?? "";
  return answer === "y" || answer === "yes";
}

/** The `logout` command. */
export const logoutCommand: CommandSpec = {
  name: "logout",
  summary: "Leave the network and delete this node's identity",
  description: `
Asks Nexus to expire this node, disconnects, and deletes the node's state
(its keys) from this machine. Joining again with 'citadel init' creates a new
node with a new IP.

On a terminal it asks for confirmation; elsewhere --force is required.
Logging out when not logged in does nothing and succeeds. If Nexus cannot be
reached the state is kept so you can retry; --force deletes it anyway (Nexus
then still lists the node until it expires or an admin removes it). --force
also discards a state file that cannot be read.`,
  options: {
    force: {
      type: "boolean",
      short: "f",
      description: "Do not ask; delete the local state even if Nexus cannot be told",
    },
  },
  json: false,
  // Expires the node at Nexus and deletes the state.
  permissions: NEXUS_CLIENT_PERMISSIONS,
  async run(ctx: CommandContext): Promise<number> {
    const force = ctx.values.force === true;
    const stateDir = stateDirOf(ctx);
    const lock = await inspectInstanceLock(stateDir);
    if (lock.held) throw new InstanceLockedError(instanceLockPath(stateDir), lock.holder);

    let saved: SavedNode | null;
    try {
      saved = await readSavedNode(stateDir);
    } catch (e) {
      if (!STATE_UNREADABLE.has(errorName(e)) || !force) throw e;
      await clearLocalState(stateDir);
      ctx.out.warn(
        `${describeError(e).message}; deleted it. Nexus was not told, so the node stays ` +
          "listed there until it expires or an admin removes it.",
      );
      ctx.out.line("Logged out (local state deleted).");
      return ExitCode.OK;
    }
    if (saved === null) {
      ctx.out.line("Not logged in; nothing to do.");
      return ExitCode.OK;
    }
    const nexus = nexusFor(ctx, saved);

    if (!force) {
      if (!ctx.io.isTTY.stdin) {
        throw new CommandError(
          "refusing to log out without confirmation (stdin is not a terminal)",
          ExitCode.USAGE,
          "Run 'citadel logout --force' to log out without being asked.",
        );
      }
      if (!await confirm(ctx, saved, nexus)) {
        ctx.out.info("Aborted; nothing was changed.");
        return ExitCode.FAILURE;
      }
    }

    if (!saved.registered) {
      // The join never completed: Nexus has no node to expire.
      await clearLocalState(stateDir);
      ctx.out.line("Deleted the state of an unfinished join.");
      return ExitCode.OK;
    }

    const caCerts = await readExtraCaCerts(ctx);
    const proxy = readProxyConfig(ctx);
    try {
      await ctx.deps.network.logout(stateDir, nexus, { caCerts, proxy });
    } catch (e) {
      const name = errorName(e);
      if (ALREADY_GONE.has(name)) {
        await clearLocalState(stateDir);
        ctx.out.line("The node was already removed at Nexus; deleted its local state.");
        return ExitCode.OK;
      }
      if (NEXUS_NOT_TOLD.has(name)) {
        if (!force) {
          const described = describeError(e, { nexus });
          throw new CommandError(
            `${described.message}; the node was not logged out and its state is kept`,
            described.exitCode,
            "Retry when Nexus is reachable, or run 'citadel logout --force' to delete the " +
              "local state anyway.",
          );
        }
        await clearLocalState(stateDir);
        ctx.out.warn(
          `${describeError(e, { nexus }).message}; deleted the local state anyway. Nexus still ` +
            "lists the node until it expires or an admin removes it.",
        );
        ctx.out.line("Logged out (local state deleted).");
        return ExitCode.OK;
      }
      throw e;
    }
    const who = saved.nodeName ? `'${saved.nodeName}'` : "the node";
    ctx.out.line(`Logged out: ${who} was expired at ${nexus} and its state deleted.`);
    ctx.out.line("Run 'citadel init' to join again.");
    return ExitCode.OK;
  },
};
