import assert from "node:assert/strict";
import {
  counterIsRejected,
  messageType,
  parseCookieReply,
  parseInitiation,
  parseResponse,
  parseTransport,
  serializeCookieReply,
  serializeInitiation,
  serializeResponse,
  WireGuardMessageError,
  writeTransportHeader,
} from "../../../../network/wireguard/messages.ts";
import { fromHex, toHex } from "../crypto/hex.ts";
import { seededRandom } from "../crypto/seeded_random.ts";
import { WIREGUARD_GO_VECTORS as V } from "./wireguard_go_vectors.ts";

Deno.test("messages: wireguard-go's initiation and response parse and serialize back byte for byte", () => {
  const initiation = fromHex(V.initiation);
  const parsed = parseInitiation(initiation);
  assert.equal(parsed.senderIndex, 0xdb75e9f5);
  assert.deepEqual(serializeInitiation(parsed), initiation);
  const response = fromHex(V.response);
  const r = parseResponse(response);
  assert.equal(r.receiverIndex, parsed.senderIndex);
  assert.deepEqual(serializeResponse(r), response);
  const reply = fromHex(V.cookieReply);
  const c = parseCookieReply(reply);
  assert.equal(c.receiverIndex, parsed.senderIndex);
  assert.deepEqual(serializeCookieReply(c), reply);
});

Deno.test("messages: parsed fields are views over the datagram at the documented offsets", () => {
  const random = seededRandom();
  const bytes = random.bytes(148);
  bytes.set([1, 0, 0, 0], 0);
  const m = parseInitiation(bytes);
  assert.deepEqual(m.ephemeral, bytes.subarray(8, 40));
  assert.deepEqual(m.encryptedStatic, bytes.subarray(40, 88));
  assert.deepEqual(m.encryptedTimestamp, bytes.subarray(88, 116));
  assert.deepEqual(m.mac1, bytes.subarray(116, 132));
  assert.deepEqual(m.mac2, bytes.subarray(132, 148));
  assert.equal(m.ephemeral.buffer, bytes.buffer, "no copy");
});

Deno.test("messages: wrong sizes and wrong types are rejected with WireGuardMessageError", () => {
  const cases: [(b: Uint8Array) => unknown, number, number][] = [
    [parseInitiation, 1, 148],
    [parseResponse, 2, 92],
    [parseCookieReply, 3, 64],
  ];
  for (const [parse, type, size] of cases) {
    for (const length of [0, 3, size - 1, size + 1]) {
      const bytes = new Uint8Array(length);
      if (length >= 1) bytes[0] = type;
      assert.throws(() => parse(bytes), WireGuardMessageError);
    }
    const wrongType = new Uint8Array(size);
    wrongType[0] = type === 1 ? 2 : 1;
    assert.throws(() => parse(wrongType), WireGuardMessageError);
    const reserved = new Uint8Array(size);
    reserved[0] = type;
    reserved[2] = 1; // the three bytes after the type must be zero
    assert.throws(() => parse(reserved), WireGuardMessageError);
  }
  assert.throws(() => parseTransport(new Uint8Array(31).fill(0).map((_, i) => i === 0 ? 4 : 0)));
  assert.throws(() => parseInitiation("x" as unknown as Uint8Array), WireGuardMessageError);
});

Deno.test("messages: transport header round trip, 64-bit counters and the reject limit", () => {
  const out = new Uint8Array(32);
  writeTransportHeader(out, 0xdeadbeef, 2 ** 40 + 5);
  assert.equal(toHex(out.subarray(0, 16)), "04000000efbeadde0500000000010000");
  const t = parseTransport(out);
  assert.equal(t.receiverIndex, 0xdeadbeef);
  assert.equal(t.counter, 2 ** 40 + 5);
  assert.equal(t.counterRejected, false);
  assert.equal(t.sealed.length, 16);
  assert.equal(counterIsRejected(0xffffffff, 0xffffdffe), false, "2^64 - 2^13 - 2 is allowed");
  assert.equal(counterIsRejected(0xffffffff, 0xffffdfff), true, "2^64 - 2^13 - 1 is rejected");
  assert.equal(counterIsRejected(0xffffffff, 0xffffffff), true);
  assert.equal(counterIsRejected(0xfffffffe, 0xffffffff), false);
  assert.throws(() => writeTransportHeader(out, 1, -1), WireGuardMessageError);
  assert.throws(() => writeTransportHeader(out, 2 ** 32, 0), WireGuardMessageError);
});

Deno.test("messages: messageType", () => {
  assert.equal(messageType(new Uint8Array([4, 0, 0, 0])), 4);
  assert.equal(messageType(new Uint8Array([1, 0, 0])), 0);
  assert.equal(messageType(new Uint8Array([5, 0, 0, 0])), 0);
  assert.equal(messageType(new Uint8Array([1, 0, 0, 1])), 0);
  assert.equal(messageType(new Uint8Array([0, 0, 0, 0])), 0);
});

Deno.test("messages: serialize refuses fields of the wrong length", () => {
  const m = parseInitiation(fromHex(V.initiation));
  assert.throws(
    () => serializeInitiation({ ...m, ephemeral: new Uint8Array(31) }),
    WireGuardMessageError,
  );
  assert.throws(() => serializeInitiation(m, new Uint8Array(147)), WireGuardMessageError);
  assert.throws(() => serializeInitiation({ ...m, senderIndex: -1 }), WireGuardMessageError);
});
