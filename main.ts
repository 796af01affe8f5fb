/**
 * The `citadel` command. Everything happens in commands/; this file only hands
 * over the arguments and exits with the code the command returns.
 *
 * @module
 */
import { runCli } from "./cli/dispatch.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
