/**
 * `citadel help [COMMAND]` and the help text renderer. Each command's own
 * text lives in its file (its {@link CommandSpec}); this file only lays it
 * out, so `citadel help X` and `citadel X --help` print the same thing.
 *
 * Decision on the Go original's hidden commands (§1.1: `init`, `login`,
 * `logout` and `work` worked but were left out of `--help`): every command is
 * listed.
 *
 * @module
 */
import type { CommandContext, CommandSpec, OptionSpec } from "./command.ts";
import { UsageError } from "./errors.ts";
import { ExitCode } from "./exit_codes.ts";
import type { Painter } from "./output.ts";

/** The global options, as parseArgs config plus help text. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  nexus: {
    type: "string",
    valueName: "URL",
    description: "Nexus URL (env CITADEL_NEXUS; default: the node's own, else the AceTeam Nexus)",
  },
  "state-dir": {
    type: "string",
    valueName: "DIR",
    description: "State directory (env CITADEL_STATE_DIR; default ~/.citadel-node/network)",
  },
  verbose: { type: "boolean", description: "Print debug detail (and stack traces) on stderr" },
  "no-color": { type: "boolean", description: "No colours in output (also when NO_COLOR is set)" },
  help: { type: "boolean", short: "h", description: "Show help" },
};

/** `--json`, accepted by the commands whose output is data. */
export const JSON_OPTION: OptionSpec = {
  type: "boolean",
  description: "Print the result as one line of JSON on stdout",
};

function optionLabel(name: string, spec: OptionSpec): string {
  const long = `--${name}${spec.type === "string" ? ` ${spec.valueName ?? "VALUE"}` : ""}`;
  return spec.short ? `-${spec.short}, ${long}` : `    ${long}`;
}

function optionRows(options: Record<string, OptionSpec>): Array<[string, string]> {
  return Object.entries(options).map(([name, spec]) => [optionLabel(name, spec), spec.description]);
}

function table(rows: Array<[string, string]>, paint: Painter): string {
  const width = Math.max(0, ...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${paint.paint(left.padEnd(width), "bold")}  ${right}`)
    .join("\n");
}

/** The top-level help: commands and global options. */
export function renderMainHelp(commands: readonly CommandSpec[], paint: Painter): string {
  const commandRows = commands.map((c): [string, string] => [c.name, c.summary]);
  return [
    "citadel: joins this machine to the AceTeam Network and runs work on it.",
    "",
    `${paint.paint("Usage:", "bold")} citadel <command> [options]`,
    "",
    paint.paint("Commands:", "bold"),
    table(commandRows, paint),
    "",
    paint.paint("Global options (accepted by every command):", "bold"),
    table([...optionRows(GLOBAL_OPTIONS), ["    --version", "Same as 'citadel version'"]], paint),
    "",
    "Run 'citadel help <command>' or 'citadel <command> --help' for a command's options.",
    "",
  ].join("\n");
}

/** The help of one command. */
export function renderCommandHelp(spec: CommandSpec, paint: Painter): string {
  const positionals = (spec.positionals ?? []).map((p) => ` [${p.name}]`).join("");
  const own: Record<string, OptionSpec> = { ...spec.options };
  if (spec.json) own.json = JSON_OPTION;
  const lines = [
    `${paint.paint("Usage:", "bold")} citadel ${spec.name}${positionals} [options]`,
    "",
    spec.description.trim(),
    "",
  ];
  if (spec.positionals?.length) {
    lines.push(paint.paint("Arguments:", "bold"));
    lines.push(table(spec.positionals.map((p) => [p.name, p.description]), paint), "");
  }
  if (Object.keys(own).length > 0) {
    lines.push(paint.paint("Options:", "bold"), table(optionRows(own), paint), "");
  }
  lines.push(paint.paint("Global options:", "bold"), table(optionRows(GLOBAL_OPTIONS), paint), "");
  return lines.join("\n");
}

/** Builds the `help` command over the given command list (which includes it). */
export function makeHelpCommand(commands: () => readonly CommandSpec[]): CommandSpec {
  return {
    name: "help",
    summary: "Show help for citadel or for one command",
    description: "Prints the command list, or with COMMAND that command's options.",
    options: {},
    positionals: [{ name: "COMMAND", description: "The command to describe" }],
    json: false,
    run(ctx: CommandContext): Promise<number> {
      const name = ctx.positionals[0];
      if (name === undefined) {
        ctx.out.writeStdout(renderMainHelp(commands(), ctx.out.stdoutPaint));
        return Promise.resolve(ExitCode.OK);
      }
      const spec = commands().find((c) => c.name === name);
      if (!spec) throw new UsageError(`unknown command '${name}'`);
      ctx.out.writeStdout(renderCommandHelp(spec, ctx.out.stdoutPaint));
      return Promise.resolve(ExitCode.OK);
    },
  };
}
