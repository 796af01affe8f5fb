/**
 * The fuzz targets in the normal test suite: a few hundred inputs each, a
 * fresh seed per run (CITADEL_FUZZ_SEED replays one). A failure prints the
 * seed, the iteration and the input in hex; `./dev fuzz --target <name>
 * --seed <seed> --replay <iteration>` runs that input again.
 */
import { fuzzTarget, toHex } from "./fuzz_target.ts";
import { FUZZ_TARGETS } from "./targets.ts";

const ITERATIONS = Number(Deno.env.get("CITADEL_FUZZ_SMOKE_ITERATIONS") ?? 300);
const SEED = Number(Deno.env.get("CITADEL_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 32));

for (const target of FUZZ_TARGETS) {
  Deno.test(`fuzz smoke: ${target.name} (${ITERATIONS} inputs)`, () => {
    const instance = target.setup();
    const { crash } = fuzzTarget(target, instance, { seed: SEED, iterations: ITERATIONS });
    if (crash) {
      throw new Error(
        `${target.name}: ${crash.kind} at seed ${crash.seed} iteration ${crash.iteration}\n` +
          `input (${crash.input.length} bytes): ${toHex(crash.input.subarray(0, 256))}${
            crash.input.length > 256 ? "…" : ""
          }\n` +
          `replay: ./dev fuzz --target ${target.name} --seed ${crash.seed} --replay ${crash.iteration}\n` +
          crash.detail,
      );
    }
  });
}
