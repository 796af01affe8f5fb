/**
 * Where the real peers (Headscale, tailscaled, tailscale, derper) built by `./dev peers` live.
 *
 * The pins come from `peers.env` at the repository root. A missing binary is a loud failure:
 * interop tests must never skip because a peer was not built.
 *
 * @module
 */

/** Absolute path of the repository root (two folders above this file). */
export const REPO_ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Folder that `./dev peers` builds into. */
export const PEERS_DIR: string = `${REPO_ROOT}/.cache/peers`;

/** The pinned versions read from `peers.env`. */
export interface PeerPins {
  /** Headscale versions to test against, newest first (e.g. `["v0.29.3", "v0.28.0"]`). */
  readonly headscaleVersions: readonly string[];
  /** The Tailscale version whose tailscaled, tailscale and derper are built. */
  readonly tailscaleVersion: string;
  /** Go toolchain the Tailscale build asks for. */
  readonly tailscaleGoToolchain: string;
  /** Debian packages the data-plane tests use. */
  readonly debianPackages: readonly string[];
}

/** Thrown when a real peer binary has not been built; the message says how to build it. */
export class PeerNotBuiltError extends Error {
  /** Path that was expected to hold the binary. */
  readonly path: string;

  /** @param peer human name of the peer, @param path where its binary should be */
  constructor(peer: string, path: string) {
    super(`real peer ${peer} not built: run ./dev peers (expected an executable at ${path})`);
    this.name = "PeerNotBuiltError";
    this.path = path;
  }
}

/**
 * Parses the shell-style `KEY="value"` lines of `peers.env`.
 *
 * @example
 * ```ts
 * parsePeersEnv('TAILSCALE_VERSION="v1.104.5"').get("TAILSCALE_VERSION"); // "v1.104.5"
 * ```
 */
export function parsePeersEnv(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([A-Z0-9_]+)=(?:"([^"]*)"|'([^']*)'|(\S*))$/.exec(line);
    if (!match) throw new Error(`peers.env: cannot parse line ${JSON.stringify(line)}`);
    values.set(match[1], match[2] ?? match[3] ?? match[4] ?? "");
  }
  return values;
}

let cachedPins: PeerPins | undefined;

/**
 * Reads the pins from `peers.env` (once; later calls return the same object).
 *
 * @example
 * ```ts
 * for (const version of readPeerPins().headscaleVersions) console.log(version);
 * ```
 */
export function readPeerPins(): PeerPins {
  if (cachedPins) return cachedPins;
  const env = parsePeersEnv(Deno.readTextFileSync(`${REPO_ROOT}/peers.env`));
  const need = (key: string): string => {
    const value = env.get(key);
    if (!value) throw new Error(`peers.env: ${key} is missing or empty`);
    return value;
  };
  const words = (value: string) => value.split(/\s+/).filter((word) => word !== "");
  cachedPins = {
    headscaleVersions: words(need("HEADSCALE_VERSIONS")),
    tailscaleVersion: need("TAILSCALE_VERSION"),
    tailscaleGoToolchain: need("TAILSCALE_GOTOOLCHAIN"),
    debianPackages: words(env.get("DEBIAN_PACKAGES") ?? ""),
  };
  return cachedPins;
}

function requireExecutable(peer: string, path: string): string {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    throw new PeerNotBuiltError(peer, path);
  }
  if (!info.isFile || ((info.mode ?? 0o111) & 0o111) === 0) throw new PeerNotBuiltError(peer, path);
  return path;
}

/**
 * Path of the built Headscale binary for one pinned version.
 *
 * @throws {PeerNotBuiltError} when the version is not built.
 * @example
 * ```ts
 * const bin = headscaleBinary("v0.29.3");
 * ```
 */
export function headscaleBinary(version: string): string {
  return requireExecutable(
    `headscale ${version}`,
    `${PEERS_DIR}/headscale-${version}/headscale`,
  );
}

function tailscaleTool(tool: "tailscaled" | "tailscale" | "derper"): string {
  const version = readPeerPins().tailscaleVersion;
  return requireExecutable(`${tool} ${version}`, `${PEERS_DIR}/tailscale-${version}/${tool}`);
}

/**
 * Path of the built tailscaled (pinned `TAILSCALE_VERSION`).
 *
 * @throws {PeerNotBuiltError} when it is not built.
 */
export function tailscaledBinary(): string {
  return tailscaleTool("tailscaled");
}

/**
 * Path of the built tailscale CLI (pinned `TAILSCALE_VERSION`).
 *
 * @throws {PeerNotBuiltError} when it is not built.
 */
export function tailscaleBinary(): string {
  return tailscaleTool("tailscale");
}

/**
 * Path of the built derper (pinned `TAILSCALE_VERSION`).
 *
 * @throws {PeerNotBuiltError} when it is not built.
 */
export function derperBinary(): string {
  return tailscaleTool("derper");
}
