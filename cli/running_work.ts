/**
 * One node key, one session: while a `citadel work` holds a state
 * directory, no other command may connect to Nexus from that state. A
 * second session would register its own disco key at Nexus in place of the
 * worker's, and peers would then seal their disco pings to a key no running
 * process holds (they got no pongs for 30 s and more: the bug behind
 * issue 6's first point). Commands that would connect ask the worker's
 * local API instead, wait a moment for a worker that is still starting,
 * and otherwise refuse.
 *
 * @module
 */
import type { LocalStatusBody } from "../localapi/mod.ts";
import { inspectInstanceLock, instanceLockPath } from "../state/mod.ts";
import { localApiSocketPath, localApiSupported, queryLocalStatus } from "../localapi/mod.ts";
import type { CommandContext } from "./command.ts";
import { CommandError } from "./errors.ts";
import { ExitCode } from "./exit_codes.ts";

/** How long a command waits for a worker that holds the lock but does not answer yet. */
export const STARTING_WORK_WAIT_MS = 3_000;
const POLL_MS = 100;

/**
 * The running worker's status; null when no worker holds `stateDir` (the
 * caller may then connect itself). A worker that holds it but does not
 * answer within {@link STARTING_WORK_WAIT_MS} (starting, or waiting for
 * Nexus) is an error: connecting beside it would steal its disco key.
 */
export async function statusOfRunningWork(
  ctx: CommandContext,
  stateDir: string,
): Promise<LocalStatusBody | null> {
  const ask = () =>
    localApiSupported() ? queryLocalStatus(localApiSocketPath(stateDir)) : Promise.resolve(null);
  const first = await ask();
  if (first) return first;
  const lock = await inspectInstanceLock(stateDir);
  if (!lock.held) return null;
  const deadline = ctx.io.clock.monotonic() + STARTING_WORK_WAIT_MS;
  while (ctx.io.clock.monotonic() < deadline) {
    await ctx.io.clock.sleep(POLL_MS);
    const answer = await ask();
    if (answer) return answer;
    if (!(await inspectInstanceLock(stateDir)).held) return null;
  }
  throw workStarting(stateDir, lock.holder?.pid);
}

/**
 * Refuses to go on while a `citadel work` holds `stateDir`: the running
 * node already is this node, connected.
 */
export async function refuseWhileWorkRuns(stateDir: string, what: string): Promise<void> {
  const lock = await inspectInstanceLock(stateDir);
  if (!lock.held) return;
  const pid = lock.holder?.pid;
  throw new CommandError(
    `${what} would connect a second time with this node's key, and citadel work${
      pid ? ` (pid ${pid})` : ""
    } runs on this state directory`,
    ExitCode.ALREADY_RUNNING,
    "The running work already is this node; use `citadel status`, or stop work first.",
  );
}

function workStarting(stateDir: string, pid: number | undefined): CommandError {
  return new CommandError(
    `citadel work${pid ? ` (pid ${pid})` : ""} holds ${
      instanceLockPath(stateDir)
    } but does not answer yet (starting, or waiting for Nexus)`,
    ExitCode.ALREADY_RUNNING,
    "Ask again in a moment; the work log says what it is waiting for.",
  );
}
