/**
 * One fuzz target in a worker, so that the main thread can watch it: the
 * iteration about to run is written to a shared counter before each input,
 * and a worker that stops advancing (a hang) or a process whose memory
 * passes the bound is terminated from outside, its input made again from
 * (seed, target, iteration).
 */
import { type FuzzLoopResult, type FuzzTarget, fuzzTarget } from "./fuzz_target.ts";

/** Inputs fed between two turns of the event loop. */
const BATCH = 256;

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
  /** Shared counters: `[0]` is the iteration being fed; `[1]` set asks the worker to stop. */
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
  // In batches, yielding to the event loop between them as a real stream's
  // reads do: the runtime finishes closing things (zlib engines) on later ticks.
  const deadline = job.seconds === undefined ? undefined : performance.now() + job.seconds * 1000;
  const result: FuzzLoopResult = { iterations: 0, accepted: 0, crash: null };
  while (result.crash === null) {
    const left = job.iterations === undefined
      ? BATCH
      : Math.min(BATCH, job.iterations - result.iterations);
    if (left <= 0 || (deadline !== undefined && performance.now() > deadline)) break;
    const batch = fuzzTarget(target, instance, {
      seed: job.seed,
      from: result.iterations,
      iterations: left,
      deadline,
      onIteration: (i) => {
        if (Atomics.load(progress, 1) !== 0) throw new Error("stopped by the watchdog");
        Atomics.store(progress, 0, i);
      },
    });
    result.iterations += batch.iterations;
    result.accepted += batch.accepted;
    result.crash = batch.crash;
    if (batch.iterations < left && batch.crash === null) break;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  scope.postMessage(result);
};
