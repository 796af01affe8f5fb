/**
 * `citadel login`: join through the browser. Shows the login link (AuthURL)
 * and a QR code for it, waits (a spinner on a terminal, plain progress lines
 * otherwise) until the login is approved, then prints the node's name and
 * address and disconnects. It gives up after `--timeout` (10 minutes by
 * default), or when the server refuses, and says which.
 *
 * Decisions on the Go original (§2.3): `login` takes no `--authkey` (that is
 * `citadel init --authkey`), so it is always the interactive flow; and it
 * never wipes the state first (quirk §8.4, see cli/join.ts): with saved state it
 * reconnects the same node instead of showing a link.
 *
 * Quirk §8.8 (the Go device-auth client rebuilt the verification URL itself,
 * ignored the server's `slow_down` interval and gave up after a fixed 10
 * minutes): the link shown is exactly the AuthURL Nexus sends, polling is the
 * network layer's (it follows the server), and the wait is `--timeout`.
 *
 * @module
 */
import type { CommandContext, CommandSpec } from "../cli/command.ts";
import { NODE_NAME_ENV } from "../cli/env.ts";
import { NEXUS_CLIENT_PERMISSIONS } from "../cli/permissions.ts";
import { parseDuration } from "../cli/duration.ts";
import { DEFAULT_JOIN_TIMEOUT, joinNetwork, NODE_NAME_OPTION } from "../cli/join.ts";
import { nodeNameOf } from "../cli/node_target.ts";

/** The `login` command. */
export const loginCommand: CommandSpec = {
  name: "login",
  summary: "Join this machine by signing in through a browser",
  description: `
Shows a login link and its QR code; open it (on any device) and sign in to
approve this machine. citadel waits for the approval, then prints the node's
name and network IP.

If the node has joined before, it reconnects with the saved identity instead.
To join as a new node, run 'citadel logout' first. To join without a browser,
use 'citadel init --authkey KEY'.`,
  options: {
    "node-name": NODE_NAME_OPTION,
    timeout: {
      type: "string",
      valueName: "DURATION",
      description: `Stop waiting for approval after this long (default ${DEFAULT_JOIN_TIMEOUT})`,
    },
  },
  json: true,
  // Joins interactively: as init, without the auth key.
  permissions: {
    ...NEXUS_CLIENT_PERMISSIONS,
    env: [...NEXUS_CLIENT_PERMISSIONS.env, NODE_NAME_ENV],
  },
  run(ctx: CommandContext): Promise<number> {
    const timeoutMs = parseDuration(
      (ctx.values.timeout as string | undefined) ?? DEFAULT_JOIN_TIMEOUT,
      "timeout",
    );
    return joinNetwork(ctx, { authKey: "", nodeName: nodeNameOf(ctx), timeoutMs });
  },
};
