/**
 * `citadel init`: join this machine to the network. With an auth key
 * (`--authkey` or `CITADEL_AUTHKEY`) it registers without a browser; without
 * one it runs the interactive login, exactly like `citadel login`. Either way
 * it prints the node's name and mesh address and disconnects; the node keeps
 * its identity in the state directory.
 *
 * Decisions on the Go original: the provisioning half of `init` (Docker,
 * services, the manifest, `--provision`, `--service`, `--relogin`,
 * `--new-device`) is not part of this command; `--authkey` is the only way a
 * key reaches the command line, and a key in `CITADEL_AUTHKEY` is preferred
 * for scripts because command lines are visible to other users in `ps`.
 * When both are given the flag wins. Existing state is reused, never wiped
 * (see cli/join.ts, quirk §8.4). Quirk §8.11 (`init --provision` overwrote
 * config.yaml and lost the credentials saved earlier in the same run) cannot
 * happen: there is no provisioning and no config.yaml; the node's state file
 * is the only thing written, atomically, by state/.
 *
 * @module
 */
import type { CommandContext, CommandSpec } from "../cli/command.ts";
import { NEXUS_CLIENT_PERMISSIONS } from "../cli/permissions.ts";
import { parseDuration } from "../cli/duration.ts";
import { AUTHKEY_ENV, NODE_NAME_ENV } from "../cli/env.ts";
import { DEFAULT_JOIN_TIMEOUT, joinNetwork, NODE_NAME_OPTION } from "../cli/join.ts";
import { nodeNameOf } from "../cli/node_target.ts";

/** The `init` command. */
export const initCommand: CommandSpec = {
  name: "init",
  summary: "Join this machine to the network (auth key, or browser login)",
  description: `
Registers this machine as a node of the AceTeam Network and prints its name
and network IP. With an auth key (--authkey, or the ${AUTHKEY_ENV}
environment variable) no browser is needed; without one, citadel shows a
login link and QR code and waits for you to approve it, like 'citadel login'.

If the node has joined before, its saved identity is reused (same name and
IP). Run 'citadel logout' first to join as a new node. The auth key is never
printed.`,
  options: {
    authkey: {
      type: "string",
      valueName: "KEY",
      description: `Pre-auth key (prefer the ${AUTHKEY_ENV} env var: ps shows command lines)`,
    },
    "node-name": NODE_NAME_OPTION,
    timeout: {
      type: "string",
      valueName: "DURATION",
      description: `Give up after this long, e.g. 90s, 10m (default ${DEFAULT_JOIN_TIMEOUT})`,
    },
  },
  json: true,
  // Joins: Nexus, the state, the CA file, the key and name; Hostinfo's hostname and OS.
  permissions: {
    ...NEXUS_CLIENT_PERMISSIONS,
    env: [...NEXUS_CLIENT_PERMISSIONS.env, AUTHKEY_ENV, NODE_NAME_ENV],
  },
  run(ctx: CommandContext): Promise<number> {
    const authKey = (ctx.values.authkey as string | undefined) ?? ctx.io.env(AUTHKEY_ENV) ?? "";
    ctx.out.addSecret(authKey);
    const timeoutMs = parseDuration(
      (ctx.values.timeout as string | undefined) ?? DEFAULT_JOIN_TIMEOUT,
      "timeout",
    );
    return joinNetwork(ctx, { authKey: authKey.trim(), nodeName: nodeNameOf(ctx), timeoutMs });
  },
};
