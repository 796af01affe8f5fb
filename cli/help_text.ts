/**
 * The help text renderer, and the global options it lists. Each command's own
 * text lives in its file in commands/ (its {@link CommandSpec}); this file
 * only lays it out, so `citadel help X` (commands/help.ts) and
 * `citadel X --help` (cli/dispatch.ts) print the same thing.
 *
 * Decision on the Go original's hidden commands (§1.1: `init`, `login`,
 * `logout` and `work` worked but were left out of `--help`): every command is
 * listed.
 *
 * @module
 */
import type { CommandSpec, OptionSpec } from "./command.ts";
import { NEXUS_ENV, NO_COLOR_ENV, STATE_DIR_ENV } from "./env.ts";
import type { Painter } from "./output.ts";

/** The global options, as parseArgs config plus help text. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  nexus: {
    type: "string",
    valueName: "URL",
    description: `Nexus URL (env ${NEXUS_ENV}; default: the node's own, else the AceTeam Nexus)`,
  },
  "state-dir": {
    type: "string",
    valueName: "DIR",
    description: `State directory (env ${STATE_DIR_ENV}; default ~/.citadel-node/network)`,
  },
  verbose: { type: "boolean", description: "Print debug detail (and stack traces) on stderr" },
  "no-color": {
    type: "boolean",
    description: `No colours in output (also when ${NO_COLOR_ENV} is set)`,
  },
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
