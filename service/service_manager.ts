/**
 * Installing, removing and inspecting the service: which files to write for
 * each manager (a {@link ServicePlan}), and which manager commands to run
 * (`systemctl --user`, `launchctl`, `schtasks`), through an injected
 * {@link CommandRunner} so tests can record them where the manager is absent.
 *
 * Install writes the environment file (0600) first, then the definition, then
 * asks the manager to load and start it. Uninstall asks the manager to stop
 * and unload it, then removes both files; a manager that cannot be reached
 * does not keep the files from being removed (it is reported).
 *
 * @module
 */
import { writeFileAtomic } from "../state/mod.ts";
import { SERVICE_ENV_FILE_MODE } from "./env_file.ts";
import { LAUNCHD_LABEL, launchdLogPath, launchdPlist, launchdPlistPath } from "./launchd_plist.ts";
import type { ServiceManagerKind, ServiceSpec } from "./service_spec.ts";
import { SYSTEMD_UNIT_NAME, systemdUnit, systemdUnitPath } from "./systemd_unit.ts";
import {
  encodeUtf16Le,
  WINDOWS_TASK_FILE_NAME,
  WINDOWS_TASK_NAME,
  windowsTaskXml,
} from "./windows_task.ts";

/** What a manager command printed and how it exited. */
export interface CommandOutcome {
  /** Exit code; 127 when the program could not be started (not installed). */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Runs a manager command (never through a shell). */
export type CommandRunner = (program: string, args: readonly string[]) => Promise<CommandOutcome>;

/** One manager command of a plan. */
export interface ManagerCommand {
  /** Program and arguments. */
  argv: readonly string[];
  /** Its failure is expected at times (unloading what is not loaded) and not an error. */
  mayFail?: boolean;
}

/** Everything install, uninstall and status do, for one manager. */
export interface ServicePlan {
  /** The manager. */
  kind: ServiceManagerKind;
  /** Where the definition goes. */
  definitionPath: string;
  /** The definition's bytes. */
  definition: Uint8Array;
  /** Directories to create before writing (other than the state directory). */
  directories: string[];
  /** The environment file. */
  envFile: string;
  /** Load and start (after the files are written). */
  start: ManagerCommand[];
  /** Stop and unload (before the files are removed). */
  stop: ManagerCommand[];
  /** After the files are removed (e.g. `daemon-reload`). */
  afterRemove: ManagerCommand[];
  /** Queries: each one's trimmed stdout is reported by its label. */
  queries: { label: string; argv: readonly string[] }[];
  /** Log file, where the manager keeps one we chose. */
  logPath: string | null;
  /** How a user starts it by hand, shown when the manager cannot be reached. */
  manualStart: string;
}

/** Inputs of {@link planService} beyond the spec. */
export interface PlanOptions {
  /** `$XDG_CONFIG_HOME`, for the systemd unit's place. */
  xdgConfigHome?: string;
  /** The user's numeric id, for launchd's `gui/<uid>` domain. */
  uid?: number | null;
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const dirname = (path: string) => path.replace(/[\\/][^\\/]*$/, "");

/** The plan for a manager. */
export function planService(
  kind: ServiceManagerKind,
  spec: ServiceSpec,
  options: PlanOptions = {},
): ServicePlan {
  switch (kind) {
    case "systemd": {
      const path = systemdUnitPath(spec.home, options.xdgConfigHome);
      const ctl = (...args: string[]) => ["systemctl", "--user", ...args];
      return {
        kind,
        definitionPath: path,
        definition: utf8(systemdUnit(spec)),
        directories: [dirname(path)],
        envFile: spec.envFile,
        start: [
          { argv: ctl("daemon-reload") },
          { argv: ctl("enable", SYSTEMD_UNIT_NAME) },
          // restart, not start: a reinstall must pick up the new unit and settings.
          { argv: ctl("restart", SYSTEMD_UNIT_NAME) },
        ],
        stop: [{ argv: ctl("disable", "--now", SYSTEMD_UNIT_NAME), mayFail: true }],
        afterRemove: [{ argv: ctl("daemon-reload"), mayFail: true }],
        queries: [
          { label: "enabled", argv: ctl("is-enabled", SYSTEMD_UNIT_NAME) },
          { label: "active", argv: ctl("is-active", SYSTEMD_UNIT_NAME) },
        ],
        logPath: null,
        manualStart: `systemctl --user daemon-reload && systemctl --user enable --now ` +
          `${SYSTEMD_UNIT_NAME}   (logs: journalctl --user -u ${SYSTEMD_UNIT_NAME})`,
      };
    }
    case "launchd": {
      const path = launchdPlistPath(spec.home);
      const domain = `gui/${options.uid ?? "$(id -u)"}`;
      const target = `${domain}/${LAUNCHD_LABEL}`;
      const log = launchdLogPath(spec.home);
      return {
        kind,
        definitionPath: path,
        definition: utf8(launchdPlist(spec)),
        directories: [dirname(path), dirname(log)],
        envFile: spec.envFile,
        start: [
          // A reinstall replaces a loaded agent.
          { argv: ["launchctl", "bootout", target], mayFail: true },
          { argv: ["launchctl", "bootstrap", domain, path] },
        ],
        stop: [{ argv: ["launchctl", "bootout", target], mayFail: true }],
        afterRemove: [],
        queries: [{ label: "launchd", argv: ["launchctl", "print", target] }],
        logPath: log,
        manualStart: `launchctl bootstrap ${domain} ${path}`,
      };
    }
    case "windows-task": {
      const path = `${spec.stateDir}\\${WINDOWS_TASK_FILE_NAME}`;
      return {
        kind,
        definitionPath: path,
        definition: encodeUtf16Le(windowsTaskXml(spec)),
        directories: [],
        envFile: spec.envFile,
        start: [
          { argv: ["schtasks", "/Create", "/TN", WINDOWS_TASK_NAME, "/XML", path, "/F"] },
          { argv: ["schtasks", "/Run", "/TN", WINDOWS_TASK_NAME] },
        ],
        stop: [
          { argv: ["schtasks", "/End", "/TN", WINDOWS_TASK_NAME], mayFail: true },
          { argv: ["schtasks", "/Delete", "/TN", WINDOWS_TASK_NAME, "/F"], mayFail: true },
        ],
        afterRemove: [],
        queries: [{
          label: "task",
          argv: ["schtasks", "/Query", "/TN", WINDOWS_TASK_NAME, "/FO", "LIST"],
        }],
        logPath: null,
        manualStart: `schtasks /Create /TN ${WINDOWS_TASK_NAME} /XML "${path}" /F`,
      };
    }
  }
}

/** A manager command that failed. */
export interface CommandFailure {
  /** The command line. */
  command: string;
  /** Its exit code (127: not found). */
  code: number;
  /** The first line it printed on stderr (or stdout). */
  message: string;
}

function failureOf(argv: readonly string[], outcome: CommandOutcome): CommandFailure {
  const text = (outcome.stderr.trim() || outcome.stdout.trim()).split("\n")[0] ?? "";
  return { command: argv.join(" "), code: outcome.code, message: text || `exit ${outcome.code}` };
}

async function runAll(
  commands: readonly ManagerCommand[],
  run: CommandRunner,
): Promise<{ failed: CommandFailure | null; tolerated: CommandFailure[] }> {
  const tolerated: CommandFailure[] = [];
  for (const c of commands) {
    const outcome = await run(c.argv[0], c.argv.slice(1));
    if (outcome.code === 0) continue;
    const failure = failureOf(c.argv, outcome);
    if (c.mayFail && outcome.code !== 127) {
      tolerated.push(failure);
      continue;
    }
    return { failed: failure, tolerated };
  }
  return { failed: null, tolerated };
}

/** What install did. */
export interface InstallResult {
  /** Files written. */
  written: string[];
  /** Whether the manager was asked to start it (false with `start: false`). */
  startAttempted: boolean;
  /** The manager command that failed, or null when all went through. */
  startFailure: CommandFailure | null;
}

/**
 * Writes the environment file (0600) and the definition, then (when `start`)
 * loads and starts the service.
 */
export async function installService(
  plan: ServicePlan,
  envFileText: string,
  run: CommandRunner,
  options: { start: boolean },
): Promise<InstallResult> {
  for (const dir of plan.directories) await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(plan.envFile, envFileText, { mode: SERVICE_ENV_FILE_MODE });
  await writeFileAtomic(plan.definitionPath, plan.definition, { mode: 0o644 });
  const written = [plan.envFile, plan.definitionPath];
  if (!options.start) return { written, startAttempted: false, startFailure: null };
  const { failed } = await runAll(plan.start, run);
  return { written, startAttempted: true, startFailure: failed };
}

/** What uninstall did. */
export interface UninstallResult {
  /** Files removed (those that were there). */
  removed: string[];
  /** Manager commands that failed (the files were removed anyway). */
  failures: CommandFailure[];
}

async function removeIfPresent(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Stops and unloads the service, and removes its definition and environment file. */
export async function uninstallService(
  plan: ServicePlan,
  run: CommandRunner,
): Promise<UninstallResult> {
  const failures: CommandFailure[] = [];
  const stopped = await runAll(plan.stop, run);
  if (stopped.failed) failures.push(stopped.failed);
  const removed: string[] = [];
  for (const path of [plan.definitionPath, plan.envFile]) {
    if (await removeIfPresent(path)) removed.push(path);
  }
  const after = await runAll(plan.afterRemove, run);
  if (after.failed) failures.push(after.failed);
  return { removed, failures };
}

/** The service's state as far as files and the manager tell. */
export interface ServiceState {
  /** The manager. */
  manager: ServiceManagerKind;
  /** The definition file exists. */
  installed: boolean;
  /** Its path. */
  definitionPath: string;
  /** The environment file exists. */
  envFilePresent: boolean;
  /** Its path. */
  envFile: string;
  /** Each query's answer (trimmed stdout), or null when the manager could not answer. */
  answers: Record<string, string | null>;
  /** Why the manager could not answer, if it could not. */
  managerError: string | null;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether the files exist, and what the manager says about the service. */
export async function serviceState(plan: ServicePlan, run: CommandRunner): Promise<ServiceState> {
  const answers: Record<string, string | null> = {};
  let managerError: string | null = null;
  for (const q of plan.queries) {
    const outcome = await run(q.argv[0], q.argv.slice(1));
    const out = outcome.stdout.trim();
    // `systemctl is-active` exits 3 for "inactive" with a useful answer on stdout.
    if (outcome.code === 127 || (out === "" && outcome.code !== 0)) {
      answers[q.label] = null;
      managerError ??= failureOf(q.argv, outcome).message;
    } else {
      answers[q.label] = out;
    }
  }
  return {
    manager: plan.kind,
    installed: await exists(plan.definitionPath),
    definitionPath: plan.definitionPath,
    envFilePresent: await exists(plan.envFile),
    envFile: plan.envFile,
    answers: answers,
    managerError,
  };
}

/** The real runner: `Deno.Command`, no shell, stdin closed, a 30 s limit. */
export const denoCommandRunner: CommandRunner = async (
  program: string,
  args: readonly string[],
): Promise<CommandOutcome> => {
  try {
    const out = await new Deno.Command(program, {
      args: [...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { code: 127, stdout: "", stderr: `${program} is not installed` };
    }
    throw e;
  }
};
