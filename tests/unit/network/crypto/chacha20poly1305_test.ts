import assert from "node:assert/strict";
import {
  CHACHA20POLY1305_TAG_LENGTH,
  chachaOpen,
  chachaOpenInto,
  chachaSeal,
  chachaSealInto,
  poly1305WholeBlocks,
} from "../../../../network/crypto/chacha20poly1305.ts";
import { poly1305 } from "@noble/ciphers/_poly1305.js";
import {
  chachaOpenReference,
  chachaSealReference,
} from "../../../../network/crypto/chacha20poly1305_reference.ts";
import { fromHex, toHex } from "./hex.ts";
import { seededRandom } from "./seeded_random.ts";

const IMPLEMENTATIONS = [
  { name: "wasm", seal: chachaSeal, open: chachaOpen },
  { name: "reference", seal: chachaSealReference, open: chachaOpenReference },
];

// RFC 8439 §2.8.2.
const V282 = {
  key: fromHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"),
  nonce: fromHex("070000004041424344454647"),
  ad: fromHex("50515253c0c1c2c3c4c5c6c7"),
  plaintext: new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the " +
      "future, sunscreen would be it.",
  ),
  ciphertext: `
    d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
    3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
    92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
    3ff4def08e4b7a9de576d26586cec64b6116`,
  tag: "1ae10b594f09e26a7e902ecbd0600691",
};

// RFC 8439 Appendix A.5, the decryption vector.
const A5 = {
  key: fromHex("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0"),
  nonce: fromHex("000000000102030405060708"),
  ad: fromHex("f33388860000000000004e91"),
  ciphertext: `
    64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2
    4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf
    332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855
    9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4
    b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e
    af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a
    0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10
    49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29
    a6ad5cb4022b02709b`,
  tag: "eead9d67890cbb22392336fea1851f38",
  plaintext: `
    496e7465726e65742d4472616674732061726520647261667420646f63756d65
    6e74732076616c696420666f722061206d6178696d756d206f6620736978206d
    6f6e74687320616e64206d617920626520757064617465642c207265706c6163
    65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65
    6e747320617420616e792074696d652e20497420697320696e617070726f7072
    6961746520746f2075736520496e7465726e65742d4472616674732061732072
    65666572656e6365206d6174657269616c206f7220746f206369746520746865
    6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67
    726573732e2fe2809d`,
};

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  copy[bit >> 3] ^= 1 << (bit & 7);
  return copy;
}

for (const impl of IMPLEMENTATIONS) {
  Deno.test(`chacha20poly1305 (${impl.name}): RFC 8439 §2.8.2 seal and open`, () => {
    const sealed = impl.seal(V282.key, V282.nonce, V282.plaintext, V282.ad);
    assert.equal(toHex(sealed), toHex(fromHex(V282.ciphertext + V282.tag)));
    assert.deepEqual(impl.open(V282.key, V282.nonce, sealed, V282.ad), V282.plaintext);
  });

  Deno.test(`chacha20poly1305 (${impl.name}): RFC 8439 A.5 decryption`, () => {
    const sealed = fromHex(A5.ciphertext + A5.tag);
    const opened = impl.open(A5.key, A5.nonce, sealed, A5.ad);
    assert.ok(opened, "A.5 vector rejected");
    assert.equal(toHex(opened), toHex(fromHex(A5.plaintext)));
    assert.ok(new TextDecoder().decode(opened).startsWith("Internet-Drafts are draft documents"));
    assert.equal(
      toHex(impl.seal(A5.key, A5.nonce, fromHex(A5.plaintext), A5.ad)),
      toHex(sealed),
    );
  });

  Deno.test(`chacha20poly1305 (${impl.name}): every flipped bit is rejected`, () => {
    const sealed = fromHex(V282.ciphertext + V282.tag);
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      assert.equal(
        impl.open(V282.key, V282.nonce, flipBit(sealed, bit), V282.ad),
        null,
        `bit ${bit}`,
      );
    }
    for (let bit = 0; bit < V282.ad.length * 8; bit++) {
      assert.equal(
        impl.open(V282.key, V282.nonce, sealed, flipBit(V282.ad, bit)),
        null,
        `AD bit ${bit}`,
      );
    }
    assert.equal(impl.open(flipBit(V282.key, 0), V282.nonce, sealed, V282.ad), null);
    assert.equal(impl.open(V282.key, flipBit(V282.nonce, 95), sealed, V282.ad), null);
    assert.equal(impl.open(V282.key, V282.nonce, sealed), null, "AD dropped");
    assert.equal(
      impl.open(V282.key, V282.nonce, sealed.subarray(0, sealed.length - 1), V282.ad),
      null,
    );
    assert.equal(impl.open(V282.key, V282.nonce, sealed.subarray(1), V282.ad), null);
  });

  Deno.test(`chacha20poly1305 (${impl.name}): empty and short inputs`, () => {
    const sealed = impl.seal(V282.key, V282.nonce, new Uint8Array(0));
    assert.equal(sealed.length, CHACHA20POLY1305_TAG_LENGTH);
    assert.deepEqual(impl.open(V282.key, V282.nonce, sealed), new Uint8Array(0));
    assert.deepEqual(impl.open(V282.key, V282.nonce, sealed, new Uint8Array(0)), new Uint8Array(0));
    for (let n = 0; n < CHACHA20POLY1305_TAG_LENGTH; n++) {
      assert.equal(impl.open(V282.key, V282.nonce, new Uint8Array(n)), null);
    }
  });

  Deno.test(`chacha20poly1305 (${impl.name}): wrong key or nonce length is a RangeError`, () => {
    const p = new Uint8Array(10);
    assert.throws(() => impl.seal(new Uint8Array(16), V282.nonce, p), RangeError);
    assert.throws(() => impl.seal(V282.key, new Uint8Array(24), p), RangeError);
    assert.throws(() => impl.open(new Uint8Array(31), V282.nonce, new Uint8Array(32)), RangeError);
    assert.throws(() => impl.open(V282.key, new Uint8Array(8), new Uint8Array(32)), RangeError);
    assert.throws(() => impl.open(V282.key, new Uint8Array(8), new Uint8Array(3)), RangeError);
  });
}

