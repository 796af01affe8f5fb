import assert from "node:assert/strict";
import { generatePrivateKey, publicKeyFromPrivate } from "../../../../network/crypto/x25519.ts";
import { parseInitiation, parseResponse } from "../../../../network/wireguard/messages.ts";
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  initialChainKeyAndHash,
  WireGuardHandshakeError,
} from "../../../../network/wireguard/noise_handshake.ts";
import { tai64n } from "../../../../network/wireguard/tai64n.ts";
import { fromHex, toHex } from "../crypto/hex.ts";
import { seededRandom } from "../crypto/seeded_random.ts";
import { WIREGUARD_GO_VECTORS as V } from "./wireguard_go_vectors.ts";

const withoutMacs = (message: Uint8Array) => {
  const copy = message.slice();
  copy.fill(0, copy.length - 32);
  return copy;
};

Deno.test("noise: C0 and H0 are the hashes of the construction and identifier", () => {
  const { chainKey, hash } = initialChainKeyAndHash();
  // Values every WireGuard implementation starts from.
  assert.equal(toHex(chainKey), "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
  assert.equal(toHex(hash), "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
});

Deno.test("noise KAT: our responder opens wireguard-go's initiation and answers with its exact response", () => {
  const initiation = parseInitiation(fromHex(V.initiation));
  const consumed = consumeInitiation({ localPrivate: fromHex(V.privateB), message: initiation });
  assert.equal(toHex(consumed.remoteStatic), V.publicA);
  assert.equal(consumed.remoteIndex, initiation.senderIndex);
  const goResponse = parseResponse(fromHex(V.response));
  const { message, keys } = createResponse(consumed, {
    ephemeralPrivate: fromHex(V.ephemeralB),
    senderIndex: goResponse.senderIndex,
  });
  assert.equal(toHex(message), toHex(withoutMacs(fromHex(V.response))));
  assert.equal(toHex(keys.sendKey), V.sendB);
  assert.equal(toHex(keys.receiveKey), V.receiveB);
  assert.equal(keys.isInitiator, false);
});

Deno.test("noise KAT: our initiator rebuilds wireguard-go's initiation and consumes its response", () => {
  const goInitiation = parseInitiation(fromHex(V.initiation));
  // The timestamp is the one wireguard-go sealed, recovered by the responder.
  const { timestamp } = consumeInitiation({
    localPrivate: fromHex(V.privateB),
    message: goInitiation,
  });
  const { message, handshake } = createInitiation({
    localPrivate: fromHex(V.privateA),
    remoteStatic: fromHex(V.publicB),
    ephemeralPrivate: fromHex(V.ephemeralA),
    senderIndex: goInitiation.senderIndex,
    timestamp,
  });
  assert.equal(toHex(message), toHex(withoutMacs(fromHex(V.initiation))));
  const keys = consumeResponse(handshake, {
    localPrivate: fromHex(V.privateA),
    message: parseResponse(fromHex(V.response)),
  });
  assert.equal(toHex(keys.sendKey), V.sendA);
  assert.equal(toHex(keys.receiveKey), V.receiveA);
  assert.equal(keys.isInitiator, true);
  assert.equal(keys.remoteIndex, parseResponse(fromHex(V.response)).senderIndex);
});

Deno.test("noise: random handshakes in process agree on keys, with and without a pre-shared key", () => {
  const random = seededRandom();
  for (let i = 0; i < 20; i++) {
    const a = generatePrivateKey(random.bytes), b = generatePrivateKey(random.bytes);
    const presharedKey = i % 2 === 0 ? undefined : random.bytes(32);
    const init = createInitiation({
      localPrivate: a,
      remoteStatic: publicKeyFromPrivate(b),
      ephemeralPrivate: generatePrivateKey(random.bytes),
      senderIndex: i,
      timestamp: tai64n(1_700_000_000_000 + i),
    });
    const consumed = consumeInitiation({ localPrivate: b, message: parseInitiation(init.message) });
    assert.deepEqual(consumed.remoteStatic, publicKeyFromPrivate(a));
    const resp = createResponse(consumed, {
      ephemeralPrivate: generatePrivateKey(random.bytes),
      senderIndex: 1000 + i,
      presharedKey,
    });
    const keys = consumeResponse(init.handshake, {
      localPrivate: a,
      message: parseResponse(resp.message),
      presharedKey,
    });
    assert.deepEqual(keys.sendKey, resp.keys.receiveKey, `seed ${random.seed}`);
    assert.deepEqual(keys.receiveKey, resp.keys.sendKey);
    assert.equal(keys.remoteIndex, 1000 + i);
    assert.equal(resp.keys.remoteIndex, i);
  }
});

Deno.test("noise: every flipped bit of an initiation or response fails authentication", () => {
  const random = seededRandom();
  const a = generatePrivateKey(random.bytes), b = generatePrivateKey(random.bytes);
  const init = createInitiation({
    localPrivate: a,
    remoteStatic: publicKeyFromPrivate(b),
    ephemeralPrivate: generatePrivateKey(random.bytes),
    senderIndex: 7,
    timestamp: tai64n(1_700_000_000_000),
  });
  // Ephemeral, static and timestamp (bytes 8..116) are all authenticated.
  for (let byte = 8; byte < 116; byte += 5) {
    const bad = init.message.slice();
    bad[byte] ^= 1;
    assert.throws(
      () => consumeInitiation({ localPrivate: b, message: parseInitiation(bad) }),
      WireGuardHandshakeError,
      `byte ${byte}`,
    );
  }
  const consumed = consumeInitiation({ localPrivate: b, message: parseInitiation(init.message) });
  const resp = createResponse(consumed, {
    ephemeralPrivate: generatePrivateKey(random.bytes),
    senderIndex: 9,
  });
  for (const byte of [12, 30, 43, 44, 59]) {
    const bad = resp.message.slice();
    bad[byte] ^= 0x80;
    assert.throws(
      () => consumeResponse(init.handshake, { localPrivate: a, message: parseResponse(bad) }),
      WireGuardHandshakeError,
      `byte ${byte}`,
    );
  }
  const wrongIndex = resp.message.slice();
  wrongIndex[8] ^= 1;
  assert.throws(
    () => consumeResponse(init.handshake, { localPrivate: a, message: parseResponse(wrongIndex) }),
    /receiver index/,
  );
  // A failed response leaves the handshake usable for the real one.
  const keys = consumeResponse(init.handshake, {
    localPrivate: a,
    message: parseResponse(resp.message),
  });
  assert.deepEqual(keys.sendKey, resp.keys.receiveKey);
  // Wrong pre-shared key on one side only.
  assert.throws(
    () =>
      consumeResponse(init.handshake, {
        localPrivate: a,
        message: parseResponse(resp.message),
        presharedKey: new Uint8Array(32).fill(1),
      }),
    WireGuardHandshakeError,
  );
});

Deno.test("noise: low-order ephemeral keys are refused", () => {
  const b = generatePrivateKey(seededRandom().bytes);
  const bytes = fromHex(V.initiation);
  bytes.fill(0, 8, 40); // the all-zero point has order 1
  assert.throws(
    () => consumeInitiation({ localPrivate: b, message: parseInitiation(bytes) }),
    /low-order/,
  );
});
