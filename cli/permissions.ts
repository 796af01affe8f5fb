/**
 * Least privilege for the `citadel` process. The launcher (`bin/citadel`) and
 * the release binaries (deno.json's `compile:*` tasks) grant the union of
 * what any command needs, with `env` and `sys` narrowed to the names in
 * {@link LAUNCH_ENV_NAMES} and {@link LAUNCH_SYS_KINDS}
 * (tests/unit/launcher_test.ts holds the three in step). Each command
 * declares what it keeps (its `CommandSpec.permissions`), and the dispatcher
 * revokes everything else before the command runs, with
 * `Deno.permissions.revokeSync`: from then on a use of a revoked power throws
 * `NotCapable`, whatever the program is talked into doing.
 *
 * What Deno's model allows (measured with Deno 2.9.6):
 * - A whole permission (`net`, `read`, `write`, `run`, `ffi`, `import`) can
 *   be revoked; it cannot be granted again without a prompt, and the
 *   launcher runs with `--no-prompt`.
 * - One entry of a list grant can be revoked (`--allow-env=A,B`, then
 *   `revoke({ name: "env", variable: "A" })`): so `env` and `sys` narrow per
 *   command, name by name.
 * - A path or host cannot be carved out of a whole grant: after
 *   `--allow-read`, `revoke({ name: "read", path: "/etc" })` leaves `/etc`
 *   readable. The state directory and the Nexus host are only known at run
 *   time, so `read`, `write` and `net` stay whole or go.
 * - A Unix socket needs `net` (`unix:<path>`) as well as `read` and `write`
 *   on its path, so the commands that only talk to the local API keep `net`.
 *
 * @module
 */
import type { HeldPermissions } from "../localapi/protocol.ts";
import {
  CA_FILE_ENV,
  CITADEL_ENV_NAMES,
  NO_SHELL_JOBS_ENV,
  PROXY_ENV_NAMES,
  REDIS_URL_ENV,
  STATE_DIR_ENV,
  SYSTEM_ENV_NAMES,
} from "./env.ts";

export { CITADEL_ENV_NAMES, NO_SHELL_JOBS_ENV, PROXY_ENV_NAMES, REDIS_URL_ENV };

/** A kind of system information Deno guards with `sys`. */
export type SysKind = NonNullable<Deno.SysPermissionDescriptor["kind"]>;

/** Where the default state directory's home comes from (state/: `USERPROFILE` first on Windows). */
export const HOME_ENV_NAMES: readonly string[] = ["HOME", "USERPROFILE"];

/** What finds the state directory: `CITADEL_STATE_DIR`, else the home directory's variables. */
export const STATE_DIR_ENV_NAMES: readonly string[] = [STATE_DIR_ENV, ...HOME_ENV_NAMES];

/**
 * Every environment variable the process may ever read: the `--allow-env`
 * list of the launcher and the compile tasks. Measured with
 * `DENO_AUDIT_PERMISSIONS` over the CLI's interop tests, and by reading the
 * code: nothing else is read from JavaScript. Deno reads its own `DENO_*`,
 * proxy and TLS variables in Rust, without a permission check, and lets any
 * program read `NO_COLOR` and `FORCE_COLOR` (so `NO_COLOR` needs no grant);
 * `uqr` and `@noble/*` read none; the `node:` built-ins we use read
 * none on our paths.
 */
export const LAUNCH_ENV_NAMES: readonly string[] = [
  ...new Set([
    ...CITADEL_ENV_NAMES,
    ...PROXY_ENV_NAMES,
    ...SYSTEM_ENV_NAMES,
    ...HOME_ENV_NAMES,
  ]),
];

/**
 * Every kind of system information the process may ever read: the
 * `--allow-sys` list. `hostname` (the default node name, the instance lock's
 * record), `osRelease` (Hostinfo), `uid` (who owns the state directory),
 * `networkInterfaces` (netcheck and direct UDP paths).
 */
export const LAUNCH_SYS_KINDS: readonly SysKind[] = [
  "hostname",
  "osRelease",
  "uid",
  "networkInterfaces",
];

/**
 * What a command keeps once started; everything not named is revoked.
 * `env` and `sys` list what stays readable (a subset of the launch lists).
 */
export interface KeptPermissions {
  /** Network access, Unix sockets included. */
  net?: boolean;
  /** File reads. */
  read?: boolean;
  /** File writes. */
  write?: boolean;
  /** Starting programs. */
  run?: boolean;
  /** Environment variables still readable. */
  env?: readonly string[];
  /** System information still readable. */
  sys?: readonly SysKind[];
}

