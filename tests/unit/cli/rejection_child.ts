/**
 * A real `citadel status --json` process in which something forgets to
 * handle a rejected promise: the `status` command is wrapped to reject one
 * promise nobody handles, let the event loop turn, then run the real status.
 * With the guard (runCli installs it) the process lives and reports the
 * count; argument `--no-guard` skips runCli's guard to show the same
 * rejection would end the process.
 */
import { denoCliIO } from "../../../cli/cli_io.ts";
import { runCli } from "../../../cli/dispatch.ts";
import { COMMANDS } from "../../../commands/mod.ts";

const noGuard = Deno.args[0] === "--no-guard";
const args = noGuard ? Deno.args.slice(1) : Deno.args;
const io = denoCliIO();
if (noGuard) io.process.guardRejections = () => {};
const commands = COMMANDS.map((spec) =>
  spec.name !== "status" ? spec : {
    ...spec,
    async run(ctx: Parameters<typeof spec.run>[0]) {
      Promise.reject(new Error("provoked: nobody handles this"));
      await new Promise((resolve) => setTimeout(resolve, 50));
      return await spec.run(ctx);
    },
  }
);
Deno.exit(await runCli(args, commands, io));
