/**
 * Targets that misbehave on purpose, for the harness's own test: one throws
 * a TypeError, one hangs, one allocates without end, one is well behaved.
 * Each misbehaves only on some inputs, so the report must name the right
 * iteration.
 */
import type { FuzzTarget } from "../fuzz_target.ts";

class OwnError extends Error {}

const corpus = [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])];
const kept: Uint8Array[] = [];

/** The misbehaving targets. */
export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  {
    name: "throws-type-error",
    description: "a TypeError when the first byte is 0x7f",
    expected: [OwnError],
    maxLength: 64,
    setup: () => ({
      corpus,
      run(input) {
        if (input[0] === 0x7f) throw new TypeError("deep inside");
        if (input.length > 4) throw new OwnError("refused");
      },
    }),
  },
  {
    name: "hangs",
    description: "loops for ever when the input is shorter than 3 bytes",
    expected: [],
    maxLength: 64,
    setup: () => ({
      corpus,
      run(input) {
        // deno-lint-ignore no-empty
        while (input.length < 3) {}
      },
    }),
  },
  {
    name: "allocates",
    description: "keeps 16 MiB per input",
    expected: [],
    maxLength: 64,
    setup: () => ({
      corpus,
      run() {
        kept.push(new Uint8Array(16 * 1024 * 1024).fill(1));
      },
    }),
  },
  {
    name: "behaves",
    description: "refuses everything with its own error",
    expected: [OwnError],
    maxLength: 64,
    setup: () => ({
      corpus,
      run() {
        throw new OwnError("no");
      },
    }),
  },
];
