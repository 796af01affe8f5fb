/**
 * `./dev fuzz`: feeds hostile bytes to every parser (tests/fuzz/targets*.ts),
 * each target in a worker watched for hangs and memory, and reports every
 * input that made a parser throw something other than its own typed error.
 *
 *   ./dev fuzz                            every target, 100,000 inputs each, a fresh seed
 *   ./dev fuzz --seconds 60               every target, 60 s each
 *   ./dev fuzz --seed 7 --target disco    one target, a given seed (--target repeats)
 *   ./dev fuzz --iterations 1000          a given number of inputs each
 *   ./dev fuzz --target T --seed S --replay I   feed iteration I again, in this thread
 *   ./dev fuzz --list                     the targets
 *
 * `--module URL` fuzzes the targets of another module (its `FUZZ_TARGETS`);
 * the harness's own test uses it with targets that hang, throw and allocate.
 * CITADEL_FUZZ_HANG_MS and CITADEL_FUZZ_MEMORY_MIB change the watchdog's limits.
 *
 * A crash prints the target, seed, iteration, the input in hex (inputs over
 * 8 KiB are also written to test-results/fuzz/), and the replay command.
 * Exit status: 0 when no target crashed, 1 otherwise, 2 for bad arguments.
 */
import { parseArgs } from "node:util";
import { residentBytes } from "../unit/process_memory.ts";
import {
  describe,
  feedOne,
  type FuzzCrash,
  type FuzzLoopResult,
  makeInput,
  toHex,
} from "./fuzz_target.ts";
import type { FuzzJob } from "./fuzz_worker.ts";
import type { FuzzTarget } from "./fuzz_target.ts";

const DEFAULT_ITERATIONS = 100_000;
/** A worker whose counter has not moved for this long is hung. */
const HANG_MS = Number(Deno.env.get("CITADEL_FUZZ_HANG_MS") ?? 15_000);
/** Growth of the process's resident memory during one target past which the running input is a crash. */
const MEMORY_LIMIT_BYTES = Number(Deno.env.get("CITADEL_FUZZ_MEMORY_MIB") ?? 1536) * 1024 * 1024;
const INLINE_HEX_BYTES = 8 * 1024;

function usage(message: string): never {
  console.error(`fuzz: ${message}`);
  console.error(
    "usage: ./dev fuzz [--target NAME]... [--seed S] [--iterations N | --seconds N] [--replay I] [--list]",
  );
  Deno.exit(2);
}

function positiveInteger(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) usage(`${name} must be a non-negative integer`);
  return value;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    target: { type: "string", multiple: true },
    seed: { type: "string" },
    iterations: { type: "string" },
    seconds: { type: "string" },
    replay: { type: "string" },
    list: { type: "boolean" },
    module: { type: "string" },
  },
  strict: true,
});

const moduleURL = values.module === undefined
  ? new URL("./targets.ts", import.meta.url).href
  : new URL(values.module, `file://${Deno.cwd()}/`).href;
const { FUZZ_TARGETS } = await import(moduleURL) as { FUZZ_TARGETS: readonly FuzzTarget[] };

function findTarget(name: string): FuzzTarget {
  const target = FUZZ_TARGETS.find((t) => t.name === name);
  if (!target) usage(`no target "${name}"; targets: ${FUZZ_TARGETS.map((t) => t.name).join(", ")}`);
  return target;
}

if (values.list) {
  for (const target of FUZZ_TARGETS) console.log(`${target.name.padEnd(20)} ${target.description}`);
  Deno.exit(0);
}

const seed = positiveInteger(values.seed, "--seed") ?? Math.floor(Math.random() * 2 ** 32);
const seconds = positiveInteger(values.seconds, "--seconds");
const iterations = seconds === undefined
  ? positiveInteger(values.iterations, "--iterations") ?? DEFAULT_ITERATIONS
  : positiveInteger(values.iterations, "--iterations");
const targets = values.target?.flatMap((t) => t.split(",")).map(findTarget) ?? [...FUZZ_TARGETS];

if (values.replay !== undefined) {
  if (targets.length !== 1 || values.seed === undefined) {
    usage("--replay needs one --target and --seed");
  }
  const iteration = positiveInteger(values.replay, "--replay")!;
  const target = targets[0];
  const instance = target.setup();
  const { input, rng } = makeInput(target, instance, seed, iteration);
  console.log(`${target.name} seed ${seed} iteration ${iteration}: ${input.length} bytes`);
  console.log(toHex(input));
  const outcome = feedOne(target, instance, input, rng);
  if (outcome instanceof Error) {
    console.log(`CRASH ${describe(outcome)}`);
    Deno.exit(1);
  }
  console.log(outcome === "accepted" ? "accepted" : "refused with the target's own error");
  Deno.exit(0);
}

