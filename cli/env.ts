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
/** `work`: where the direct-path UDP socket binds, `ADDR[:PORT]` (`--udp-bind` wins). */
export const UDP_BIND_ENV = "CITADEL_UDP_BIND";
/** `work`: `1` (or `true`) turns direct paths off: DERP only (`--no-direct`). */
export const NO_DIRECT_ENV = "CITADEL_NO_DIRECT";
/**
 * The proxy variables (`PROXY_ENV_NAMES`, defined by network/proxy/):
 * `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` and their lower-case forms, the
 * upper-case one read first, as Go's `httpproxy` does. Used for Nexus and DERP.
 */
export const HTTPS_PROXY_ENV = "HTTPS_PROXY";
/** Any non-empty value turns colour off (https://no-color.org). */
export const NO_COLOR_ENV = "NO_COLOR";
/** `work`: the job loop's Redis, `redis://[:password@]host[:port][/db]` (`--redis` wins). */
export const REDIS_URL_ENV = "CITADEL_REDIS_URL";
/** `work`: the queues to read, comma-separated (`--queue` wins). */
export const QUEUES_ENV = "CITADEL_QUEUES";
/** `work`: the organisation id, for the per-node stream (`--org` wins). */
export const ORG_ENV = "CITADEL_ORG";
/** `work`: jobs run at once (`--concurrency` wins). */
export const CONCURRENCY_ENV = "CITADEL_CONCURRENCY";
/** `work`: deliveries of a job before it is dead-lettered (`--max-retries` wins). */
export const MAX_RETRIES_ENV = "CITADEL_MAX_RETRIES";
/** `work`: `1`/`true`/`yes`/`on` refuses shell jobs (as `--no-shell-jobs`). */
export const NO_SHELL_JOBS_ENV = "CITADEL_NO_SHELL_JOBS";

/** Every `CITADEL_*` variable the CLI reads (test harnesses blank them to keep runs hermetic). */
export const CITADEL_ENV_NAMES: readonly string[] = [
  NEXUS_ENV,
  STATE_DIR_ENV,
  AUTHKEY_ENV,
  NODE_NAME_ENV,
  CA_FILE_ENV,
  UDP_BIND_ENV,
  NO_DIRECT_ENV,
  REDIS_URL_ENV,
  QUEUES_ENV,
  ORG_ENV,
  CONCURRENCY_ENV,
  MAX_RETRIES_ENV,
  NO_SHELL_JOBS_ENV,
];

/** `PATH`: the search path `shell` jobs get (their only inherited variable). */
export const PATH_ENV = "PATH";
/** `XDG_CONFIG_HOME`: where `service install` puts the systemd user unit (default `~/.config`). */
export const XDG_CONFIG_HOME_ENV = "XDG_CONFIG_HOME";
/** `USERDOMAIN` and `USERNAME`: the Windows account `service install` registers its task for. */
export const WINDOWS_USER_ENV_NAMES: readonly string[] = ["USERDOMAIN", "USERNAME"];

/**
 * Variables outside the `CITADEL_*` set that the CLI reads, besides those of
 * state/ (`HOME`, `USERPROFILE` for the default state directory) and
 * {@link NO_COLOR_ENV}: the permission list (`--allow-env`) must name them.
 */
export const SYSTEM_ENV_NAMES: readonly string[] = [
  PATH_ENV,
  XDG_CONFIG_HOME_ENV,
  ...WINDOWS_USER_ENV_NAMES,
];
