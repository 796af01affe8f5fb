/**
 * The launchd agent, `~/Library/LaunchAgents/ai.aceteam.citadel.plist`,
 * loaded with `launchctl bootstrap gui/<uid> <plist>` (launchd.plist(5),
 * launchctl(1)).
 *
 * Choices:
 * - launchd has no environment file, and `EnvironmentVariables` would put the
 *   auth key in the plist in clear; so the agent runs
 *   `citadel work --env-file <state dir>/service.env`, and work reads the
 *   0600 file itself. Only `PATH` (not secret) is set in the plist, because
 *   launchd's default (`/usr/bin:/bin:/usr/sbin:/sbin`) lacks
 *   `/usr/local/bin` and `/opt/homebrew/bin`, where the programs of `shell`
 *   jobs usually are.
 * - `RunAtLoad` and `KeepAlive` → `SuccessfulExit: false`: started at login,
 *   started again when it exits non-zero (a watchdog), not after a clean stop;
 *   `ThrottleInterval` 10 s between starts. launchd cannot exempt exit codes,
 *   so a broken setup is retried every 10 s; its log says why.
 * - `ExitTimeOut` 20 s between SIGTERM and SIGKILL, room for work's drain.
 * - stdout and stderr go to `~/Library/Logs/citadel/work.log`.
 *
 * @module
 */
import { GENERATED_BY, type ServiceSpec } from "./service_spec.ts";

/** The agent's label (reverse DNS of aceteam.ai). */
export const LAUNCHD_LABEL = "ai.aceteam.citadel";

/** The plist's path. */
export function launchdPlistPath(home: string): string {
  return `${home}/Library/LaunchAgents/${LAUNCHD_LABEL}.plist`;
}

/** The log file the agent's stdout and stderr go to. */
export function launchdLogPath(home: string): string {
  return `${home}/Library/Logs/citadel/work.log`;
}

/** Escapes text for an XML element. */
export function xmlEscape(text: string): string {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f]/.test(text)) {
    throw new Error("a control character cannot be written to XML");
  }
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

const str = (s: string) => `<string>${xmlEscape(s)}</string>`;

/** The plist's text. */
export function launchdPlist(spec: ServiceSpec): string {
  const args = [spec.program, ...spec.args, "--env-file", spec.envFile];
  const log = launchdLogPath(spec.home);
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" ` +
    `"http://www.apple.com/DTDs/PropertyList-1.0.dtd">`,
    `<!-- ${GENERATED_BY.replaceAll("--", "- -")} -->`,
    `<plist version="1.0">`,
    `<dict>`,
    `  <key>Label</key>`,
    `  ${str(LAUNCHD_LABEL)}`,
    `  <key>ProgramArguments</key>`,
    `  <array>`,
    ...args.map((a) => `    ${str(a)}`),
    `  </array>`,
  ];
  if (spec.path) {
    lines.push(
      `  <key>EnvironmentVariables</key>`,
      `  <dict>`,
      `    <key>PATH</key>`,
      `    ${str(spec.path)}`,
      `  </dict>`,
    );
  }
  lines.push(
    `  <key>WorkingDirectory</key>`,
    `  ${str(spec.home)}`,
    `  <key>RunAtLoad</key>`,
    `  <true/>`,
    `  <key>KeepAlive</key>`,
    `  <dict>`,
    `    <key>SuccessfulExit</key>`,
    `    <false/>`,
    `  </dict>`,
    `  <key>ThrottleInterval</key>`,
    `  <integer>10</integer>`,
    `  <key>ExitTimeOut</key>`,
    `  <integer>20</integer>`,
    `  <key>ProcessType</key>`,
    `  ${str("Background")}`,
    `  <key>StandardOutPath</key>`,
    `  ${str(log)}`,
    `  <key>StandardErrorPath</key>`,
    `  ${str(log)}`,
    `</dict>`,
    `</plist>`,
    ``,
  );
  return lines.join("\n");
}
