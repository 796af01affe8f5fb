/**
 * `citadel service install|uninstall|status`: runs `citadel work` under the
 * user's own service manager, without root: a systemd user unit (Linux), a
 * launchd agent (macOS) or a Task Scheduler task (Windows); see service/.
 *
 * Configuration is the environment: install saves the `CITADEL_*` variables
 * set in the installing shell (and `--nexus`) to `<state dir>/service.env`,
 * mode 0600, which the service reads at each start. The auth key and a Redis
 * password therefore never appear in the unit, plist or task: those are
 * written 0644 as their managers expect, in directories other users can
 * often read (home directories are 0755 on many systems), and systemd shows
 * `Environment=` lines in `systemctl show` and in logs of the unit. The file
 * lives in the 0700 state directory that already holds the node's keys.
 *
 * Install checks the settings first (a bad `CITADEL_REDIS_URL` would make the
 * service exit USAGE at every start), writes the files, then asks the
 * manager to start it (`--no-start`: files only). Installing again replaces
 * both files and restarts the service with them.
 *
 * Decisions on the Go original (§4.1, §5.1): its `install.sh` wrote a
 * root-owned system unit `citadel-worker` running as root; here the service
 * is the user's, and `citadel` installs it itself on all three systems.
 *
 * @module
 */
import { STATE_DIR_ENV_NAMES } from "../cli/permissions.ts";
import { fileURLToPath } from "node:url";
import type { CommandContext, CommandSpec } from "../cli/command.ts";
import {
  AUTHKEY_ENV,
  CITADEL_ENV_NAMES,
  NEXUS_ENV,
  PATH_ENV,
  SYSTEM_ENV_NAMES,
  WINDOWS_USER_ENV_NAMES,
  XDG_CONFIG_HOME_ENV,
} from "../cli/env.ts";
import { CommandError, UsageError } from "../cli/errors.ts";
import { ExitCode } from "../cli/exit_codes.ts";
import { jobLoopSettings } from "../cli/job_loop_settings.ts";
import { readSavedNode, stateDirOf } from "../cli/node_target.ts";
import { localApiSocketPath, probeLocalApi } from "../localapi/mod.ts";
import {
  denoCommandRunner,
  formatEnvFile,
  installService,
  planService,
  SERVICE_ENV_FILE_NAME,
  serviceManagerFor,
  type ServiceManagerKind,
  type ServicePlan,
  type ServiceSpec,
  serviceState,
  uninstallService,
} from "../service/mod.ts";
import { ensureStateDir, STATE_DIR_ENV } from "../state/mod.ts";

/** Exit codes after which a restart cannot help: the service manager should not retry. */
export const NO_RESTART_EXIT_CODES: readonly number[] = [
  ExitCode.USAGE,
  ExitCode.NOT_LOGGED_IN,
  ExitCode.AUTH_REJECTED,
  ExitCode.NODE_REMOVED,
  ExitCode.NEXUS_PROTOCOL,
  ExitCode.STATE_CORRUPT,
  ExitCode.ALREADY_RUNNING,
];

const ACTIONS = ["install", "uninstall", "status"] as const;

/** The program the service runs: this executable, or the source launcher next to main.ts. */
function citadelProgram(os: typeof Deno.build.os): string {
  if (Deno.build.standalone) return Deno.execPath();
  if (os === "windows") {
    throw new CommandError(
      "service install needs the compiled citadel.exe on Windows",
      ExitCode.NOT_IMPLEMENTED,
      "Install a release build (citadel_vX.Y.Z_windows_x64.zip) and run its citadel.exe.",
    );
  }
  // Running from source: bin/citadel runs main.ts with the release binary's flags.
  return fileURLToPath(new URL("../bin/citadel", import.meta.url));
}

function homeOf(ctx: CommandContext, os: typeof Deno.build.os): string {
  const names = os === "windows" ? ["USERPROFILE", "HOME"] : ["HOME"];
  for (const name of names) {
    const value = ctx.io.env(name);
    if (value) return value;
  }
  throw new CommandError(`cannot find the home directory (${names.join(", ")} unset)`, 1);
}

interface Target {
  kind: ServiceManagerKind;
  spec: ServiceSpec;
  plan: ServicePlan;
}

