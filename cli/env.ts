/**
 * Every environment variable the `citadel` command reads, by name, in one
 * place: commands, help texts and hints take the names from here, and
 * docs/cli.md's table lists the same set (tests/unit/cli/env_test.ts checks).
 *
 * The state directory's variable is defined by state/ (which resolves the
 * directory itself) and only re-exported here, so it too has one definition.
 *
 * @module
 */
import { PROXY_ENV_NAMES } from "../network/mod.ts";
import { STATE_DIR_ENV } from "../state/mod.ts";

export { PROXY_ENV_NAMES, STATE_DIR_ENV };

/** The Nexus URL (`--nexus` wins). */
export const NEXUS_ENV = "CITADEL_NEXUS";
/** A pre-auth key; never printed. Preferred to `--authkey`, which `ps` shows to other users. */
export const AUTHKEY_ENV = "CITADEL_AUTHKEY";
/** The name to register under (`--node-name` wins). */
export const NODE_NAME_ENV = "CITADEL_NODE_NAME";
/** A PEM file of extra CA certificates to trust for Nexus and its DERP servers. */
export const CA_FILE_ENV = "CITADEL_CA_FILE";
/**
 * The proxy variables (`PROXY_ENV_NAMES`, defined by network/proxy/):
 * `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` and their lower-case forms, the
 * upper-case one read first, as Go's `httpproxy` does. Used for Nexus and DERP.
 */
export const HTTPS_PROXY_ENV = "HTTPS_PROXY";
/** Any non-empty value turns colour off (https://no-color.org). */
export const NO_COLOR_ENV = "NO_COLOR";

/** Every `CITADEL_*` variable the CLI reads (test harnesses blank them to keep runs hermetic). */
export const CITADEL_ENV_NAMES: readonly string[] = [
  NEXUS_ENV,
  STATE_DIR_ENV,
  AUTHKEY_ENV,
  NODE_NAME_ENV,
  CA_FILE_ENV,
];