Deno.test("chacha20poly1305: the WebAssembly module equals the reference over 10,000 random inputs", () => {
  const random = seededRandom();
  const n = 10_000;
  for (let i = 0; i < n; i++) {
    const where = `seed ${random.seed}, case ${i}`;
    const key = random.bytes(32);
    const nonce = random.bytes(12);
    const plaintext = random.bytes(random.below(2001));
    const adLength = random.below(2001);
    // An absent AD and an empty one must mean the same thing.
    const ad = adLength === 0 && i % 2 === 0 ? undefined : random.bytes(adLength);

    const native = chachaSeal(key, nonce, plaintext, ad);
    const reference = chachaSealReference(key, nonce, plaintext, ad);
    assert.equal(toHex(native), toHex(reference), where);

    assert.equal(toHex(chachaOpen(key, nonce, reference, ad)!), toHex(plaintext), where);
    assert.equal(toHex(chachaOpenReference(key, nonce, native, ad)!), toHex(plaintext), where);

    // One flipped bit in the ciphertext, the tag or the AD.
    const adBits = (ad?.length ?? 0) * 8;
    const bit = random.below(native.length * 8 + adBits);
    const tampered = bit < native.length * 8 ? flipBit(native, bit) : native;
    const tamperedAd = bit < native.length * 8 ? ad : flipBit(ad!, bit - native.length * 8);
    assert.equal(chachaOpen(key, nonce, tampered, tamperedAd), null, `${where}, bit ${bit}`);
    assert.equal(
      chachaOpenReference(key, nonce, tampered, tamperedAd),
      null,
      `${where}, bit ${bit}`,
    );
  }
});

Deno.test("chachaSealInto: writes after a header and returns the length", () => {
  const header = 16;
  const out = new Uint8Array(header + V282.plaintext.length + CHACHA20POLY1305_TAG_LENGTH + 8);
  out.fill(0xaa);
  const written = chachaSealInto(
    out.subarray(header),
    V282.key,
    V282.nonce,
    V282.plaintext,
    V282.ad,
  );
  assert.equal(written, V282.plaintext.length + CHACHA20POLY1305_TAG_LENGTH);
  assert.equal(
    toHex(out.subarray(header, header + written)),
    toHex(fromHex(V282.ciphertext + V282.tag)),
  );
  assert.ok(out.subarray(0, header).every((b) => b === 0xaa), "header overwritten");
  assert.ok(out.subarray(header + written).every((b) => b === 0xaa), "tail overwritten");
  const opened = new Uint8Array(header + V282.plaintext.length);
  const length = chachaOpenInto(
    opened.subarray(header),
    V282.key,
    V282.nonce,
    out.subarray(header, header + written),
    V282.ad,
  );
  assert.equal(length, V282.plaintext.length);
  assert.deepEqual(opened.subarray(header), V282.plaintext);
});

Deno.test("chachaSealInto and chachaOpenInto: in place", () => {
  const buffer = new Uint8Array(V282.plaintext.length + CHACHA20POLY1305_TAG_LENGTH);
  buffer.set(V282.plaintext);
  const plain = buffer.subarray(0, V282.plaintext.length);
  chachaSealInto(buffer, V282.key, V282.nonce, plain, V282.ad);
  assert.equal(toHex(buffer), toHex(fromHex(V282.ciphertext + V282.tag)));
  const length = chachaOpenInto(buffer, V282.key, V282.nonce, buffer, V282.ad);
  assert.equal(length, V282.plaintext.length);
  assert.deepEqual(buffer.subarray(0, length), V282.plaintext);
});

Deno.test("chachaOpenInto: returns -1 and leaves the output untouched when forged", () => {
  const sealed = flipBit(fromHex(V282.ciphertext + V282.tag), 7);
  const out = new Uint8Array(sealed.length).fill(0x55);
  assert.equal(chachaOpenInto(out, V282.key, V282.nonce, sealed, V282.ad), -1);
  assert.ok(out.every((b) => b === 0x55));
  assert.equal(chachaOpenInto(out, V282.key, V282.nonce, new Uint8Array(15)), -1);
});

