import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { hkdf, kdf1, kdf2, kdf3, noiseKdf } from "../../../../network/crypto/hkdf.ts";
import { blake2s } from "../../../../network/crypto/blake2s.ts";
import { countingBytes, fromHex, toHex } from "./hex.ts";
import { seededRandom } from "./seeded_random.ts";

const text = (s: string) => new TextEncoder().encode(s);

// RFC 5869 Appendix A, test cases 1 to 3 (SHA-256).
const RFC5869 = [
  {
    ikm: fromHex("0b".repeat(22)),
    salt: countingBytes(13),
    info: countingBytes(10, 0xf0),
    length: 42,
    okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
  },
  {
    ikm: countingBytes(80),
    salt: countingBytes(80, 0x60),
    info: countingBytes(80, 0xb0),
    length: 82,
    okm: `
      b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c
      59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71
      cc30c58179ec3e87c14c01d5c1f3434f1d87`,
  },
  {
    ikm: fromHex("0b".repeat(22)),
    salt: new Uint8Array(0),
    info: new Uint8Array(0),
    length: 42,
    okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
  },
];

Deno.test("hkdf: RFC 5869 test cases 1-3 (SHA-256)", () => {
  for (const [i, v] of RFC5869.entries()) {
    assert.equal(
      toHex(hkdf("sha256", v.ikm, v.salt, v.info, v.length)),
      toHex(fromHex(v.okm)),
      `case ${i + 1}`,
    );
  }
  // Test case 3's salt and info are empty: absent ones mean the same.
  assert.equal(
    toHex(hkdf("sha256", RFC5869[2].ikm, undefined, undefined, 42)),
    toHex(fromHex(RFC5869[2].okm)),
  );
});

Deno.test("hkdf: BLAKE2s flavour, test case 1's inputs (computed with Python)", () => {
  const v = RFC5869[0];
  assert.equal(
    toHex(hkdf("blake2s", v.ikm, v.salt, v.info, 42)),
    "1472c31f2ff768c71b19f8803683ee3b13c1a5fb3ea59c0c3bf0d44a4a40dcd4329d9cd85bbe35a1b3e7",
  );
});

// The Noise HKDF written out with node:crypto's HMAC-BLAKE2s, an
// implementation independent of the one under test.
function directNoiseKdf(chainingKey: Uint8Array, input: Uint8Array, count: number): string[] {
  const mac = (key: Uint8Array, ...parts: Uint8Array[]) => {
    const h = createHmac("blake2s256", key);
    for (const part of parts) h.update(part);
    return new Uint8Array(h.digest());
  };
  const prk = mac(chainingKey, input);
  const out: string[] = [];
  let previous = new Uint8Array(0);
  for (let i = 1; i <= count; i++) {
    previous = mac(prk, previous, Uint8Array.of(i));
    out.push(toHex(previous));
  }
  return out;
}

Deno.test("noiseKdf, kdf1, kdf2, kdf3: equal a direct HMAC-BLAKE2s construction", () => {
  const random = seededRandom();
  for (let i = 0; i < 200; i++) {
    const ck = random.bytes(32);
    const input = random.bytes([0, 32, random.below(200)][i % 3]);
    const expected = directNoiseKdf(ck, input, 3);
    const where = `seed ${random.seed}, case ${i}`;
    assert.deepEqual(noiseKdf(ck, input, 3).map(toHex), expected, where);
    assert.deepEqual(noiseKdf(ck, input, 2).map(toHex), expected.slice(0, 2), where);
    assert.equal(toHex(kdf1(ck, input)), expected[0], where);
    assert.deepEqual(kdf2(ck, input).map(toHex), expected.slice(0, 2), where);
    assert.deepEqual(kdf3(ck, input).map(toHex), expected, where);
  }
});

// WireGuard whitepaper §5.4.2: Ci = HASH(CONSTRUCTION), Hi = HASH(Ci || IDENTIFIER).
const CONSTRUCTION_HASH = "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36";

Deno.test("noise kdf: from WireGuard's initial chaining key (computed with Python)", () => {
  const ck0 = blake2s(text("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"));
  assert.equal(toHex(ck0), CONSTRUCTION_HASH);
  assert.equal(
    toHex(blake2s([ck0, text("WireGuard v1 zx2c4 Jason@zx2c4.com")])),
    "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3",
  );
  assert.equal(
    toHex(blake2s(text("Noise_IK_25519_ChaChaPoly_BLAKE2s"))),
    "bbea022b948cf3bc5857d70804229179e1116bc40cb8cc074835349c464bca36",
  );
  // The first step of an initiation: Ci = KDF1(Ci, Ei_pub), here with RFC 7748's Alice key.
  const ephemeral = fromHex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  assert.deepEqual(kdf3(ck0, ephemeral).map(toHex), [
    "354bb2ffe6e5ab22a00e1131aa1cc55ccaa5a90624d163853dc2da76da62ac92",
    "c3185508ce23547de1a5fb6f2c86704bf829565895423f1ad862c1c18df23ff4",
    "327b0f0bc544fe600a5fdfb0e14f1c7500cc4979528f55bff484c5bd6d6f2346",
  ]);
  assert.equal(
    toHex(kdf1(ck0, new Uint8Array(0))),
    "bd968725a9177942a8c2e4253d1dde31cf7b19ec001b4a3a3d141cd9d998d3ba",
  );
});

Deno.test("noiseKdf: inputs are not modified", () => {
  const ck = countingBytes(32);
  const input = countingBytes(32, 100);
  noiseKdf(ck, input, 3);
  assert.deepEqual(ck, countingBytes(32));
  assert.deepEqual(input, countingBytes(32, 100));
});
