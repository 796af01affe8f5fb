/**
 * `citadel version`: this build's version, the Deno runtime under it, and the
 * platform. The version is the one in deno.json, the single place it is set.
 *
 * @module
 */
import denoConfig from "../deno.json" with { type: "json" };
import type { CommandContext, CommandSpec } from "../cli/command.ts";
import { ExitCode } from "../cli/exit_codes.ts";

/** This build's version. */
export const CITADEL_VERSION: string = denoConfig.version;

/** What `citadel version --json` prints. */
export interface VersionInfo {
  /** Citadel's version. */
  version: string;
  /** Deno's version. */
  deno: string;
  /** V8's version. */
  v8: string;
  /** TypeScript's version. */
  typescript: string;
  /** Operating system (`linux`, `darwin`, `windows`, …). */
  os: string;
  /** CPU architecture (`x86_64`, `aarch64`). */
  arch: string;
}

/** Collects {@link VersionInfo} for this process. */
export function versionInfo(): VersionInfo {
  return {
    version: CITADEL_VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    os: Deno.build.os,
    arch: Deno.build.arch,
  };
}

/** The `version` command. */
export const versionCommand: CommandSpec = {
  name: "version",
  summary: "Show the version of citadel, Deno and the platform",
  description: "Prints `citadel <version>`, the Deno runtime's version and the OS/architecture.",
  options: {},
  json: true,
  // Prints what the runtime knows already.
  permissions: {},
  run(ctx: CommandContext): Promise<number> {
    const info = versionInfo();
    if (ctx.global.json) {
      ctx.out.json(info);
    } else {
      ctx.out.line(`citadel ${info.version}`);
      ctx.out.line(`deno ${info.deno} (v8 ${info.v8}, typescript ${info.typescript})`);
      ctx.out.line(`${info.os}/${info.arch}`);
    }
    return Promise.resolve(ExitCode.OK);
  },
};
