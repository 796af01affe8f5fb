/**
 * The fuzz harness itself catches what it promises: an unexpected error, a
 * hang and runaway memory, each reported with a seed, an iteration and an
 * input that `--replay` reproduces; a well-behaved target passes.
 */
import assert from "node:assert/strict";
import { FuzzRandom } from "./fuzz_random.ts";
import { fuzzTarget, makeInput, toHex } from "./fuzz_target.ts";
import { FUZZ_TARGETS as MISBEHAVING } from "./testdata/misbehaving_targets.ts";
import { MUTANT_BUDGET } from "./mutate_json.ts";
import { findTarget } from "./targets.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const MODULE = new URL("./testdata/misbehaving_targets.ts", import.meta.url).pathname;

async function fuzzCli(args: string[]): Promise<{ code: number; out: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-check", "--allow-all", "--quiet", MAIN, "--module", MODULE, ...args],
    env: { CITADEL_FUZZ_HANG_MS: "1500", CITADEL_FUZZ_MEMORY_MIB: "400" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, out: decode(output.stdout) + decode(output.stderr) };
}

Deno.test("fuzz harness: inputs are made again from (seed, target, iteration)", () => {
  const target = MISBEHAVING[0];
  const instance = target.setup();
  for (let i = 0; i < 50; i++) {
    assert.deepEqual(
      makeInput(target, instance, 99, i).input,
      makeInput(target, instance, 99, i).input,
    );
  }
  assert.notDeepEqual(
    FuzzRandom.forIteration(1, "a", 0).bytes(16),
    FuzzRandom.forIteration(2, "a", 0).bytes(16),
  );
});

Deno.test("fuzz harness: an unexpected error is a crash naming its iteration", () => {
  const target = MISBEHAVING[0];
  const instance = target.setup();
  const { crash } = fuzzTarget(target, instance, { seed: 5, iterations: 20_000 });
  assert.ok(crash, "a 0x7f first byte comes up within 20,000 inputs");
  assert.equal(crash.kind, "unexpected-error");
  assert.match(crash.detail, /TypeError: deep inside/);
  assert.equal(toHex(makeInput(target, instance, 5, crash.iteration).input), toHex(crash.input));
  assert.equal(crash.input[0], 0x7f);
});

Deno.test({
  name: "fuzz harness: ./dev fuzz reports a TypeError, a hang and runaway memory, and replays them",
  sanitizeResources: false,
  async fn() {
    const { code, out } = await fuzzCli(["--seed", "5", "--iterations", "20000"]);
    assert.equal(code, 1, out);
    assert.match(out, /CRASH in throws-type-error: unexpected-error, seed 5, iteration \d+/);
    assert.match(out, /CRASH in hangs: hang, seed 5, iteration \d+/);
    assert.match(out, /CRASH in allocates: memory, seed 5, iteration \d+/);
    assert.match(out, /ok +behaves +20000 inputs/);
    const iteration =
      /CRASH in throws-type-error: unexpected-error, seed 5, iteration (\d+)/.exec(out)![1];
    assert.match(
      out,
      new RegExp(`replay: ./dev fuzz --target throws-type-error --seed 5 --replay ${iteration}`),
    );
    const replay = await fuzzCli([
      "--target",
      "throws-type-error",
      "--seed",
      "5",
      "--replay",
      iteration,
    ]);
    assert.equal(replay.code, 1);
    assert.match(replay.out, /^7f/m);
    assert.match(replay.out, /CRASH TypeError: deep inside/);
    const hang = /CRASH in hangs: hang, seed 5, iteration (\d+)\ninput \((\d+) bytes\)/.exec(out)!;
    assert.ok(Number(hang[2]) < 3, `the hanging input is short: ${hang[2]} bytes`);
  },
});

Deno.test("fuzz harness: JSON mutants stay within their budget (the input that once took 4 GiB)", () => {
  const target = findTarget("netmap-apply");
  const instance = target.setup();
  // Duplications of duplications: this iteration grew past V8's 4 GiB heap before the budget.
  const started = performance.now();
  const { input } = makeInput(target, instance, 2826770187, 546829);
  assert.ok(input.length <= target.maxLength);
  assert.ok(performance.now() - started < 5_000, "made in well under 5 s");
  for (let i = 0; i < 300; i++) {
    const rng = FuzzRandom.forIteration(7, "budget", i);
    let sample = instance.corpus[i % instance.corpus.length];
    // Mutants of mutants, as far as the budget lets them grow.
    for (let round = 0; round < 4; round++) {
      sample = instance.mutate!(sample, rng, instance.corpus);
      assert.ok(sample.length <= MUTANT_BUDGET + 64 * 1024, `${sample.length} bytes`);
    }
  }
});
