/**
 * `citadel work --env-file FILE`: the `CITADEL_*` settings read from a file
 * (the format of service/env_file.ts), for service managers that cannot set a
 * service's environment without writing it into their own, readable,
 * definition (launchd, the Windows task scheduler). The file may hold the auth
 * key, so on Unix it must not be readable by group or others (as ssh treats
 * its keys). A variable set (non-empty) in the real environment wins over the file, and
 * `--nexus`/`--state-dir` win over both. Only `CITADEL_*` names the CLI
 * knows are accepted: a typo fails loudly instead of being ignored.
 *
 * @module
 */
import { EnvFileError, parseEnvFile } from "../service/mod.ts";
import type { CliIO } from "./cli_io.ts";
import type { CommandContext } from "./command.ts";
import { CITADEL_ENV_NAMES, NEXUS_ENV } from "./env.ts";
import { UsageError } from "./errors.ts";
import { nexusURLOption } from "./node_target.ts";

/** Reads and checks the file; its variables by name. */
export async function readCitadelEnvFile(path: string): Promise<Map<string, string>> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (Deno.build.os !== "windows" && info.mode !== null && (info.mode & 0o077) !== 0) {
      throw new UsageError(
        `refusing to read ${path}: others can read it (mode ${(info.mode & 0o777).toString(8)})`,
        `It may hold secrets; run: chmod 600 ${path}`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read --env-file ${path}: ${(e as Error).message}`);
  }
  let vars: Map<string, string>;
  try {
    vars = parseEnvFile(text, path);
  } catch (e) {
    if (e instanceof EnvFileError) throw new UsageError(e.message);
    throw e;
  }
  for (const name of vars.keys()) {
    if (!CITADEL_ENV_NAMES.includes(name)) {
      throw new UsageError(
        `${path}: ${name} is not a variable citadel reads`,
        `Allowed: ${CITADEL_ENV_NAMES.join(", ")}.`,
      );
    }
  }
  return vars;
}

/**
 * The command context with the file's variables filled in under the real
 * environment (the I/O object is wrapped, not copied: its methods may use
 * private state).
 */
export async function withEnvFile(ctx: CommandContext, path: string): Promise<CommandContext> {
  const vars = await readCitadelEnvFile(path);
  const base = ctx.io;
  const io: CliIO = {
    get stdout() {
      return base.stdout;
    },
    get stderr() {
      return base.stderr;
    },
    get isTTY() {
      return base.isTTY;
    },
    get signals() {
      return base.signals;
    },
    get clock() {
      return base.clock;
    },
    get process() {
      return base.process;
    },
    get stdio() {
      return base.stdio;
    },
    env: (name) => base.env(name) || vars.get(name),
    readLine: () => base.readLine(),
  };
  const fileNexus = base.env(NEXUS_ENV) ? undefined : vars.get(NEXUS_ENV);
  const nexusOverride = ctx.global.nexusOverride ??
    (fileNexus ? nexusURLOption(fileNexus, `${NEXUS_ENV} in ${path}`) : null);
  return { ...ctx, io, global: { ...ctx.global, nexusOverride } };
}
