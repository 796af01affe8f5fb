/**
 * Interop helpers for the job loop: the loop in a child process
 * (`worker_driver.ts`), its events read back from its log, and jobs put on a
 * real redis-server with `redis-cli`.
 *
 * @module
 */
import { REPO_ROOT } from "./peers.ts";
import { type ManagedProcess, readLogTail, spawnLogged, waitFor } from "./process.ts";

/** A worker child process. */
export interface WorkerProcess {
  /** The process (its log holds one JSON event per line). */
  readonly process: ManagedProcess;
  /** Events printed so far. */
  events(): Record<string, unknown>[];
  /** Waits until `count` events match `predicate`; resolves with them. */
  waitForEvents(
    what: string,
    predicate: (e: Record<string, unknown>) => boolean,
    count?: number,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>[]>;
}

/** Starts the driver with the given options (see `worker_driver.ts`). */
export function startWorker(
  name: string,
  logPath: string,
  options: Record<string, unknown>,
): WorkerProcess {
  const proc = spawnLogged({
    name,
    cmd: Deno.execPath(),
    args: [
      "run",
      "--quiet",
      "--allow-all",
      `${REPO_ROOT}/tests/interop/worker_driver.ts`,
      JSON.stringify(options),
    ],
    logPath,
  });
  const events = () => {
    const out: Record<string, unknown>[] = [];
    for (const l of Deno.readTextFileSync(logPath).split("\n")) {
      if (!l.startsWith("{")) continue;
      try {
        out.push(JSON.parse(l));
      } catch {
        // A line cut by a kill.
      }
    }
    return out;
  };
  return {
    process: proc,
    events,
    waitForEvents: (what, predicate, count = 1, timeoutMs = 30_000) =>
      waitFor(what, () => {
        const found = events().filter(predicate);
        return found.length >= count ? found : undefined;
      }, { timeoutMs, intervalMs: 50, process: proc }).catch((e) => {
        throw new Error(`${(e as Error).message}\n--- ${logPath} ---\n${readLogTail(logPath, 30)}`);
      }),
  };
}
