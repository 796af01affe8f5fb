/**
 * The systemd user unit, `~/.config/systemd/user/citadel.service` (under
 * `$XDG_CONFIG_HOME` when set), enabled and started with
 * `systemctl --user enable --now citadel.service`.
 *
 * Choices (systemd.service(5), systemd.exec(5), systemd.kill(5)):
 * - `EnvironmentFile=` points at `<state dir>/service.env` (0600), so the
 *   auth key and a Redis password are not in the unit: unit files are
 *   world-readable by convention, and `Environment=` values are shown by
 *   `systemctl show` and `systemctl cat`, which end up in bug reports.
 * - `Restart=on-failure` with 10 s between tries and at most 5 starts in
 *   5 min (the Go original's `citadel-worker` unit kept the same pace);
 *   `RestartPreventExitStatus=` lists the codes a restart cannot fix (usage,
 *   not logged in, key refused, node removed, wrong server, corrupt state,
 *   already running), so a broken setup stops instead of looping. A
 *   watchdog exit (14) is restarted.
 * - `KillMode=mixed`: SIGTERM reaches `citadel work` alone, which drains its
 *   running jobs (up to 8 s) before exiting; only what is left after
 *   `TimeoutStopSec=` is killed. The default (`control-group`) would send
 *   SIGTERM to the jobs too and defeat the drain.
 * - `WantedBy=default.target`: it starts with the user's manager. Without
 *   `loginctl enable-linger USER` that manager runs only while the user is
 *   logged in; `service install` says so.
 *
 * @module
 */
import { GENERATED_BY, SERVICE_DESCRIPTION, type ServiceSpec } from "./service_spec.ts";

/** The unit's file name. */
export const SYSTEMD_UNIT_NAME = "citadel.service";

/** A value that cannot go into a unit file. */
export class SystemdUnitError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "SystemdUnitError";
  }
}

function checkLine(value: string, what: string): void {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) {
    throw new SystemdUnitError(`${what} holds a control character or line break: ${value}`);
  }
}

/** Escapes `%` specifiers (systemd.unit(5) "Specifiers"). */
function specifierSafe(value: string): string {
  return value.replaceAll("%", "%%");
}

/**
 * One `ExecStart=` word: always double-quoted, with `\` and `"` escaped, `%`
 * written `%%` and `$` written `$$` (systemd.service(5) "Command lines").
 */
export function systemdQuote(arg: string): string {
  checkLine(arg, "an argument");
  const escaped = arg.replaceAll("\\", "\\\\").replaceAll('"', '\\"');
  return `"${specifierSafe(escaped).replaceAll("$", "$$$$")}"`;
}

/** The unit file's path, from the home directory and `$XDG_CONFIG_HOME` (if set). */
export function systemdUnitPath(home: string, xdgConfigHome?: string): string {
  const base = xdgConfigHome && xdgConfigHome.startsWith("/") ? xdgConfigHome : `${home}/.config`;
  return `${base}/systemd/user/${SYSTEMD_UNIT_NAME}`;
}

/** The unit file's text. */
export function systemdUnit(spec: ServiceSpec): string {
  checkLine(spec.envFile, "the environment file's path");
  const exec = [spec.program, ...spec.args].map(systemdQuote).join(" ");
  return [
    `# ${GENERATED_BY}`,
    `# Settings (secrets included) are in ${spec.envFile} (mode 0600).`,
    "[Unit]",
    `Description=${SERVICE_DESCRIPTION}`,
    "StartLimitIntervalSec=300",
    "StartLimitBurst=5",
    "",
    "[Service]",
    "Type=exec",
    `ExecStart=${exec}`,
    `EnvironmentFile=${specifierSafe(spec.envFile)}`,
    "Restart=on-failure",
    "RestartSec=10",
    `RestartPreventExitStatus=${spec.noRestartExitCodes.join(" ")}`,
    "KillMode=mixed",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=20",
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}
