import assert from "node:assert/strict";
import {
  EARLY_PAYLOAD_MAGIC,
  EarlyPayloadReader,
  MAX_EARLY_PAYLOAD_LENGTH,
} from "../../../../network/control/early_payload.ts";
import { NoiseProtocolError } from "../../../../network/control/ts2021_messages.ts";
import { fromHex, toHex } from "../crypto/hex.ts";

const enc = new TextEncoder();
const CHALLENGE = "chalpub:" + "ab".repeat(32);

function earlyPayload(json: string): Uint8Array {
  const body = enc.encode(json);
  const out = new Uint8Array(9 + body.length);
  out.set(EARLY_PAYLOAD_MAGIC, 0);
  new DataView(out.buffer).setUint32(5, body.length);
  out.set(body, 9);
  return out;
}

/** An HTTP/2 SETTINGS frame header (9 bytes) with an empty payload, as servers send first. */
const H2_SETTINGS = fromHex("000000040000000000");

function feed(reader: EarlyPayloadReader, bytes: Uint8Array, size: number): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    const passed = reader.push(bytes.subarray(i, i + size));
    if (passed) out.push(...passed);
  }
  return Uint8Array.from(out);
}

Deno.test("early_payload: magic is FF FF FF 'T' 'S'", () => {
  assert.equal(toHex(EARLY_PAYLOAD_MAGIC), "ffffff5453");
  assert.equal(MAX_EARLY_PAYLOAD_LENGTH, 10 * 1024 * 1024);
});

Deno.test("early_payload: strips the payload and passes the HTTP/2 bytes after it", () => {
  const stream = Uint8Array.from([
    ...earlyPayload(`{"nodeKeyChallenge":"${CHALLENGE}"}`),
    ...H2_SETTINGS,
    1,
    2,
    3,
  ]);
  for (const size of [1, 2, 5, 9, 10, 30, stream.length]) {
    const reader = new EarlyPayloadReader();
    const passed = feed(reader, stream, size);
    assert.equal(toHex(passed), toHex(H2_SETTINGS) + "010203", `chunk size ${size}`);
    assert.deepEqual(reader.earlyNoise, { nodeKeyChallenge: CHALLENGE });
    assert.equal(reader.done, true);
  }
});

Deno.test("early_payload: without the magic the first 9 bytes go back to HTTP/2", () => {
  const stream = Uint8Array.from([...H2_SETTINGS, 0xaa, 0xbb]);
  for (const size of [1, 4, 9, 11]) {
    const reader = new EarlyPayloadReader();
    assert.deepEqual(feed(reader, stream, size), stream, `chunk size ${size}`);
    assert.equal(reader.earlyNoise, null);
    assert.equal(reader.done, true);
  }
  // A prefix of the magic is not enough.
  const almost = Uint8Array.from([0xff, 0xff, 0xff, 0x54, 0x00, 0, 0, 0, 0, 7]);
  assert.deepEqual(feed(new EarlyPayloadReader(), almost, 3), almost);
});

Deno.test("early_payload: unknown fields are ignored; an empty object is fine", () => {
  const reader = new EarlyPayloadReader();
  reader.push(earlyPayload(`{"future":1}`));
  assert.deepEqual(reader.earlyNoise, {});
});

Deno.test("early_payload: oversized or malformed payloads are errors", () => {
  const huge = new Uint8Array(9);
  huge.set(EARLY_PAYLOAD_MAGIC);
  new DataView(huge.buffer).setUint32(5, MAX_EARLY_PAYLOAD_LENGTH + 1);
  assert.throws(() => new EarlyPayloadReader().push(huge), NoiseProtocolError);
  assert.throws(() => new EarlyPayloadReader().push(earlyPayload("{nope")), NoiseProtocolError);
  assert.throws(() => new EarlyPayloadReader().push(earlyPayload("[1]")), NoiseProtocolError);
});