Deno.test("chachaSealInto and chachaOpenInto: too small an output is a RangeError", () => {
  const sealed = fromHex(V282.ciphertext + V282.tag);
  assert.throws(
    () => chachaSealInto(new Uint8Array(sealed.length - 1), V282.key, V282.nonce, V282.plaintext),
    RangeError,
  );
  assert.throws(
    () => chachaOpenInto(new Uint8Array(V282.plaintext.length - 1), V282.key, V282.nonce, sealed),
    RangeError,
  );
});

Deno.test("chachaSeal: inputs are not modified", () => {
  const plaintext = V282.plaintext.slice();
  const ad = V282.ad.slice();
  const sealed = chachaSeal(V282.key, V282.nonce, plaintext, ad);
  const copy = sealed.slice();
  chachaOpen(V282.key, V282.nonce, sealed, ad);
  assert.deepEqual(plaintext, V282.plaintext);
  assert.deepEqual(ad, V282.ad);
  assert.deepEqual(sealed, copy);
});

Deno.test("chacha20poly1305: AD and text past the module's 128 KiB are a RangeError, not a truncation", () => {
  const key = new Uint8Array(32);
  const nonce = new Uint8Array(12);
  const largest = 128 * 1024 + 1024 - 64; // the scratch region less the key, nonce and tag
  assert.equal(chachaSeal(key, nonce, new Uint8Array(largest)).length, largest + 16);
  assert.throws(() => chachaSeal(key, nonce, new Uint8Array(largest + 1)), RangeError);
  assert.throws(
    () => chachaSeal(key, nonce, new Uint8Array(64 * 1024), new Uint8Array(80_000)),
    RangeError,
  );
  const sealed = chachaSealReference(key, nonce, new Uint8Array(largest + 1));
  assert.throws(() => chachaOpen(key, nonce, sealed), RangeError);
  assert.deepEqual(
    chachaOpen(key, nonce, chachaSeal(key, nonce, new Uint8Array(largest))),
    new Uint8Array(largest),
  );
});

// RFC 8439 Appendix A.3, the vectors whose reductions wrap (#5–#11): each is
// checked against @noble's Poly1305 as well as the RFC's tag.
const R1 = "01000000000000000000000000000000";
const R2 = "02000000000000000000000000000000";
const ZERO16 = "00000000000000000000000000000000";
const FF16 = "ffffffffffffffffffffffffffffffff";
const R10 = "01000000000000000400000000000000";
const M10 = "e33594d7505e43b900000000000000003394d7505e4379cd01000000000000000" +
  "000000000000000000000000000000001000000000000000000000000000000";
const POLY_EDGES = [
  { name: "#5", key: R2 + ZERO16, message: FF16, tag: "03" + "00".repeat(15) },
  { name: "#6", key: R2 + FF16, message: "02" + "00".repeat(15), tag: "03" + "00".repeat(15) },
  {
    name: "#7",
    key: R1 + ZERO16,
    message: FF16 + "f0" + "ff".repeat(15) + "11" + "00".repeat(15),
    tag: "05" + "00".repeat(15),
  },
  {
    name: "#8",
    key: R1 + ZERO16,
    message: FF16 + "fb" + "fe".repeat(15) + "01".repeat(16),
    tag: ZERO16,
  },
  { name: "#9", key: R2 + ZERO16, message: "fd" + "ff".repeat(15), tag: "fa" + "ff".repeat(15) },
  { name: "#10", key: R10 + ZERO16, message: M10, tag: "14000000000000005500000000000000" },
  {
    name: "#11",
    key: R10 + ZERO16,
    message: M10.slice(0, 96),
    tag: "13000000000000000000000000000000",
  },
];

for (const edge of POLY_EDGES) {
  Deno.test(`poly1305 (wasm): RFC 8439 A.3 ${edge.name} wraps mod 2^130 − 5 right`, () => {
    const key = fromHex(edge.key);
    const message = fromHex(edge.message);
    assert.equal(toHex(poly1305(message, key)), edge.tag, "@noble disagrees with the RFC vector");
    assert.equal(toHex(poly1305WholeBlocks(key, message)), edge.tag);
  });
}

Deno.test("poly1305 (wasm): equals @noble with the largest r and all-ones blocks", () => {
  const random = seededRandom();
  for (let i = 0; i < 2000; i++) {
    const key = i % 2 === 0 ? new Uint8Array(32).fill(0xff) : random.bytes(32);
    const blocks = random.below(130);
    const message = i % 3 === 0
      ? new Uint8Array(16 * blocks).fill(0xff)
      : random.bytes(16 * blocks);
    assert.equal(
      toHex(poly1305WholeBlocks(key, message)),
      toHex(poly1305(message, key)),
      `seed ${random.seed}, case ${i}`,
    );
  }
  assert.throws(() => poly1305WholeBlocks(new Uint8Array(32), new Uint8Array(15)), RangeError);
});
