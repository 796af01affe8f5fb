/**
 * Where the node keeps its state, and the names of the files Citadel owns in
 * it. The directory is Citadel's own: it is never a system Tailscale's
 * directory (such as /var/lib/tailscale), which Citadel neither reads nor
 * writes.
 */
import * as nodePath from "node:path";
import { StateDirError } from "./state_errors.ts";
import { checkStateDir, checkStateDirAncestors } from "./state_trust.ts";

/** Environment variable that overrides the default state directory. */
export const STATE_DIR_ENV = "CITADEL_STATE_DIR";
/** Default state directory, relative to the user's home directory. */
export const DEFAULT_STATE_SUBDIR = [".citadel-node", "network"] as const;
/** The state document inside the state directory. */
export const STATE_FILE_NAME = "state.json";
/** The single-instance lock of `citadel work` inside the state directory. */
export const INSTANCE_LOCK_FILE_NAME = "work.lock";
/** The local API socket inside the state directory. */
export const LOCAL_API_SOCKET_NAME = "citadel.sock";
/** Mode of the state directory: only its owner may list or enter it. */
export const STATE_DIR_MODE = 0o700;
/** Mode of every file Citadel writes in the state directory. */
export const STATE_FILE_MODE = 0o600;

export { StateDirError } from "./state_errors.ts";

/** Inputs to {@link resolveStateDir}; all optional, defaults read the real process. */
export interface ResolveStateDirOptions {
  /** An explicit directory (e.g. from a command-line flag); wins over everything. */
  dir?: string;
  /** Reads an environment variable; defaults to `Deno.env.get`. */
  env?: (name: string) => string | undefined;
  /** The operating system whose conventions apply; defaults to `Deno.build.os`. */
  os?: typeof Deno.build.os;
  /** Directory that relative paths are resolved against; defaults to `Deno.cwd()`. */
  cwd?: string;
}

/**
 * Resolves the state directory to an absolute path: an explicit `dir`, else
 * `$CITADEL_STATE_DIR`, else `~/.citadel-node/network`, where `~` is `HOME`
 * (`USERPROFILE` first on Windows). A leading `~` in the first two is expanded.
 * Nothing is created; see {@link ensureStateDir}.
 *
 * @example
 * ```ts
 * const dir = resolveStateDir({ dir: flags.stateDir });
 * ```
 */
export function resolveStateDir(options: ResolveStateDirOptions = {}): string {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const os = options.os ?? Deno.build.os;
  const path = os === "windows" ? nodePath.win32 : nodePath.posix;
  const home = () => {
    const names = os === "windows" ? ["USERPROFILE", "HOME"] : ["HOME"];
    for (const name of names) {
      const value = env(name);
      if (value) return value;
    }
    throw new StateDirError(
      `Cannot find the home directory (${names.join(" and ")} are unset); ` +
        `set ${STATE_DIR_ENV} to choose the network state directory.`,
    );
  };
  const expand = (p: string) => {
    if (p === "~") return home();
    if (p.startsWith("~/") || (os === "windows" && p.startsWith("~\\"))) {
      return path.join(home(), p.slice(2));
    }
    return p;
  };
  const chosen = options.dir || env(STATE_DIR_ENV);
  const raw = chosen ? expand(chosen) : path.join(home(), ...DEFAULT_STATE_SUBDIR);
  return path.resolve(options.cwd ?? Deno.cwd(), raw);
}

/**
 * Creates the state directory (and missing parents) with mode 0700, then
 * checks that it can be trusted (state_trust.ts): the directories above it
 * are root's or ours and closed to other writers, it is no symbolic link,
 * it is ours, and nobody else may write it. A directory of ours that others
 * may only read is tightened to 0700. Returns `dir`.
 *
 * @throws {StateTrustError} (a {@link StateDirError}) when `dir` or a
 *   directory above it fails a check, or `dir` is not a directory.
 */
export async function ensureStateDir(dir: string): Promise<string> {
  try {
    await Deno.mkdir(dir, { recursive: true, mode: STATE_DIR_MODE });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  await checkStateDirAncestors(dir);
  await checkStateDir(dir, STATE_DIR_MODE);
  return dir;
}

/** Path of the state document in `dir`. */
export function stateFilePath(dir: string): string {
  return nodePath.join(dir, STATE_FILE_NAME);
}

/** Path of the `citadel work` instance lock in `dir`. */
export function instanceLockPath(dir: string): string {
  return nodePath.join(dir, INSTANCE_LOCK_FILE_NAME);
}

/** Path of the local API socket in `dir`. */
export function localApiSocketPath(dir: string): string {
  return nodePath.join(dir, LOCAL_API_SOCKET_NAME);
}
