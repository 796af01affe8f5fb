/**
 * Running `citadel work` unattended under the user's service manager: the
 * definitions (a systemd user unit, a launchd agent, a Windows scheduled
 * task), the 0600 environment file that keeps secrets out of them, and the
 * install, uninstall and status steps. Text generation is pure; the steps
 * write files and run the manager's own tool through an injected runner.
 *
 * @module
 */
export * from "./service_spec.ts";
export * from "./env_file.ts";
export * from "./systemd_unit.ts";
export * from "./launchd_plist.ts";
export * from "./windows_task.ts";
export * from "./service_manager.ts";
