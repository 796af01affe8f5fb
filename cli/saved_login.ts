/**
 * Connecting with the saved identity only, for commands that must never turn
 * into an interactive login (`status`, `netcheck`): when Nexus asks for a new
 * login instead, the connect is aborted with NOT_LOGGED_IN.
 *
 * @module
 */
import type { ConnectOptions, ConnectResult } from "../network/mod.ts";
import type { CommandContext } from "./command.ts";
import { CommandError } from "./errors.ts";
import { ExitCode } from "./exit_codes.ts";

/**
 * Connects from the saved state in `stateDir`; an auth URL from Nexus aborts
 * `controller` (and so the connect) with a NOT_LOGGED_IN {@link CommandError}.
 */
export function connectWithSavedLogin(
  ctx: CommandContext,
  nexus: string,
  stateDir: string,
  controller: AbortController,
  options: Pick<ConnectOptions, "caCerts" | "proxy">,
): Promise<ConnectResult> {
  return ctx.deps.network.connect(nexus, "", stateDir, {
    ...options,
    signal: controller.signal,
    allowInteractive: false,
    onAuthURL: () =>
      controller.abort(
        new CommandError(
          "the saved login is no longer accepted: Nexus asks for a new login",
          ExitCode.NOT_LOGGED_IN,
          "Run `citadel login` to log in again.",
        ),
      ),
  });
}
