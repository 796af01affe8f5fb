import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { blake2s, hmacBlake2s } from "../../../../network/crypto/blake2s.ts";
import { countingBytes, toHex } from "./hex.ts";
import { seededRandom } from "./seeded_random.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("blake2s: RFC 7693 Appendix B", () => {
  assert.equal(
    toHex(blake2s(text("abc"))),
    "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
  );
});

Deno.test("blake2s: empty input and a 16-byte output", () => {
  assert.equal(
    toHex(blake2s(new Uint8Array(0))),
    "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9",
  );
  // The output length is part of the parameter block, so this is no prefix
  // of the 32-byte digest.
  assert.equal(
    toHex(blake2s(text("abc"), { outputLength: 16 })),
    "aa4938119b1dc7b87cbad0ffd200d0ae",
  );
});

// The BLAKE2 reference package's blake2s-kat.txt: key 00 01 … 1f, message
// 00 01 … (length - 1). Lengths at block edges (64) and both sides of them.
const KEYED_KAT: Record<number, string> = {
  0: "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49",
  1: "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1",
  2: "6bb71300644cd3991b26ccd4d274acd1adeab8b1d7914546c1198bbe9fc9d803",
  11: "e33c4c9bd0cc7e45c80e65c77fa5997fec7002738541509e68a9423891e822a3",
  32: "c03bc642b20959cbe133a0303e0c1abff3e31ec8e1a328ec8565c36decff5265",
  63: "c65382513f07460da39833cb666c5ed82e61b9e998f4b0c4287cee56c3cc9bcd",
  64: "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4",
  65: "21fe0ceb0052be7fb0f004187cacd7de67fa6eb0938d927677f2398c132317a8",
  78: "172ffc67153d12e0ca76a8b6cd5d4731885b39ce0cac93a8972a18006c8b8baf",
  191: "91a25ec0ec0d9a567f89c4bfe1a65a0e432d07064b4190e27dfb81901fd3139b",
  255: "3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd",
};

Deno.test("blake2s: keyed vectors from blake2s-kat", () => {
  const key = countingBytes(32);
  for (const [length, digest] of Object.entries(KEYED_KAT)) {
    assert.equal(
      toHex(blake2s(countingBytes(Number(length)), { key })),
      digest,
      `length ${length}`,
    );
  }
});

Deno.test("blake2s: parts hash as their concatenation", () => {
  const whole = countingBytes(200);
  const expected = toHex(blake2s(whole));
  for (const cut of [0, 1, 63, 64, 65, 128, 199, 200]) {
    assert.equal(
      toHex(blake2s([whole.subarray(0, cut), whole.subarray(cut)])),
      expected,
      `cut ${cut}`,
    );
  }
  assert.equal(toHex(blake2s([])), toHex(blake2s(new Uint8Array(0))));
});

Deno.test("hmacBlake2s: equals node:crypto's HMAC with blake2s256", () => {
  const random = seededRandom();
  // Keys shorter than, equal to and longer than the 64-byte block (the last
  // are hashed first, RFC 2104 §2).
  for (const keyLength of [0, 1, 16, 32, 63, 64, 65, 100]) {
    for (const messageLength of [0, 1, 32, 63, 64, 65, 1000]) {
      const key = random.bytes(keyLength);
      const message = random.bytes(messageLength);
      const expected = createHmac("blake2s256", key).update(message).digest("hex");
      const where = `seed ${random.seed}, key ${keyLength}, message ${messageLength}`;
      assert.equal(toHex(hmacBlake2s(key, message)), expected, where);
      const cut = random.below(messageLength + 1);
      assert.equal(
        toHex(hmacBlake2s(key, [message.subarray(0, cut), message.subarray(cut)])),
        expected,
        where,
      );
    }
  }
});

// Fixed answers computed with Python's hmac and hashlib.blake2s, an
// implementation independent of both @noble and node:crypto.
Deno.test("hmacBlake2s: fixed answers", () => {
  assert.equal(
    toHex(hmacBlake2s(text("key"), text("The quick brown fox jumps over the lazy dog"))),
    "f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0",
  );
  assert.equal(
    toHex(hmacBlake2s(countingBytes(32), countingBytes(64))),
    "3b35e945d05ac982850451ac8b6cdfffb98e56f50b95272fab665de081691056",
  );
});

Deno.test("blake2s: Noise protocol-name hashes (WireGuard's initial chaining key)", () => {
  assert.equal(
    toHex(blake2s(text("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"))),
    "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36",
  );
  assert.equal(
    toHex(blake2s(text("Noise_IK_25519_ChaChaPoly_BLAKE2s"))),
    "bbea022b948cf3bc5857d70804229179e1116bc40cb8cc074835349c464bca36",
  );
});
