/**
 * The shape every command file in commands/ exports: its name, help text,
 * options and `run` function. cli/dispatch.ts parses the command line
 * against these specs with `node:util` parseArgs, and cli/help_text.ts
 * renders help from them, so a command's help text lives in the command's
 * own file.
 *
 * @module
 */
import type { CliIO } from "./cli_io.ts";
import type { CliDependencies } from "./dependencies.ts";
import type { Output } from "./output.ts";
import type { KeptPermissions } from "./permissions.ts";

/** One command-specific option. */
export interface OptionSpec {
  /** parseArgs type. */
  type: "string" | "boolean";
  /** Single-letter alias. */
  short?: string;
  /** Placeholder shown in help for string options, e.g. "KEY". */
  valueName?: string;
  /** The option may be given more than once; its value is then a `string[]`. */
  multiple?: boolean;
  /** One-line description for help. */
  description: string;
}

/** A positional argument, for help. */
export interface PositionalSpec {
  /** Placeholder, e.g. "COMMAND". */
  name: string;
  /** One-line description. */
  description: string;
}

/** The global options after resolution. */
export interface GlobalOptions {
  /** The Nexus URL from --nexus or CITADEL_NEXUS, else null (use the saved or default one). */
  nexusOverride: string | null;
  /** The state directory from --state-dir, else null (CITADEL_STATE_DIR or the default). */
  stateDirFlag: string | null;
  /** --json was given (only accepted by commands whose output is data). */
  json: boolean;
  /** --verbose was given. */
  verbose: boolean;
  /** --no-color was given. */
  noColor: boolean;
}

/** What a command's `run` receives. */
export interface CommandContext {
  /** Injected I/O. */
  io: CliIO;
  /** Where to print. */
  out: Output;
  /** Network and other dependencies. */
  deps: CliDependencies;
  /** Global options. */
  global: GlobalOptions;
  /** Values of the command's own options, by long name. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** Positional arguments. */
  positionals: string[];
  /** Facts that make error hints specific; commands fill them in as they learn them. */
  errorContext: { nexus?: string };
  /** The command table this run dispatched from (what `help` describes). */
  commands: readonly CommandSpec[];
}

/** What a command's permission rule is given: its parsed options and the environment. */
export interface PermissionInvocation {
  /** Values of the command's own options, by long name. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Reads an environment variable (before any is revoked). */
  env(name: string): string | undefined;
}

/** A `citadel` command. */
export interface CommandSpec {
  /** The word on the command line. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The paragraphs after the usage line in `citadel <name> --help`. */
  description: string;
  /** Command-specific options, by long name. */
  options: Record<string, OptionSpec>;
  /** Positional arguments it takes (none when absent). */
  positionals?: PositionalSpec[];
  /** Whether `--json` applies (the output is data). */
  json: boolean;
  /**
   * The Deno permissions the command keeps once started: the dispatcher
   * revokes every other one before `run` (cli/permissions.ts). Fixed, or
   * chosen from the parsed options and the environment. README.md's table
   * lists them with the reason for each.
   */
  permissions: KeptPermissions | ((invocation: PermissionInvocation) => KeptPermissions);
  /** Runs the command and returns its exit code; thrown errors go through cli/errors.ts. */
  run(ctx: CommandContext): Promise<number>;
}
