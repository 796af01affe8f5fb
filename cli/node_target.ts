/**
 * Which node, under which name and with which Nexus, a command acts on.
 *
 * The state directory is `--state-dir`, else `CITADEL_STATE_DIR`, else
 * `~/.citadel-node/network` (resolved by state/).
 *
 * The node name (when joining) is `--node-name`, else `CITADEL_NODE_NAME`,
 * else the OS hostname (chosen by the network layer).
 *
 * The Nexus URL is `--nexus`, else `CITADEL_NEXUS`, else the URL saved in the
 * node's state, else the default. Decision on the Go original's quirk §8.1
 * (its reconnect paths ignored `--nexus` and always used the built-in URL, so
 * a self-hosted Nexus only worked for the first join): a node always talks to
 * the Nexus it registered with, and asking for a different one while state
 * exists is refused with a message instead of silently mixing the two.
 *
 * @module
 */
import { DEFAULT_NEXUS_URL, InvalidNexusURLError, normalizeNexusURL } from "../network/mod.ts";
import { FileStateStore, resolveStateDir, stateFilePath } from "../state/mod.ts";
import type { CommandContext } from "./command.ts";
import { CommandError, UsageError } from "./errors.ts";
import { AUTHKEY_ENV, NEXUS_ENV, NODE_NAME_ENV } from "./env.ts";
import { ExitCode } from "./exit_codes.ts";

/** What the saved state says about the node, without any key material. */
export interface SavedNode {
  /** The Nexus the state belongs to. */
  controlURL: string;
  /** Registration completed (the node has joined). */
  registered: boolean;
  /** The node's name at Nexus, when registered. */
  nodeName: string | null;
  /** Nexus's numeric node ID, when registered. */
  nodeId: number | null;
  /** The login name of the node's user at Nexus (e.g. `org_acme`), when registered. */
  loginName: string | null;
  /** Mesh IPv4, when known. */
  nodeIP: string | null;
  /** Mesh IPv6, when known. */
  nodeIPv6: string | null;
  /** ISO time the node key expires; null for never or unknown. */
  keyExpiry: string | null;
}

/** The state directory for this invocation (absolute). */
export function stateDirOf(ctx: CommandContext): string {
  return resolveStateDir({
    dir: ctx.global.stateDirFlag ?? undefined,
    env: (name) => ctx.io.env(name),
  });
}

/** The name to register under; undefined for the OS hostname. */
export function nodeNameOf(ctx: CommandContext): string | undefined {
  return (ctx.values["node-name"] as string | undefined) ??
    (ctx.io.env(NODE_NAME_ENV) || undefined);
}

/**
 * Reads the saved state of `stateDir`; null when there is none. Creates
 * nothing when there is none (a `status` on a fresh machine leaves no trace).
 *
 * @throws StateCorruptError / StateVersionError when the file cannot be used.
 */
export async function readSavedNode(stateDir: string): Promise<SavedNode | null> {
  try {
    await Deno.lstat(stateFilePath(stateDir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const store = await FileStateStore.open({ dir: stateDir });
  const state = await store.load();
  if (state === null) return null;
  const login = state.login;
  return {
    controlURL: state.controlURL,
    registered: login !== undefined,
    nodeName: login?.nodeName ?? null,
    nodeId: login?.nodeId ?? null,
    loginName: login?.loginName ?? null,
    nodeIP: login?.addresses.v4 ?? null,
    nodeIPv6: login?.addresses.v6 ?? null,
    keyExpiry: login?.keyExpiry == null ? null : new Date(login.keyExpiry).toISOString(),
  };
}

/**
 * The Nexus URL given by `source` (`--nexus` or `CITADEL_NEXUS`), checked and
 * normalised by the network layer's one rule (network/nexus_url.ts); this
 * only names the source in the message and adds the hint. The message shows
 * the URL without any user name or password.
 *
 * @throws {UsageError} when the URL breaks the rule.
 */
export function nexusURLOption(text: string, source: string): string {
  try {
    return normalizeNexusURL(text);
  } catch (e) {
    if (!(e instanceof InvalidNexusURLError)) throw e;
    throw new UsageError(
      `${source} ${e.reason}: '${e.url}'`,
      e.problem === "credentials"
        ? `Give ${source} as the server alone, https://host[:port]: the node signs in with ` +
          `an auth key (${AUTHKEY_ENV}) or the browser login, never a password in the URL.`
        : undefined,
    );
  }
}

/** The Nexus URL to use, given the saved state (if any). */
export function nexusFor(ctx: CommandContext, saved: SavedNode | null): string {
  const nexus = chooseNexus(ctx.global.nexusOverride, saved);
  ctx.errorContext.nexus = nexus;
  return nexus;
}

function chooseNexus(override: string | null, saved: SavedNode | null): string {
  if (saved === null) return override ?? DEFAULT_NEXUS_URL;
  const savedURL = saved.controlURL.replace(/\/+$/, "");
  // Keys of a join that never completed are bound to nothing yet.
  if (!saved.registered) return override ?? savedURL;
  if (override !== null && override !== savedURL) {
    throw new CommandError(
      `this node is registered with ${savedURL}, not ${override}`,
      ExitCode.USAGE,
      `Run \`citadel logout\` first to join a different Nexus, or drop --nexus/${NEXUS_ENV}.`,
    );
  }
  return savedURL;
}
