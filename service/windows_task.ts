/**
 * The Windows definition: a Task Scheduler task named `Citadel`, registered
 * from an XML definition with `schtasks /Create /TN Citadel /XML <file> /F`
 * (Task Scheduler schema, "taskType").
 *
 * Why a scheduled task and not a service (`sc.exe create`): a Windows
 * service must answer the Service Control Manager (StartServiceCtrlDispatcher
 * and its control handler); a program compiled by `deno compile` cannot, so
 * the SCM would kill it after 30 s ("error 1053") unless a wrapper (WinSW,
 * NSSM) sat in between. Creating a service also needs an Administrator. A
 * task runs `citadel work` as the user who installed it, needs no elevation,
 * and is the Windows twin of a systemd user unit or a launchd agent.
 *
 * Choices:
 * - A logon trigger for this user, repeating every 5 minutes, with
 *   `MultipleInstancesPolicy` `IgnoreNew`: while work runs nothing happens;
 *   when it has exited (a watchdog exit, a crash), the next repetition starts
 *   it again. Task Scheduler's `RestartOnFailure` restarts a task that
 *   "fails", which is not documented to include a program's non-zero exit
 *   (it is known to cover a start that failed), so the repetition is what
 *   guarantees a restart; `RestartOnFailure` stays for the failed starts.
 * - No time limit (`ExecutionTimeLimit` `PT0S`), runs on battery.
 * - `InteractiveToken`, least privilege: runs only while the user is logged
 *   on (the other logon types need the "log on as a batch job" right or a
 *   stored password). Its console window shows while it runs.
 * - The settings are not in the task: it runs
 *   `citadel.exe work --state-dir … --env-file <state dir>\service.env`.
 * - The file is UTF-16 with a byte order mark, which `schtasks /XML` expects
 *   ({@link encodeUtf16Le}).
 *
 * @module
 */
import { xmlEscape } from "./launchd_plist.ts";
import { GENERATED_BY, SERVICE_DESCRIPTION, type ServiceSpec } from "./service_spec.ts";

/** The task's name. */
export const WINDOWS_TASK_NAME = "Citadel";

/** The XML definition's file name, kept in the state directory. */
export const WINDOWS_TASK_FILE_NAME = "citadel-task.xml";

/**
 * Quotes one argument for a Windows command line, as `CommandLineToArgvW`
 * and the C runtime split it: quotes around anything with a space, tab or
 * quote, a backslash before each quote, and backslashes doubled only when a
 * quote follows them.
 */
export function windowsQuoteArg(arg: string): string {
  if (arg !== "" && !/[ \t\n\v"]/.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const c of arg) {
    if (c === "\\") {
      backslashes++;
      continue;
    }
    out += c === '"' ? "\\".repeat(backslashes * 2 + 1) + '"' : "\\".repeat(backslashes) + c;
    backslashes = 0;
  }
  return out + "\\".repeat(backslashes * 2) + '"';
}

/** The task's XML definition (as text; write it with {@link encodeUtf16Le}). */
export function windowsTaskXml(spec: ServiceSpec): string {
  const args = [...spec.args, "--env-file", spec.envFile].map(windowsQuoteArg).join(" ");
  const user = spec.windowsUser ? xmlEscape(spec.windowsUser) : null;
  return [
    `<?xml version="1.0" encoding="UTF-16"?>`,
    `<!-- ${GENERATED_BY.replaceAll("--", "- -")} -->`,
    `<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">`,
    `  <RegistrationInfo>`,
    `    <Description>${xmlEscape(SERVICE_DESCRIPTION)}</Description>`,
    `  </RegistrationInfo>`,
    `  <Triggers>`,
    `    <LogonTrigger>`,
    `      <Enabled>true</Enabled>`,
    `      <Repetition>`,
    `        <Interval>PT5M</Interval>`,
    `        <StopAtDurationEnd>false</StopAtDurationEnd>`,
    `      </Repetition>`,
    ...(user ? [`      <UserId>${user}</UserId>`] : []),
    `    </LogonTrigger>`,
    `  </Triggers>`,
    `  <Principals>`,
    `    <Principal id="Author">`,
    ...(user ? [`      <UserId>${user}</UserId>`] : []),
    `      <LogonType>InteractiveToken</LogonType>`,
    `      <RunLevel>LeastPrivilege</RunLevel>`,
    `    </Principal>`,
    `  </Principals>`,
    `  <Settings>`,
    `    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>`,
    `    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>`,
    `    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>`,
    `    <AllowHardTerminate>true</AllowHardTerminate>`,
    `    <StartWhenAvailable>true</StartWhenAvailable>`,
    `    <AllowStartOnDemand>true</AllowStartOnDemand>`,
    `    <Enabled>true</Enabled>`,
    `    <Hidden>false</Hidden>`,
    `    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>`,
    `    <RestartOnFailure>`,
    `      <Interval>PT1M</Interval>`,
    `      <Count>3</Count>`,
    `    </RestartOnFailure>`,
    `  </Settings>`,
    `  <Actions Context="Author">`,
    `    <Exec>`,
    `      <Command>${xmlEscape(spec.program)}</Command>`,
    `      <Arguments>${xmlEscape(args)}</Arguments>`,
    `      <WorkingDirectory>${xmlEscape(spec.home)}</WorkingDirectory>`,
    `    </Exec>`,
    `  </Actions>`,
    `</Task>`,
    ``,
  ].join("\r\n");
}

/** Text as UTF-16 little-endian with a byte order mark. */
export function encodeUtf16Le(text: string): Uint8Array {
  const out = new Uint8Array(2 + text.length * 2);
  out[0] = 0xff;
  out[1] = 0xfe;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    out[2 + i * 2] = unit & 0xff;
    out[3 + i * 2] = unit >> 8;
  }
  return out;
}
