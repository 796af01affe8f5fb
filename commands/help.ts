/**
 * `citadel help [COMMAND]`: the command list, or one command's help. It
 * describes the table the dispatcher ran it from (`ctx.commands`), laid out
 * by cli/help_text.ts exactly as `citadel COMMAND --help` is.
 *
 * @module
 */
import type { CommandContext, CommandSpec } from "../cli/command.ts";
import { UsageError } from "../cli/errors.ts";
import { ExitCode } from "../cli/exit_codes.ts";
import { renderCommandHelp, renderMainHelp } from "../cli/help_text.ts";

/** The `help` command. */
export const helpCommand: CommandSpec = {
  name: "help",
  summary: "Show help for citadel or for one command",
  description: "Prints the command list, or with COMMAND that command's options.",
  options: {},
  positionals: [{ name: "COMMAND", description: "The command to describe" }],
  json: false,
  permissions: {},
  run(ctx: CommandContext): Promise<number> {
    const name = ctx.positionals[0];
    if (name === undefined) {
      ctx.out.writeStdout(renderMainHelp(ctx.commands, ctx.out.stdoutPaint));
      return Promise.resolve(ExitCode.OK);
    }
    const spec = ctx.commands.find((c) => c.name === name);
    if (!spec) throw new UsageError(`unknown command '${name}'`);
    ctx.out.writeStdout(renderCommandHelp(spec, ctx.out.stdoutPaint));
    return Promise.resolve(ExitCode.OK);
  },
};
