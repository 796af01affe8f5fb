/**
 * What every service definition says, whatever the service manager: which
 * program runs with which arguments, where its environment file is, and
 * which exit codes mean "restarting will not help".
 *
 * @module
 */

/** Everything a service definition is generated from. */
export interface ServiceSpec {
  /** Absolute path of the program (the citadel executable, or the source launcher). */
  program: string;
  /** Its arguments, e.g. `["work", "--state-dir", dir]`. */
  args: readonly string[];
  /** Absolute path of the environment file (`<state dir>/service.env`). */
  envFile: string;
  /** The state directory. */
  stateDir: string;
  /** The user's home directory. */
  home: string;
  /**
   * Exit codes a restart cannot fix (bad configuration, not logged in, node
   * removed, another instance): systemd does not restart on these.
   */
  noRestartExitCodes: readonly number[];
  /** `PATH` for the program's environment where the manager's default is too bare (launchd). */
  path?: string;
  /** The Windows account (`DOMAIN\user`) the scheduled task runs as, when known. */
  windowsUser?: string;
}

/** The one-line description every manager shows. */
export const SERVICE_DESCRIPTION = "Citadel node (citadel work)";

/** The first comment line of each generated file. */
export const GENERATED_BY =
  "Written by `citadel service install`; `citadel service uninstall` removes it.";

/** Service managers `citadel service` knows. */
export type ServiceManagerKind = "systemd" | "launchd" | "windows-task";

/** The manager for an operating system (`Deno.build.os`), or null when there is none. */
export function serviceManagerFor(os: typeof Deno.build.os): ServiceManagerKind | null {
  switch (os) {
    case "linux":
      return "systemd";
    case "darwin":
      return "launchd";
    case "windows":
      return "windows-task";
    default:
      return null;
  }
}