function runInWorker(name: string): Promise<FuzzLoopResult & { ms: number }> {
  const started = performance.now();
  // Relative to now: a terminated worker's memory may not be returned yet.
  const rssAtStart = residentBytes();
  const progress = new SharedArrayBuffer(8);
  const counter = new Int32Array(progress);
  const worker = new Worker(new URL("./fuzz_worker.ts", import.meta.url).href, { type: "module" });
  return new Promise((resolve) => {
    let last = -1;
    let lastMove = performance.now();
    let done = false;
    const finish = (result: FuzzLoopResult) => {
      if (done) return;
      done = true;
      clearInterval(watchdog);
      worker.terminate();
      const ms = performance.now() - started;
      // Give a killed worker's memory time to go before the next target's baseline.
      setTimeout(() => resolve({ ...result, ms }), result.crash ? 500 : 0);
    };
    const kill = (kind: FuzzCrash["kind"], detail: string) => {
      // Stop it at its next input (terminate alone lets it run on for a while).
      Atomics.store(counter, 1, 1);
      const iteration = Atomics.load(counter, 0);
      // Said at once: a worker that runs out of memory before it stops takes the process down.
      console.log(
        `watchdog: ${name} ${kind} at iteration ${iteration} (seed ${seed}); replay: ` +
          `./dev fuzz --target ${name} --seed ${seed} --replay ${iteration}`,
      );
      const target = findTarget(name);
      const { input } = makeInput(target, target.setup(), seed, iteration);
      finish({
        iterations: iteration + 1,
        accepted: 0,
        crash: { target: name, seed, iteration, kind, detail, input },
      });
    };
    const watchdog = setInterval(() => {
      const now = Atomics.load(counter, 0);
      if (now !== last) {
        last = now;
        lastMove = performance.now();
      } else if (performance.now() - lastMove > HANG_MS) {
        kill("hang", `no progress for ${HANG_MS / 1000} s on one input`);
      }
      const rss = residentBytes() - rssAtStart;
      if (rss > MEMORY_LIMIT_BYTES) {
        kill(
          "memory",
          `process RSS grew by ${(rss / 2 ** 20).toFixed(0)} MiB during this target (limit ${
            MEMORY_LIMIT_BYTES / 2 ** 20
          } MiB)`,
        );
      }
    }, 100);
    worker.onmessage = (event: MessageEvent<FuzzLoopResult>) => finish(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      kill("unexpected-error", `worker died: ${event.message}`);
    };
    const job: FuzzJob = { module: moduleURL, target: name, seed, iterations, seconds, progress };
    worker.postMessage(job);
  });
}

function report(crash: FuzzCrash): void {
  console.log(
    `\nCRASH in ${crash.target}: ${crash.kind}, seed ${crash.seed}, iteration ${crash.iteration}`,
  );
  console.log(`input (${crash.input.length} bytes):`);
  if (crash.input.length <= INLINE_HEX_BYTES) {
    console.log(toHex(crash.input));
  } else {
    const path = `test-results/fuzz/${crash.target}-${crash.seed}-${crash.iteration}.bin`;
    Deno.mkdirSync("test-results/fuzz", { recursive: true });
    Deno.writeFileSync(path, crash.input);
    console.log(`${toHex(crash.input.subarray(0, 512))}… (whole input in ${path})`);
  }
  console.log(crash.detail);
  console.log(
    `replay: ./dev fuzz --target ${crash.target} --seed ${crash.seed} --replay ${crash.iteration}`,
  );
}

const budget = seconds === undefined ? `${iterations} inputs` : `${seconds} s`;
console.log(`fuzz: ${targets.length} targets, ${budget} each, seed ${seed}`);
const crashes: FuzzCrash[] = [];
for (const target of targets) {
  const result = await runInWorker(target.name);
  const rate = result.iterations / (result.ms / 1000);
  const share = result.iterations ? ((100 * result.accepted) / result.iterations).toFixed(0) : "0";
  console.log(
    `${result.crash ? "CRASH" : "ok   "} ${target.name.padEnd(20)} ${
      String(result.iterations).padStart(8)
    } inputs ` +
      `${(result.ms / 1000).toFixed(1).padStart(6)} s ${rate.toFixed(0).padStart(7)}/s  ${
        share.padStart(3)
      }% accepted`,
  );
  if (result.crash) crashes.push(result.crash);
}
for (const crash of crashes) report(crash);
console.log(
  `\nfuzz: ${
    crashes.length === 0 ? "no crashes" : `${crashes.length} target(s) crashed`
  } (seed ${seed})`,
);
Deno.exit(crashes.length === 0 ? 0 : 1);
