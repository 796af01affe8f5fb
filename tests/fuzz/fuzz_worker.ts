/**
 * One fuzz target in a worker, so that the main thread can watch it: the
 * iteration about to run is written to a shared counter before each input,
 * and a worker that stops advancing (a hang) or a process whose memory
 * passes the bound is terminated from outside, its input made again from
 * (seed, target, iteration).
 */
import { type FuzzTarget, fuzzTarget } from "./fuzz_target.ts";

/** What the main thread asks. */
export interface FuzzJob {
  /** URL of the module whose `FUZZ_TARGETS` holds the target. */
  module: string;
  /** Target name. */
  target: string;
  /** Run seed. */
  seed: number;
  /** Inputs to feed, when bounded by count. */
  iterations?: number;
  /** Seconds to fuzz, when bounded by time. */
  seconds?: number;
  /** Shared counter: `[0]` is the iteration being fed. */
  progress: SharedArrayBuffer;
}

/** The worker's global scope, typed for what this file uses. */
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<FuzzJob>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = async (event: MessageEvent<FuzzJob>) => {
  const job = event.data;
  const progress = new Int32Array(job.progress);
  const { FUZZ_TARGETS } = await import(job.module) as { FUZZ_TARGETS: readonly FuzzTarget[] };
  const target = FUZZ_TARGETS.find((t) => t.name === job.target)!;
  const instance = target.setup();
  const result = fuzzTarget(target, instance, {
    seed: job.seed,
    iterations: job.iterations,
    deadline: job.seconds === undefined ? undefined : performance.now() + job.seconds * 1000,
    onIteration: (i) => Atomics.store(progress, 0, i),
  });
  scope.postMessage(result);
};
