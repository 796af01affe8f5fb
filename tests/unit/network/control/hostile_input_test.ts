/**
 * Hostile bytes into every parser of the control channel: each either
 * accepts the input or throws its own typed error, never anything else.
 * Replay a failure with CITADEL_TEST_SEED=<seed>.
 */
import assert from "node:assert/strict";
import { ControlError } from "../../../../network/control/control_errors.ts";
import { EarlyPayloadReader } from "../../../../network/control/early_payload.ts";
import { HttpParseError, parseResponseHead } from "../../../../network/control/http1_client.ts";
import { parseServerKeyResponse } from "../../../../network/control/key_discovery.ts";
import {
  NoiseDecryptError,
  NoiseFrameReader,
  NonceExhaustedError,
} from "../../../../network/control/ts2021_conn.ts";
import {
  NoiseProtocolError,
  parseErrorFrame,
  parseTS2021Initiation,
  parseTS2021Response,
} from "../../../../network/control/ts2021_messages.ts";
import { seededRandom } from "../crypto/seeded_random.ts";

const ITERATIONS = 2000;

function expectOnly(
  seed: number,
  run: () => unknown,
  ...allowed: Array<new (...a: never[]) => Error>
) {
  try {
    run();
  } catch (err) {
    assert.ok(
      allowed.some((type) => err instanceof type),
      `seed ${seed}: unexpected ${(err as Error)?.name}: ${(err as Error)?.message}`,
    );
  }
}

Deno.test("hostile input: Noise messages, records and early payloads", () => {
  const rng = seededRandom();
  const key = rng.bytes(32);
  for (let i = 0; i < ITERATIONS; i++) {
    const bytes = rng.bytes(rng.below(200));
    // Bias towards plausible headers.
    if (bytes.length > 3 && rng.below(2) === 0) bytes[0] = 1 + rng.below(4);
    expectOnly(rng.seed, () => parseTS2021Initiation(bytes), NoiseProtocolError);
    expectOnly(rng.seed, () => parseTS2021Response(bytes), NoiseProtocolError);
    expectOnly(rng.seed, () => parseErrorFrame(bytes), NoiseProtocolError);
    const reader = new NoiseFrameReader(key);
    expectOnly(
      rng.seed,
      () => reader.push(bytes, () => assert.fail("forged record opened")),
      NoiseProtocolError,
      NoiseDecryptError,
      NonceExhaustedError,
    );
    const early = new EarlyPayloadReader();
    if (rng.below(2) === 0) bytes.set([0xff, 0xff, 0xff, 0x54, 0x53].slice(0, bytes.length));
    expectOnly(rng.seed, () => early.push(bytes), NoiseProtocolError);
  }
});

Deno.test("hostile input: HTTP response heads and /key bodies", () => {
  const rng = seededRandom();
  const alphabet = 'HTP/1.0 23456789:\r\n abcxyz{}"[],';
  for (let i = 0; i < ITERATIONS; i++) {
    const length = rng.below(120);
    let text = rng.below(2) === 0 ? "HTTP/1.1 200 OK\r\n" : "";
    for (let j = 0; j < length; j++) text += alphabet[rng.below(alphabet.length)];
    expectOnly(rng.seed, () => parseResponseHead(text), HttpParseError);
    expectOnly(
      rng.seed,
      () => parseServerKeyResponse(rng.below(2) === 0 ? 200 : 400, text, 143, "http://s"),
      ControlError,
    );
  }
});
