/**
 * The `citadel` commands, one file each. main.ts hands this table to the
 * dispatcher (cli/dispatch.ts `runCli`), which is how cli/ runs commands
 * without importing them: imports point one way, main.ts ─► commands/ ─►
 * cli/, localapi/, state/, network/mod.ts.
 *
 * @module
 */
import type { CommandSpec } from "../cli/command.ts";
import { helpCommand } from "./help.ts";
import { initCommand } from "./init.ts";
import { loginCommand } from "./login.ts";
import { logoutCommand } from "./logout.ts";
import { netcheckCommand } from "./netcheck.ts";
import { ncCommand } from "./nc.ts";
import { exposeCommand } from "./expose.ts";
import { proxyCommand } from "./proxy.ts";
import { pingCommand } from "./ping.ts";
import { serviceCommand } from "./service.ts";
import { statusCommand } from "./status.ts";
import { versionCommand } from "./version.ts";
import { workCommand } from "./work.ts";

/** Every command, in the order help lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  initCommand,
  loginCommand,
  logoutCommand,
  statusCommand,
  pingCommand,
  ncCommand,
  exposeCommand,
  proxyCommand,
  netcheckCommand,
  workCommand,
  serviceCommand,
  versionCommand,
  helpCommand,
];
