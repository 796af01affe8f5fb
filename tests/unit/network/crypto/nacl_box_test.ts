import assert from "node:assert/strict";
import {
  BOX_OVERHEAD,
  boxBeforeNm,
  boxOpen,
  boxOpenAfterNm,
  boxSeal,
  boxSealAfterNm,
} from "../../../../network/crypto/nacl_box.ts";
import { WeakSharedSecretError } from "../../../../network/crypto/x25519.ts";
import { fromHex, toHex } from "./hex.ts";

// The NaCl distribution's tests/box.c (also libsodium test/default/box.c):
// Alice's and Bob's keys are those of RFC 7748 §6.1.
const ALICE_SECRET = fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
const ALICE_PUBLIC = fromHex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
const BOB_SECRET = fromHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
const BOB_PUBLIC = fromHex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
const NONCE = fromHex("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37");
const MESSAGE = fromHex(`
  be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc
  e5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31
  0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde
  048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864
  5e0705`);
// box.c prints 16 zero bytes, then this: the Poly1305 tag, then the ciphertext.
const BOXED = `
  f3ffc7703f9400e52a7dfb4b3d3305d9
  8e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186a
  c0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738
  b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da
  99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74
  e355a5`;
// NaCl tests/core1.c: HSalsa20 of the X25519 secret under a zero nonce.
const FIRST_KEY = "1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389";

Deno.test("nacl box: the vector has a 131-byte message", () => {
  assert.equal(MESSAGE.length, 131);
  assert.equal(fromHex(BOXED).length, 131 + BOX_OVERHEAD);
});

Deno.test("nacl box: crypto_box_beforenm is HSalsa20(X25519) (core1.c)", () => {
  assert.equal(toHex(boxBeforeNm(BOB_PUBLIC, ALICE_SECRET)), FIRST_KEY);
  assert.equal(toHex(boxBeforeNm(ALICE_PUBLIC, BOB_SECRET)), FIRST_KEY);
});

Deno.test("nacl box: boxSeal gives box.c's output, tag first", () => {
  const sealed = boxSeal(MESSAGE, NONCE, BOB_PUBLIC, ALICE_SECRET);
  assert.equal(toHex(sealed), toHex(fromHex(BOXED)));
  assert.equal(toHex(sealed.subarray(0, BOX_OVERHEAD)), "f3ffc7703f9400e52a7dfb4b3d3305d9");
});

Deno.test("nacl box: boxOpen by Bob (box2.c) and by precomputed key", () => {
  const sealed = fromHex(BOXED);
  assert.deepEqual(boxOpen(sealed, NONCE, ALICE_PUBLIC, BOB_SECRET), MESSAGE);
  const key = fromHex(FIRST_KEY);
  assert.deepEqual(boxOpenAfterNm(key, NONCE, sealed), MESSAGE);
  assert.equal(toHex(boxSealAfterNm(key, NONCE, MESSAGE)), toHex(sealed));
});

Deno.test("nacl box: forgeries are rejected", () => {
  const sealed = fromHex(BOXED);
  for (const index of [0, 15, 16, 50, sealed.length - 1]) {
    const forged = sealed.slice();
    forged[index] ^= 0x01;
    assert.equal(boxOpen(forged, NONCE, ALICE_PUBLIC, BOB_SECRET), null, `byte ${index}`);
  }
  const otherNonce = NONCE.slice();
  otherNonce[23] ^= 0x80;
  assert.equal(boxOpen(sealed, otherNonce, ALICE_PUBLIC, BOB_SECRET), null);
  assert.equal(boxOpen(sealed, NONCE, BOB_PUBLIC, BOB_SECRET), null, "wrong sender key");
  assert.equal(boxOpen(sealed.subarray(0, 15), NONCE, ALICE_PUBLIC, BOB_SECRET), null);
  assert.equal(boxOpen(sealed.subarray(0, 16), NONCE, ALICE_PUBLIC, BOB_SECRET), null);
});

Deno.test("nacl box: an empty message round-trips", () => {
  const sealed = boxSeal(new Uint8Array(0), NONCE, BOB_PUBLIC, ALICE_SECRET);
  assert.equal(sealed.length, BOX_OVERHEAD);
  assert.deepEqual(boxOpen(sealed, NONCE, ALICE_PUBLIC, BOB_SECRET), new Uint8Array(0));
});

Deno.test("nacl box: a low-order peer key makes boxOpen null and boxSeal throw", () => {
  const zero = new Uint8Array(32);
  assert.equal(boxOpen(fromHex(BOXED), NONCE, zero, BOB_SECRET), null);
  assert.throws(() => boxSeal(MESSAGE, NONCE, zero, ALICE_SECRET), WeakSharedSecretError);
  assert.throws(() => boxBeforeNm(zero, ALICE_SECRET), WeakSharedSecretError);
});

Deno.test("nacl box: wrong nonce or key length is a RangeError", () => {
  assert.throws(
    () => boxSeal(MESSAGE, NONCE.subarray(0, 12), BOB_PUBLIC, ALICE_SECRET),
    RangeError,
  );
  assert.throws(() => boxOpenAfterNm(new Uint8Array(16), NONCE, fromHex(BOXED)), RangeError);
  assert.throws(
    () => boxOpen(fromHex(BOXED), NONCE, BOB_PUBLIC.subarray(1), BOB_SECRET),
    RangeError,
  );
});