function target(ctx: CommandContext, forInstall: boolean): Target {
  const os = Deno.build.os;
  const kind = serviceManagerFor(os);
  if (!kind) {
    throw new CommandError(
      `no service manager is known for ${os}`,
      ExitCode.NOT_IMPLEMENTED,
      "Run 'citadel work' under your own supervisor.",
    );
  }
  const stateDir = stateDirOf(ctx);
  const sep = os === "windows" ? "\\" : "/";
  const windowsUser = WINDOWS_USER_ENV_NAMES.map((n) => ctx.io.env(n) ?? "");
  const spec: ServiceSpec = {
    // Uninstall and status only need the paths, not the program.
    program: forInstall ? citadelProgram(os) : "citadel",
    args: ["work", "--state-dir", stateDir],
    envFile: `${stateDir}${sep}${SERVICE_ENV_FILE_NAME}`,
    stateDir,
    home: homeOf(ctx, os),
    noRestartExitCodes: NO_RESTART_EXIT_CODES,
    path: ctx.io.env(PATH_ENV) || undefined,
    windowsUser: windowsUser.every((p) => p !== "") ? windowsUser.join("\\") : undefined,
  };
  const plan = planService(kind, spec, {
    xdgConfigHome: ctx.io.env(XDG_CONFIG_HOME_ENV) || undefined,
    uid: Deno.uid(),
  });
  return { kind, spec, plan };
}

/** The service's settings: the `CITADEL_*` variables of this shell, and `--nexus`. */
function serviceEnvironment(ctx: CommandContext): [string, string][] {
  const vars: [string, string][] = [];
  for (const name of CITADEL_ENV_NAMES) {
    // The state directory is on the command line (the file lives in it).
    if (name === STATE_DIR_ENV) continue;
    const value = name === NEXUS_ENV
      ? ctx.global.nexusOverride ?? ctx.io.env(name)
      : ctx.io.env(name);
    if (value !== undefined && value.trim() !== "") vars.push([name, value.trim()]);
  }
  return vars;
}

async function install(ctx: CommandContext, start: boolean): Promise<number> {
  // The settings the service will start with must be valid now, not at its first start.
  jobLoopSettings({ ...ctx, values: {} });
  const { kind, spec, plan } = target(ctx, true);
  await ensureStateDir(spec.stateDir);
  const vars = serviceEnvironment(ctx);
  const saved = await readSavedNode(spec.stateDir).catch(() => null);
  if (!saved?.registered && !vars.some(([name]) => name === AUTHKEY_ENV)) {
    ctx.out.warn(
      `this node has not joined yet and ${AUTHKEY_ENV} is not set: the service will exit ` +
        `NOT_LOGGED_IN. Run 'citadel init' first, or install with ${AUTHKEY_ENV} set.`,
    );
  }
  const header = `Settings of the Citadel service (${kind}), read at each start.\n` +
    "Written by `citadel service install` from the CITADEL_* variables it saw.\n" +
    "It may hold secrets: keep it mode 0600.";
  const runner = ctx.deps.runCommand ?? denoCommandRunner;
  const result = await installService(plan, formatEnvFile(vars, header), runner, { start });
  ctx.out.line(`wrote ${plan.definitionPath}`);
  ctx.out.line(
    `wrote ${plan.envFile} (mode 0600): ` +
      (vars.length > 0 ? vars.map(([n]) => n).join(", ") : "no CITADEL_* variables"),
  );
  ctx.out.line(`runs: ${[spec.program, ...spec.args].join(" ")}`);
  if (!result.startAttempted) {
    ctx.out.line(`not started (--no-start); to start it: ${plan.manualStart}`);
    return ExitCode.OK;
  }
  if (result.startFailure) {
    const f = result.startFailure;
    throw new CommandError(
      `wrote the service files, but could not start the service: ${f.command}: ${f.message}`,
      ExitCode.FAILURE,
      `Start it by hand when ${kind === "systemd" ? "systemd" : "the manager"} is available: ` +
        plan.manualStart,
    );
  }
  ctx.out.line(`started (${kind})${plan.logPath ? `; log: ${plan.logPath}` : ""}`);
  if (kind === "systemd") {
    ctx.out.info(
      "A user service runs while you are logged in; to keep it running after logout: " +
        "loginctl enable-linger $USER",
    );
  }
  return ExitCode.OK;
}

