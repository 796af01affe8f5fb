/**
 * Ctrl-C handling for commands that wait on the network (`init`, `login`,
 * `status`): the first SIGINT/SIGTERM aborts the operation, which then
 * unwinds and disconnects; a second one gives up on unwinding and exits at
 * once with {@link ExitCode.INTERRUPTED}. (`work` has its own rules: a signal
 * is its normal way to stop.)
 *
 * @module
 */
import type { CommandContext } from "./command.ts";
import { ExitCode } from "./exit_codes.ts";

/** The reason an operation is aborted with on the first signal. */
export function interruptReason(): DOMException {
  return new DOMException("interrupted", "AbortError");
}

/**
 * Runs `operation` with an AbortSignal that the first termination signal
 * aborts. Resolves with its result, or with {@link ExitCode.INTERRUPTED} as
 * soon as a second signal arrives.
 */
export async function runInterruptible(
  ctx: CommandContext,
  operation: (signal: AbortSignal) => Promise<number>,
): Promise<number> {
  const controller = new AbortController();
  let forceExit: (code: number) => void = () => {};
  const forced = new Promise<number>((resolve) => forceExit = resolve);
  let count = 0;
  const unsubscribe = ctx.io.signals.subscribe(() => {
    count += 1;
    if (count === 1) {
      ctx.out.info("");
      ctx.out.info("Interrupted; stopping (press Ctrl-C again to quit at once).");
      controller.abort(interruptReason());
    } else {
      forceExit(ExitCode.INTERRUPTED);
    }
  });
  try {
    return await Promise.race([operation(controller.signal), forced]);
  } finally {
    unsubscribe();
  }
}
