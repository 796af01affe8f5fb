/**
 * What a fuzz target is, and the loop that feeds one: every input is made
 * from (seed, target, iteration) alone, so a crash report of those three
 * numbers (and the input's hex) reproduces it.
 */
import { FuzzRandom } from "./fuzz_random.ts";
import { mutateBytes } from "./mutate.ts";

/** An error class a parser is allowed to throw. */
// deno-lint-ignore no-explicit-any
export type ErrorClass = abstract new (...args: any[]) => Error;

/** A target, set up once per run: its samples and how to feed it one input. */
export interface FuzzInstance {
  /** Valid inputs taken from the unit tests' vectors, to mutate. */
  corpus: Uint8Array[];
  /** Feeds one input; throws only the target's own typed errors. `rng` splits chunks etc. */
  run(input: Uint8Array, rng: FuzzRandom): void;
  /** A structure-aware mutation instead of {@link mutateBytes} (e.g. of JSON). */
  mutate?(sample: Uint8Array, rng: FuzzRandom, corpus: readonly Uint8Array[]): Uint8Array;
}

/** One parser (or a family fed the same bytes) under fuzz. */
export interface FuzzTarget {
  /** Short name, used on the command line and in seeds. */
  name: string;
  /** What is fed and what may come out. */
  description: string;
  /** The typed errors the target may throw; anything else is a crash. */
  expected: readonly ErrorClass[];
  /** Longest input to make. */
  maxLength: number;
  /** Builds the samples and any state (keys, sessions) the target needs. */
  setup(): FuzzInstance;
}

/** An input that made a target throw something not its own, or hang, or use too much memory. */
export interface FuzzCrash {
  /** The target. */
  target: string;
  /** The run's seed. */
  seed: number;
  /** The iteration whose input it was. */
  iteration: number;
  /** What went wrong. */
  kind: "unexpected-error" | "hang" | "memory" | "slow";
  /** The error's name, message and stack, or what the watchdog saw. */
  detail: string;
  /** The input. */
  input: Uint8Array;
}

/** The input of one iteration, and the random stream that continues into `run`. */
export function makeInput(
  target: FuzzTarget,
  instance: FuzzInstance,
  seed: number,
  iteration: number,
): { input: Uint8Array; rng: FuzzRandom } {
  const rng = FuzzRandom.forIteration(seed, target.name, iteration);
  if (rng.oneIn(32) || instance.corpus.length === 0) {
    return { input: rng.bytes(rng.below(Math.min(target.maxLength, 512))), rng };
  }
  const sample = rng.pick(instance.corpus);
  const input = instance.mutate && !rng.oneIn(4)
    ? instance.mutate(sample, rng, instance.corpus)
    : mutateBytes(sample, rng, instance.corpus, target.maxLength);
  return { input: input.length > target.maxLength ? input.slice(0, target.maxLength) : input, rng };
}

/**
 * Runs one input: `accepted`, `refused` (one of the target's own errors),
 * or the error that is not.
 */
export function feedOne(
  target: FuzzTarget,
  instance: FuzzInstance,
  input: Uint8Array,
  rng: FuzzRandom,
): "accepted" | "refused" | Error {
  try {
    instance.run(input, rng);
    return "accepted";
  } catch (error) {
    if (target.expected.some((type) => error instanceof type)) return "refused";
    return error instanceof Error ? error : new Error(`threw ${String(error)}`);
  }
}

/** Options of {@link fuzzTarget}. */
export interface FuzzLoopOptions {
  /** Seed of the run. */
  seed: number;
  /** First iteration (default 0). */
  from?: number;
  /** Stop after this many iterations. */
  iterations?: number;
  /** Stop at this `performance.now()` time. */
  deadline?: number;
  /** One input taking longer than this is reported as `slow` (default 5 s). */
  slowMs?: number;
  /** Called before each iteration (the worker's progress counter). */
  onIteration?: (iteration: number) => void;
}

/** What a fuzz loop did. */
export interface FuzzLoopResult {
  /** Inputs fed. */
  iterations: number;
  /** Inputs the target took without an error (a target refusing everything fuzzes nothing). */
  accepted: number;
  /** The first crash, if any. */
  crash: FuzzCrash | null;
}

/** Fuzzes one target until the iterations or the deadline are used up, or a crash. */
export function fuzzTarget(
  target: FuzzTarget,
  instance: FuzzInstance,
  options: FuzzLoopOptions,
): FuzzLoopResult {
  const from = options.from ?? 0;
  const end = options.iterations === undefined ? Infinity : from + options.iterations;
  const slowMs = options.slowMs ?? 5_000;
  let accepted = 0;
  let i = from;
  for (; i < end; i++) {
    if (options.deadline !== undefined && (i & 15) === 0 && performance.now() > options.deadline) {
      break;
    }
    options.onIteration?.(i);
    const { input, rng } = makeInput(target, instance, options.seed, i);
    const start = performance.now();
    const outcome = feedOne(target, instance, input, rng);
    const ms = performance.now() - start;
    if (outcome === "accepted") accepted++;
    const error = outcome === "accepted" || outcome === "refused" ? undefined : outcome;
    if (error !== undefined) {
      return {
        iterations: i - from + 1,
        accepted,
        crash: {
          target: target.name,
          seed: options.seed,
          iteration: i,
          kind: "unexpected-error",
          detail: describe(error),
          input,
        },
      };
    }
    if (ms > slowMs) {
      return {
        iterations: i - from + 1,
        accepted,
        crash: {
          target: target.name,
          seed: options.seed,
          iteration: i,
          kind: "slow",
          detail: `one input took ${ms.toFixed(0)} ms`,
          input,
        },
      };
    }
  }
  return { iterations: i - from, accepted, crash: null };
}

/** An error's name, message and stack. */
export function describe(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

/** Splits `input` into 1 to 8 chunks at random points (as a stream delivers it). */
export function randomChunks(input: Uint8Array, rng: FuzzRandom): Uint8Array[] {
  const cuts = new Set<number>();
  const count = rng.below(8);
  for (let i = 0; i < count && input.length > 1; i++) cuts.add(1 + rng.below(input.length - 1));
  const sorted = [...cuts].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const cut of [...sorted, input.length]) {
    out.push(input.subarray(prev, cut));
    prev = cut;
  }
  return out;
}

/**
 * Runs every attempt, whatever the earlier ones threw (one parser's failure
 * must not hide another's crash). Throws the first error that is none of
 * `expected`; else returns when at least one attempt succeeded, and throws
 * the first expected error when none did (so the input counts as refused).
 */
export function runEach(attempts: Array<() => unknown>, expected: readonly ErrorClass[]): void {
  let unexpected: unknown;
  let refusal: unknown;
  let succeeded = false;
  for (const attempt of attempts) {
    try {
      attempt();
      succeeded = true;
    } catch (error) {
      if (expected.some((type) => error instanceof type)) refusal ??= error;
      else unexpected ??= error ?? new Error(`threw ${String(error)}`);
    }
  }
  if (unexpected !== undefined) throw unexpected;
  if (!succeeded && refusal !== undefined) throw refusal;
}

/** Bytes to hex. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
