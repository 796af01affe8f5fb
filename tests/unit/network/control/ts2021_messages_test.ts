import assert from "node:assert/strict";
import {
  HEADER_LENGTH,
  INITIATION_LENGTH,
  MAX_CIPHERTEXT_SIZE,
  MAX_MESSAGE_SIZE,
  MAX_PLAINTEXT_SIZE,
  MSG_TYPE_ERROR,
  MSG_TYPE_RECORD,
  NoiseProtocolError,
  parseErrorFrame,
  parseFrameHeader,
  parseTS2021Initiation,
  parseTS2021Response,
  RESPONSE_LENGTH,
  serializeErrorFrame,
  serializeTS2021Initiation,
  serializeTS2021Response,
  writeRecordHeader,
} from "../../../../network/control/ts2021_messages.ts";
import { countingBytes, fromHex, toHex } from "../crypto/hex.ts";

Deno.test("noise_messages: sizes are those of the reference (§4.3, §4.4, §5)", () => {
  assert.equal(HEADER_LENGTH, 3);
  assert.equal(INITIATION_LENGTH, 101);
  assert.equal(RESPONSE_LENGTH, 51);
  assert.equal(MAX_MESSAGE_SIZE, 4096);
  assert.equal(MAX_CIPHERTEXT_SIZE, 4093);
  assert.equal(MAX_PLAINTEXT_SIZE, 4077);
});

Deno.test("noise_messages: initiation layout and round trip", () => {
  const message = {
    protocolVersion: 143,
    ephemeralPublic: countingBytes(32, 0),
    sealedMachineKey: countingBytes(48, 100),
    payloadTag: countingBytes(16, 200),
  };
  const bytes = serializeTS2021Initiation(message);
  assert.equal(bytes.length, 101);
  // Version 143 = 0x008f, big-endian; type 1; payload length 96 = 0x0060.
  assert.equal(toHex(bytes.subarray(0, 5)), "008f010060");
  assert.deepEqual(bytes.subarray(5, 37), message.ephemeralPublic);
  assert.deepEqual(bytes.subarray(37, 85), message.sealedMachineKey);
  assert.deepEqual(bytes.subarray(85), message.payloadTag);
  assert.deepEqual(parseTS2021Initiation(bytes), message);
});

Deno.test("noise_messages: initiation rejects wrong size, type and length", () => {
  const good = serializeTS2021Initiation({
    protocolVersion: 1,
    ephemeralPublic: new Uint8Array(32),
    sealedMachineKey: new Uint8Array(48),
    payloadTag: new Uint8Array(16),
  });
  assert.throws(() => parseTS2021Initiation(good.subarray(0, 100)), NoiseProtocolError);
  const wrongType = good.slice();
  wrongType[2] = 2;
  assert.throws(() => parseTS2021Initiation(wrongType), NoiseProtocolError);
  const wrongLength = good.slice();
  wrongLength[4] = 95;
  assert.throws(() => parseTS2021Initiation(wrongLength), NoiseProtocolError);
  assert.throws(
    () =>
      serializeTS2021Initiation({
        protocolVersion: 70000,
        ephemeralPublic: new Uint8Array(32),
        sealedMachineKey: new Uint8Array(48),
        payloadTag: new Uint8Array(16),
      }),
    RangeError,
  );
});

Deno.test("noise_messages: response layout and round trip", () => {
  const message = { ephemeralPublic: countingBytes(32, 7), payloadTag: countingBytes(16, 99) };
  const bytes = serializeTS2021Response(message);
  assert.equal(bytes.length, 51);
  assert.equal(toHex(bytes.subarray(0, 3)), "020030");
  assert.deepEqual(parseTS2021Response(bytes), message);
  const wrongType = bytes.slice();
  wrongType[0] = 4;
  assert.throws(() => parseTS2021Response(wrongType), NoiseProtocolError);
  const wrongLength = bytes.slice();
  wrongLength[2] = 47;
  assert.throws(() => parseTS2021Response(wrongLength), NoiseProtocolError);
  assert.throws(() => parseTS2021Response(bytes.subarray(0, 50)), NoiseProtocolError);
});

Deno.test("noise_messages: error frame carries text and truncates at 65535 bytes", () => {
  const frame = serializeErrorFrame("unsupported version");
  assert.equal(frame[0], MSG_TYPE_ERROR);
  assert.deepEqual(parseFrameHeader(frame), { type: 3, length: 19 });
  assert.equal(parseErrorFrame(frame), "unsupported version");
  const long = serializeErrorFrame("x".repeat(70000));
  assert.equal(long.length, 3 + 65535);
  assert.equal(parseFrameHeader(long).length, 65535);
  assert.throws(() => parseErrorFrame(fromHex("020000")), NoiseProtocolError);
  assert.throws(() => parseErrorFrame(fromHex("03000541")), NoiseProtocolError);
});

Deno.test("noise_messages: record header is [0x04][len u16 BE] and capped at 4093", () => {
  const out = new Uint8Array(3);
  writeRecordHeader(out, 0, 0x0fed);
  assert.equal(toHex(out), "040fed");
  assert.equal(out[0], MSG_TYPE_RECORD);
  assert.throws(() => writeRecordHeader(out, 0, 4094), RangeError);
  assert.deepEqual(parseFrameHeader(fromHex("00040ffd"), 1), { type: 4, length: 4093 });
  assert.throws(() => parseFrameHeader(fromHex("0400")), NoiseProtocolError);
});
