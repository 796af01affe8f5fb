/**
 * Ctrl-C handling for commands that wait on the network (`init`, `login`,
 * `status`): the first SIGINT/SIGTERM aborts the operation, which then
 * unwinds and disconnects; a second one gives up on unwinding and exits at
 * once with {@link ExitCode.INTERRUPTED}. (`work` has its own rules: a signal
 * is its normal way to stop.) Their waits also have a deadline
 * ({@link withDeadline}), which aborts them the same way.
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

/**
 * Runs `operation` with a controller that aborts when `interrupt` does (with
 * its reason) or after `timeoutMs` (with `timedOut()`); the operation may
 * abort it too, with a reason of its own. Whatever the operation throws once
 * the controller is aborted is replaced by the abort's reason: that, not the
 * cancelled call's own error, says what happened.
 */
export async function withDeadline<T>(
  ctx: CommandContext,
  interrupt: AbortSignal,
  timeoutMs: number,
  timedOut: () => unknown,
  operation: (controller: AbortController) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const timer = ctx.io.clock.setTimeout(() => controller.abort(timedOut()), timeoutMs);
  const onInterrupt = () => controller.abort(interrupt.reason);
  interrupt.addEventListener("abort", onInterrupt, { once: true });
  if (interrupt.aborted) onInterrupt();
  try {
    return await operation(controller);
  } catch (e) {
    throw controller.signal.aborted ? controller.signal.reason : e;
  } finally {
    ctx.io.clock.clearTimeout(timer);
    interrupt.removeEventListener("abort", onInterrupt);
  }
}
