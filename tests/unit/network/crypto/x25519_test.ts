import assert from "node:assert/strict";
import {
  clampPrivateKey,
  generatePrivateKey,
  publicKeyFromPrivate,
  WeakSharedSecretError,
  x25519,
} from "../../../../network/crypto/x25519.ts";
import {
  publicKeyFromPrivateReference,
  x25519Reference,
} from "../../../../network/crypto/x25519_reference.ts";
import { fromHex, toHex } from "./hex.ts";
import { seededRandom } from "./seeded_random.ts";

const IMPLEMENTATIONS = [
  { name: "native", x25519, publicKeyFromPrivate },
  {
    name: "reference",
    x25519: x25519Reference,
    publicKeyFromPrivate: publicKeyFromPrivateReference,
  },
];

// RFC 7748 §5.2: scalars are given unclamped; X25519 clamps them itself.
const RFC7748_5_2 = [
  {
    scalar: "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
    u: "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
    out: "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
  },
  {
    scalar: "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
    u: "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
    out: "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
  },
];

// RFC 7748 §5.2, the iterated test: k = u = 9, then k, u = X25519(k, u), k.
const RFC7748_ITERATED = {
  1: "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
  1000: "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
};

// RFC 7748 §6.1.
const ALICE_PRIVATE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const ALICE_PUBLIC = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const BOB_PRIVATE = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const BOB_PUBLIC = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

// u-coordinates of small order (0, 1, p-1 and the two points of order 8),
// and the non-canonical encodings p and p+1 that reduce to 0 and 1.
const LOW_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

function withHighBit(hex: string): Uint8Array {
  const bytes = fromHex(hex);
  bytes[31] |= 0x80;
  return bytes;
}

for (const impl of IMPLEMENTATIONS) {
  Deno.test(`x25519 (${impl.name}): RFC 7748 §5.2 single vectors`, () => {
    for (const v of RFC7748_5_2) {
      assert.equal(toHex(impl.x25519(fromHex(v.scalar), fromHex(v.u))), v.out);
    }
  });

  Deno.test(`x25519 (${impl.name}): RFC 7748 §5.2 iterated, 1 and 1,000 rounds`, () => {
    let k: Uint8Array = fromHex("09".padEnd(64, "0"));
    let u: Uint8Array = k.slice();
    for (let i = 1; i <= 1000; i++) {
      const next = impl.x25519(k, u);
      u = k;
      k = next;
      if (i === 1) assert.equal(toHex(k), RFC7748_ITERATED[1]);
    }
    assert.equal(toHex(k), RFC7748_ITERATED[1000]);
  });

  Deno.test(`x25519 (${impl.name}): RFC 7748 §6.1 Diffie-Hellman`, () => {
    assert.equal(toHex(impl.publicKeyFromPrivate(fromHex(ALICE_PRIVATE))), ALICE_PUBLIC);
    assert.equal(toHex(impl.publicKeyFromPrivate(fromHex(BOB_PRIVATE))), BOB_PUBLIC);
    assert.equal(toHex(impl.x25519(fromHex(ALICE_PRIVATE), fromHex(BOB_PUBLIC))), SHARED);
    assert.equal(toHex(impl.x25519(fromHex(BOB_PRIVATE), fromHex(ALICE_PUBLIC))), SHARED);
  });

  Deno.test(`x25519 (${impl.name}): low-order public keys throw WeakSharedSecretError`, () => {
    const priv = fromHex(ALICE_PRIVATE);
    for (const hex of LOW_ORDER) {
      for (const pub of [fromHex(hex), withHighBit(hex)]) {
        assert.throws(() => impl.x25519(priv, pub), WeakSharedSecretError, toHex(pub));
      }
    }
    try {
      impl.x25519(priv, new Uint8Array(32));
      assert.fail("all-zero public key accepted");
    } catch (error) {
      assert.ok(error instanceof WeakSharedSecretError);
      assert.equal(error.name, "WeakSharedSecretError");
    }
  });

  Deno.test(`x25519 (${impl.name}): u is masked to 255 bits and reduced mod p`, () => {
    const priv = fromHex(ALICE_PRIVATE);
    // 9 + 2^255 and p + 9 are both the base point.
    assert.equal(toHex(impl.x25519(priv, withHighBit("09".padEnd(64, "0")))), ALICE_PUBLIC);
    const pPlus9 = "f6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";
    assert.equal(toHex(impl.x25519(priv, fromHex(pPlus9))), ALICE_PUBLIC);
    assert.equal(
      toHex(impl.x25519(fromHex(ALICE_PRIVATE), withHighBit(BOB_PUBLIC))),
      SHARED,
    );
  });

  Deno.test(`x25519 (${impl.name}): wrong key lengths are RangeErrors`, () => {
    const good = fromHex(ALICE_PRIVATE);
    assert.throws(() => impl.x25519(good, new Uint8Array(31)), RangeError);
    assert.throws(() => impl.x25519(new Uint8Array(33), fromHex(BOB_PUBLIC)), RangeError);
    assert.throws(() => impl.publicKeyFromPrivate(new Uint8Array(0)), RangeError);
  });
}

Deno.test("x25519: native equals reference over 10,000 random key pairs", () => {
  const random = seededRandom();
  const n = 10_000;
  for (let i = 0; i < n; i++) {
    // Unclamped scalars and u with the top bit set half the time: both must
    // clamp and mask the same way.
    const scalar = random.bytes(32);
    const u = random.bytes(32);
    const native = x25519(scalar, u);
    const reference = x25519Reference(scalar, u);
    assert.equal(toHex(native), toHex(reference), `seed ${random.seed}, case ${i}`);
    if (i % 5 === 0) {
      assert.equal(
        toHex(publicKeyFromPrivate(scalar)),
        toHex(publicKeyFromPrivateReference(scalar)),
        `seed ${random.seed}, case ${i}`,
      );
    }
  }
});

Deno.test("x25519: a shared secret is the same from both sides", () => {
  const random = seededRandom();
  for (let i = 0; i < 50; i++) {
    const a = generatePrivateKey(random.bytes);
    const b = generatePrivateKey(random.bytes);
    assert.deepEqual(
      x25519(a, publicKeyFromPrivate(b)),
      x25519(b, publicKeyFromPrivate(a)),
      `seed ${random.seed}`,
    );
  }
});

Deno.test("x25519: clampPrivateKey and generatePrivateKey clamp as RFC 7748 §5", () => {
  const clamped = clampPrivateKey(new Uint8Array(32).fill(0xff));
  assert.equal(clamped[0], 0xf8);
  assert.equal(clamped[31], 0x7f);
  assert.ok(clamped.subarray(1, 31).every((b) => b === 0xff));
  const zero = clampPrivateKey(new Uint8Array(32));
  assert.equal(zero[31], 0x40);
  const generated = generatePrivateKey(() => new Uint8Array(32).fill(0xff));
  assert.deepEqual(generated, clamped);
  // Clamping does not change the public key: X25519 clamps anyway.
  const raw = fromHex(RFC7748_5_2[0].scalar);
  assert.deepEqual(publicKeyFromPrivate(raw), publicKeyFromPrivate(clampPrivateKey(raw.slice())));
});

Deno.test("x25519: inputs are not modified", () => {
  const priv = fromHex(RFC7748_5_2[0].scalar);
  const pub = withHighBit(BOB_PUBLIC);
  const before = [toHex(priv), toHex(pub)];
  x25519(priv, pub);
  publicKeyFromPrivate(priv);
  assert.deepEqual([toHex(priv), toHex(pub)], before);
});
