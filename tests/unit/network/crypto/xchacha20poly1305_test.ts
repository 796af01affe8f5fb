import assert from "node:assert/strict";
import {
  XCHACHA20POLY1305_TAG_LENGTH,
  xchachaOpen,
  xchachaSeal,
} from "../../../../network/crypto/xchacha20poly1305.ts";
import { fromHex, toHex } from "./hex.ts";

// draft-irtf-cfrg-xchacha-03 Appendix A.3.1.
const KEY = fromHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
const NONCE = fromHex("404142434445464748494a4b4c4d4e4f5051525354555657");
const AD = fromHex("50515253c0c1c2c3c4c5c6c7");
const PLAINTEXT = fromHex(`
  4c616469657320616e642047656e746c656d656e206f662074686520636c6173
  73206f66202739393a204966204920636f756c64206f6666657220796f75206f
  6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73
  637265656e20776f756c642062652069742e`);
const CIPHERTEXT = `
  bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
  731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
  2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
  21f9664c97637da9768812f615c68b13b52e`;
const TAG = "c0875924c1c7987947deafd8780acf49";

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  copy[bit >> 3] ^= 1 << (bit & 7);
  return copy;
}

Deno.test("xchacha20poly1305: draft-irtf-cfrg-xchacha-03 A.3.1", () => {
  const sealed = xchachaSeal(KEY, NONCE, PLAINTEXT, AD);
  assert.equal(toHex(sealed), toHex(fromHex(CIPHERTEXT + TAG)));
  assert.deepEqual(xchachaOpen(KEY, NONCE, sealed, AD), PLAINTEXT);
  assert.ok(
    new TextDecoder().decode(PLAINTEXT).startsWith("Ladies and Gentlemen of the class of '99"),
  );
});

Deno.test("xchacha20poly1305: every flipped bit of ciphertext, tag and AD is rejected", () => {
  const sealed = fromHex(CIPHERTEXT + TAG);
  for (let bit = 0; bit < sealed.length * 8; bit++) {
    assert.equal(xchachaOpen(KEY, NONCE, flipBit(sealed, bit), AD), null, `bit ${bit}`);
  }
  for (let bit = 0; bit < AD.length * 8; bit++) {
    assert.equal(xchachaOpen(KEY, NONCE, sealed, flipBit(AD, bit)), null, `AD bit ${bit}`);
  }
  // The extended nonce's first 16 bytes feed HChaCha20, the last 8 ChaCha20.
  assert.equal(xchachaOpen(KEY, flipBit(NONCE, 0), sealed, AD), null);
  assert.equal(xchachaOpen(KEY, flipBit(NONCE, 191), sealed, AD), null);
  assert.equal(xchachaOpen(KEY, NONCE, sealed), null);
});

Deno.test("xchacha20poly1305: empty plaintext, short input, wrong lengths", () => {
  const sealed = xchachaSeal(KEY, NONCE, new Uint8Array(0));
  assert.equal(sealed.length, XCHACHA20POLY1305_TAG_LENGTH);
  assert.deepEqual(xchachaOpen(KEY, NONCE, sealed), new Uint8Array(0));
  assert.equal(xchachaOpen(KEY, NONCE, sealed.subarray(1)), null);
  assert.throws(() => xchachaSeal(KEY, new Uint8Array(12), PLAINTEXT), RangeError);
  assert.throws(() => xchachaOpen(new Uint8Array(16), NONCE, sealed), RangeError);
});