/**
 * What a short-lived command that talks to Nexus from the saved state keeps
 * (`status`, `logout`; `init`, `login` and `netcheck` add to it): the
 * network, the state (read, write), the state directory's variables, the CA
 * file and the proxy, and the system facts of Hostinfo and the state
 * directory's owner check.
 */
export const NEXUS_CLIENT_PERMISSIONS = {
  net: true,
  read: true,
  write: true,
  env: [...STATE_DIR_ENV_NAMES, CA_FILE_ENV, ...PROXY_ENV_NAMES],
  sys: ["hostname", "osRelease", "uid"],
} as const satisfies KeptPermissions;

/**
 * Code read an environment variable after its command gave up access to it:
 * a bug (the name belongs in the command's `permissions`), reported loudly
 * rather than read as unset.
 */
export class UndeclaredAccessError extends Error {
  /** The failure to read `what` (e.g. "the environment variable X"). */
  constructor(what: string) {
    super(
      `citadel read ${what} after giving up access to it; ` +
        "this is a bug: the command's permissions (cli/permissions.ts) must name it",
    );
    this.name = "UndeclaredAccessError";
  }
}

/** The whole permissions that are revoked unless kept; `ffi` and `import` never are. */
const WHOLE = ["net", "read", "write", "run", "ffi", "import"] as const;

/** The slice of `Deno.permissions` used here (a fake in tests). */
export interface PermissionsApi {
  /** See `Deno.Permissions.querySync`. */
  querySync(desc: Deno.PermissionDescriptor): Deno.PermissionStatus;
  /** See `Deno.Permissions.revokeSync`. */
  revokeSync(desc: Deno.PermissionDescriptor): Deno.PermissionStatus;
}

function granted(api: PermissionsApi, desc: Deno.PermissionDescriptor): boolean {
  return api.querySync(desc).state === "granted";
}

/** Whether the whole of `name` is granted, or part of it (a list grant). */
function held(api: PermissionsApi, desc: Deno.PermissionDescriptor): boolean {
  const status = api.querySync(desc);
  return status.state === "granted" || status.partial === true;
}

/**
 * Revokes every permission that `keep` does not name. Names of `env` and
 * `sys` outside the launch lists are never granted, so they need no
 * revoking. Where `env` or `sys` is granted whole (a run with `-A`), one name
 * cannot be revoked alone: it then stays whole unless the command keeps none
 * of it.
 *
 * @example
 * ```ts
 * shedPermissions({ net: true, read: true, write: true, env: ["HOME"] });
 * ```
 */
export function shedPermissions(keep: KeptPermissions, api: PermissionsApi = Deno.permissions) {
  for (const name of WHOLE) {
    if (name !== "ffi" && name !== "import" && keep[name] === true) continue;
    api.revokeSync({ name });
  }
  const keptEnv = new Set(keep.env ?? []);
  if (keptEnv.size === 0) {
    api.revokeSync({ name: "env" });
  } else {
    for (const variable of LAUNCH_ENV_NAMES) {
      if (!keptEnv.has(variable)) api.revokeSync({ name: "env", variable });
    }
  }
  const keptSys = new Set(keep.sys ?? []);
  if (keptSys.size === 0) {
    api.revokeSync({ name: "sys" });
  } else {
    for (const kind of LAUNCH_SYS_KINDS) {
      if (!keptSys.has(kind)) api.revokeSync({ name: "sys", kind });
    }
  }
}

/**
 * What the process holds now.
 *
 * @example
 * ```ts
 * console.log(heldPermissions().run); // false in `citadel status`
 * ```
 */
export function heldPermissions(api: PermissionsApi = Deno.permissions): HeldPermissions {
  return {
    net: held(api, { name: "net" }),
    read: held(api, { name: "read" }),
    write: held(api, { name: "write" }),
    run: held(api, { name: "run" }),
    ffi: held(api, { name: "ffi" }),
    env: granted(api, { name: "env" })
      ? "all"
      : LAUNCH_ENV_NAMES.filter((variable) => granted(api, { name: "env", variable })),
    sys: granted(api, { name: "sys" })
      ? "all"
      : LAUNCH_SYS_KINDS.filter((kind) => granted(api, { name: "sys", kind })),
  };
}
