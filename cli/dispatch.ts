/**
 * The `citadel` command line: finds the command in the table it is given
 * (main.ts passes commands/mod.ts's `COMMANDS`; cli/ never imports
 * commands/), parses its options with
 * `node:util` parseArgs (strict: an unknown option or a missing value is an
 * error), revokes every Deno permission the command does not keep (its
 * `permissions`, see permissions.ts) before it runs, runs it, and turns
 * whatever it throws into one line, a hint and an exit code (errors.ts). It
 * also installs the process-level handler that logs and counts unhandled
 * promise rejections (rejection_guard.ts) instead of letting one end the
 * process. Nothing here prints a stack trace unless
 * `--verbose` is given.
 *
 * Decisions on the Go original (§1.1): an unknown command or option exits
 * USAGE (2), not 1; `citadel` with no arguments prints help and exits OK
 * (there is no interactive control centre); every command is listed in
 * help; `--debug` is called `--verbose` and never writes a log file; the
 * hidden `--auth-service`, the dead `--config`, `--runtime`, `--no-mouse`
 * and `--no-auto-update` do not exist. `CITADEL_NEXUS` sets the Nexus URL
 * (the Go original had no variable for it).
 *
 * "Terminal" (§1.2: the Go original asked only whether stdout was one) is
 * decided per stream: colour on the stream being written, the spinner when
 * stderr is a terminal, prompts only when stdin is one.
 *
 * Quirk §8.7 (`ping` always exited 0; `nodes --json` printed a header first):
 * those commands do not exist yet; every command here exits non-zero on
 * failure, and `--json` output is JSON only, with messages on stderr.
 * Quirk §8.10 (tsnet's log upload stayed on): Citadel sends logs nowhere and
 * writes no log files; `--verbose` detail goes to stderr only.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type CliIO, denoCliIO } from "./cli_io.ts";
import type {
  CommandContext,
  CommandSpec,
  GlobalOptions,
  OptionSpec,
  PermissionInvocation,
} from "./command.ts";
import { type CliDependencies, defaultDependencies } from "./dependencies.ts";
import { AUTHKEY_ENV, NEXUS_ENV } from "./env.ts";
import { describeError, UsageError } from "./errors.ts";
import { ExitCode } from "./exit_codes.ts";
import { GLOBAL_OPTIONS, JSON_OPTION, renderCommandHelp, renderMainHelp } from "./help_text.ts";
import { nexusURLOption } from "./node_target.ts";
import { Output } from "./output.ts";

type ParseOptions = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean }
>;

function parseConfig(options: Record<string, OptionSpec>): ParseOptions {
  const config: ParseOptions = {};
  for (const [name, spec] of Object.entries(options)) {
    config[name] = { type: spec.type };
    if (spec.short) config[name].short = spec.short;
    if (spec.multiple) config[name].multiple = true;
  }
  return config;
}

/** Options of all commands at once, to find the command word in a lenient first pass. */
function allOptions(commands: readonly CommandSpec[]): ParseOptions {
  const merged: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS, json: JSON_OPTION };
  for (const command of commands) Object.assign(merged, command.options);
  return { ...parseConfig(merged), version: { type: "boolean" } };
}

interface Located {
  /** The command word's index in args, or -1. */
  index: number;
  /** Values of string options seen anywhere, for redaction before strict parsing. */
  strings: string[];
  /** --no-color / --verbose as seen by the lenient pass, for errors before the strict one. */
  noColor: boolean;
  verbose: boolean;
}

function locateCommand(args: string[], commands: readonly CommandSpec[]): Located {
  const located: Located = { index: -1, strings: [], noColor: false, verbose: false };
  const { tokens } = parseArgs({
    args,
    options: allOptions(commands),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind === "positional" && located.index === -1) located.index = token.index;
    if (token.kind === "option") {
      if (typeof token.value === "string") located.strings.push(token.value);
      if (token.name === "no-color") located.noColor = true;
      if (token.name === "verbose") located.verbose = true;
    }
  }
  return located;
}

/** parseArgs's own errors, made one line; they all mean "usage". */
function usageFromParseError(error: unknown, hint: string): UsageError | null {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS")) return null;
  const message = (error as Error).message.split("\n")[0]
    .replace(/\. This command does not take positional arguments$/, "")
    .replace(/^Option '(--[\w-]+) <value>' argument missing$/, "option '$1' needs a value")
    .replace(/^Option '(--[\w-]+)' argument is ambiguous\.$/, "option '$1' needs a value");
  return new UsageError(message, hint);
}

function globalsFrom(
  values: Record<string, string | boolean | string[] | undefined>,
  io: CliIO,
): GlobalOptions {
  const nexusFlag = values.nexus as string | undefined;
  const nexusEnv = io.env(NEXUS_ENV) || undefined;
  const nexusOverride = nexusFlag !== undefined
    ? nexusURLOption(nexusFlag, "--nexus")
    : nexusEnv !== undefined
    ? nexusURLOption(nexusEnv, NEXUS_ENV)
    : null;
  return {
    nexusOverride,
    stateDirFlag: (values["state-dir"] as string | undefined) || null,
    json: values.json === true,
    verbose: values.verbose === true,
    noColor: values["no-color"] === true,
  };
}