async function uninstall(ctx: CommandContext): Promise<number> {
  const { plan } = target(ctx, false);
  const runner = ctx.deps.runCommand ?? denoCommandRunner;
  const result = await uninstallService(plan, runner);
  for (const f of result.failures) ctx.out.warn(`${f.command}: ${f.message}`);
  if (result.removed.length === 0) {
    ctx.out.line("the service is not installed; nothing to remove");
    return ExitCode.OK;
  }
  for (const path of result.removed) ctx.out.line(`removed ${path}`);
  return ExitCode.OK;
}

async function status(ctx: CommandContext): Promise<number> {
  const { plan, spec } = target(ctx, false);
  const runner = ctx.deps.runCommand ?? denoCommandRunner;
  const state = await serviceState(plan, runner);
  const workRunning = await probeLocalApi(localApiSocketPath(spec.stateDir));
  if (ctx.global.json) {
    ctx.out.json({ ...state, workRunning });
    return ExitCode.OK;
  }
  ctx.out.line(`Manager:     ${state.manager}`);
  ctx.out.line(`Installed:   ${state.installed ? `yes (${state.definitionPath})` : "no"}`);
  ctx.out.line(
    `Settings:    ${state.envFilePresent ? state.envFile : `${state.envFile} (missing)`}`,
  );
  for (const [label, answer] of Object.entries(state.answers)) {
    const text = answer === null ? "unknown" : answer.split("\n").slice(0, 12).join("\n  ");
    ctx.out.line(`${`${label[0].toUpperCase()}${label.slice(1)}:`.padEnd(12)} ${text}`);
  }
  if (state.managerError) ctx.out.line(`Manager said: ${state.managerError}`);
  ctx.out.line(`Work:        ${workRunning ? "running (its local API answers)" : "not running"}`);
  return ExitCode.OK;
}

/** The `service` command. */
export const serviceCommand: CommandSpec = {
  name: "service",
  summary: "Install, remove or inspect 'citadel work' as a user service",
  description: `
install    Writes a service that runs 'citadel work' for this state directory,
           and starts it: a systemd user unit (~/.config/systemd/user/
           citadel.service), a launchd agent (~/Library/LaunchAgents/
           ai.aceteam.citadel.plist) or a Windows scheduled task ("Citadel",
           at logon). No root or Administrator needed.
uninstall  Stops it and removes those files.
status     Whether it is installed, what the manager says, and whether
           'citadel work' answers on this state directory.

The service is configured by environment: install saves the CITADEL_*
variables set now (CITADEL_AUTHKEY, CITADEL_REDIS_URL, CITADEL_QUEUES, …)
and --nexus to <state dir>/${SERVICE_ENV_FILE_NAME}, mode 0600, so no secret
is written into the service definition. Edit that file, or install again, to
change them. It restarts work after a failure (a watchdog exit) but not after
an exit a restart cannot fix (not logged in, key rejected, bad settings).`,
  positionals: [{ name: "ACTION", description: "install, uninstall or status" }],
  options: {
    "no-start": {
      type: "boolean",
      description: "install: write the files but do not start the service",
    },
  },
  // Writes the unit and the 0600 env file, runs the service manager (systemctl, launchctl,
  // schtasks), and copies this shell's CITADEL_* settings into the env file.
  permissions: {
    read: true,
    write: true,
    run: true,
    env: [...STATE_DIR_ENV_NAMES, ...CITADEL_ENV_NAMES, ...SYSTEM_ENV_NAMES],
    sys: ["uid"],
  },
  json: true,
  run(ctx: CommandContext): Promise<number> {
    const action = ctx.positionals[0] as typeof ACTIONS[number] | undefined;
    const hint = "Run 'citadel service --help' for usage.";
    if (!action || !ACTIONS.includes(action)) {
      throw new UsageError(
        action
          ? `unknown action '${action}'`
          : "service needs an action: install, uninstall or status",
        hint,
      );
    }
    if (ctx.values["no-start"] === true && action !== "install") {
      throw new UsageError("--no-start applies to 'service install' only", hint);
    }
    if (ctx.global.json && action !== "status") {
      throw new UsageError("--json applies to 'service status' only", hint);
    }
    if (action === "install") return install(ctx, ctx.values["no-start"] !== true);
    if (action === "uninstall") return uninstall(ctx);
    return status(ctx);
  },
};
