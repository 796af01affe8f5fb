/**
 * The `citadel` command. The commands are in commands/ and the dispatcher in
 * cli/dispatch.ts; this file only hands the arguments and the command table
 * to the dispatcher and exits with the code it returns.
 *
 * @module
 */
import { runCli } from "./cli/dispatch.ts";
import { COMMANDS } from "./commands/mod.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args, COMMANDS));
}