function printError(
  out: Output,
  error: unknown,
  globals: Partial<GlobalOptions>,
  errorContext: { nexus?: string },
): number {
  const described = describeError(error, {
    nexus: errorContext.nexus ?? globals.nexusOverride ?? undefined,
    verbose: globals.verbose,
  });
  out.writeStderr(`${out.stderrPaint.paint("citadel:", "red", "bold")} ${described.message}\n`);
  if (described.hint) out.writeStderr(`${out.stderrPaint.paint(described.hint, "dim")}\n`);
  if (described.detail) out.writeStderr(`${described.detail}\n`);
  return described.exitCode;
}

/** Revokes every permission `spec` does not keep for these option values. */
function shed(
  io: CliIO,
  spec: CommandSpec,
  values: PermissionInvocation["values"],
): void {
  const keep = typeof spec.permissions === "function"
    ? spec.permissions({ values, env: (name) => io.env(name) })
    : spec.permissions;
  io.process.shedPermissions(keep);
}

/**
 * Runs `citadel` with `args` (without the program name) and returns the exit
 * code. Never throws and never exits the process.
 *
 * `commands` is every command, in the order help lists them; `--version`
 * runs the one named `version` (without one, it prints the help).
 *
 * @example
 * ```ts
 * import { COMMANDS } from "../commands/mod.ts";
 * Deno.exit(await runCli(Deno.args, COMMANDS));
 * ```
 */
export async function runCli(
  args: string[],
  commands: readonly CommandSpec[],
  io: CliIO = denoCliIO(),
  deps: CliDependencies = defaultDependencies,
): Promise<number> {
  const located = locateCommand(args, commands);
  // Settings good enough to report errors until the strict parse has run.
  let out = new Output(io, { noColor: located.noColor, verbose: located.verbose });
  let globals: Partial<GlobalOptions> = { verbose: located.verbose };
  const secrets = [io.env(AUTHKEY_ENV) ?? ""];
  // Every option value might be a key typed in the wrong place; only the
  // --authkey value is known to be one, but redacting more is harmless.
  const authKeyIndex = args.findIndex((a) => a === "--authkey" || a.startsWith("--authkey="));
  if (authKeyIndex !== -1) {
    const arg = args[authKeyIndex];
    secrets.push(
      arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[authKeyIndex + 1] ?? "",
    );
  }
  const addSecrets = (o: Output) => secrets.forEach((s) => o.addSecret(s));
  const errorContext: { nexus?: string } = {};
  addSecrets(out);
  // A rejection nobody handled is a bug: say so (through the current Output,
  // which redacts secrets) and go on, rather than end the process.
  io.process.guardRejections((line) =>
    out.writeStderr(`${out.stderrPaint.paint("citadel:", "red", "bold")} ${line}\n`)
  );

  try {
    if (located.index === -1) {
      const topLevel: ParseOptions = {
        ...parseConfig(GLOBAL_OPTIONS),
        version: { type: "boolean" },
      };
      let values;
      try {
        ({ values } = parseArgs({
          args,
          options: topLevel,
          strict: true,
          allowPositionals: false,
        }));
      } catch (e) {
        throw usageFromParseError(e, "Run 'citadel --help' for usage.") ?? e;
      }
      globals = globalsFrom(values as CommandContext["values"], io);
      out = new Output(io, {
        noColor: globals.noColor ?? false,
        verbose: globals.verbose ?? false,
      });
      addSecrets(out);
      const version = commands.find((c) => c.name === "version");
      if (values.version === true && values.help !== true && version) {
        shed(io, version, {});
        const global = globals as GlobalOptions;
        return await version.run(
          { io, out, deps, global, values: {}, positionals: [], errorContext, commands },
        );
      }
      io.process.shedPermissions({}); // Help needs nothing.
      out.writeStdout(renderMainHelp(commands, out.stdoutPaint));
      return ExitCode.OK;
    }

    const name = args[located.index];
    const spec = commands.find((c) => c.name === name);
    if (!spec) throw new UsageError(`unknown command '${name}'`);
    const rest = [...args.slice(0, located.index), ...args.slice(located.index + 1)];
    const options: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS, ...spec.options };
    if (spec.json) options.json = JSON_OPTION;
    const hint = `Run 'citadel ${spec.name} --help' for usage.`;
    let parsed;
    try {
      parsed = parseArgs({
        args: rest,
        options: parseConfig(options),
        strict: true,
        allowPositionals: (spec.positionals?.length ?? 0) > 0,
      });
    } catch (e) {
      throw usageFromParseError(e, hint) ?? e;
    }
    const maxPositionals = spec.positionals?.length ?? 0;
    if (parsed.positionals.length > maxPositionals) {
      throw new UsageError(`unexpected argument '${parsed.positionals[maxPositionals]}'`, hint);
    }
    // Only string options are ever `multiple`, so an array holds strings.
    const values = parsed.values as CommandContext["values"];
    globals = globalsFrom(values, io);
    out = new Output(io, { noColor: globals.noColor ?? false, verbose: globals.verbose ?? false });
    addSecrets(out);
    if (parsed.values.help === true) {
      io.process.shedPermissions({});
      out.writeStdout(renderCommandHelp(spec, out.stdoutPaint));
      return ExitCode.OK;
    }
    // Before the command touches the network or any input.
    shed(io, spec, parsed.values);
    return await spec.run({
      io,
      out,
      deps,
      global: globals as GlobalOptions,
      values,
      positionals: parsed.positionals,
      errorContext,
      commands,
    });
  } catch (error) {
    return printError(out, error, globals, errorContext);
  }
}
