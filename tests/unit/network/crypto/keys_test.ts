import assert from "node:assert/strict";
import { inspect } from "node:util";
import {
  DiscoPrivateKey,
  DiscoPublicKey,
  KeyParseError,
  MachinePrivateKey,
  MachinePublicKey,
  NodePrivateKey,
  NodePublicKey,
} from "../../../../network/crypto/keys.ts";
import { WeakSharedSecretError } from "../../../../network/crypto/x25519.ts";
import { fromHex, toHex } from "./hex.ts";

// RFC 7748 §6.1. The private keys are given unclamped; X25519 clamps them.
const ALICE_PRIVATE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const ALICE_PUBLIC = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const BOB_PRIVATE = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const BOB_PUBLIC = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
// ALICE_PRIVATE clamped: byte 0 & 0xf8, byte 31 & 0x7f | 0x40.
const ALICE_CLAMPED = "70076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c6a";

const PUBLIC_TYPES = [
  { type: MachinePublicKey, prefix: "mkey:" },
  { type: NodePublicKey, prefix: "nodekey:" },
  { type: DiscoPublicKey, prefix: "discokey:" },
] as const;

const PRIVATE_TYPES = [
  { type: MachinePrivateKey, name: "machine" },
  { type: NodePrivateKey, name: "node" },
  { type: DiscoPrivateKey, name: "disco" },
] as const;

Deno.test("public keys: text round trip for mkey:, nodekey:, discokey:", () => {
  for (const { type, prefix } of PUBLIC_TYPES) {
    assert.equal(type.PREFIX, prefix);
    const key = type.parse(prefix + ALICE_PUBLIC);
    assert.equal(toHex(key.bytes), ALICE_PUBLIC);
    assert.equal(key.toText(), prefix + ALICE_PUBLIC);
    assert.equal(JSON.stringify(key), JSON.stringify(prefix + ALICE_PUBLIC));
    assert.ok(type.parse(key.toText()).equals(key));
    // Upper-case hex parses; the text form is always lower case.
    assert.equal(type.parse(prefix + ALICE_PUBLIC.toUpperCase()).toText(), prefix + ALICE_PUBLIC);
  }
});

Deno.test("public keys: parse errors", () => {
  for (const { type, prefix } of PUBLIC_TYPES) {
    const bad = [
      ALICE_PUBLIC, // no prefix
      (prefix === "mkey:" ? "nodekey:" : "mkey:") + ALICE_PUBLIC, // wrong prefix
      prefix.toUpperCase() + ALICE_PUBLIC,
      prefix + ALICE_PUBLIC.slice(1), // 63 hex digits
      prefix + ALICE_PUBLIC + "0", // 65
      prefix + ALICE_PUBLIC.slice(0, 62) + "zz", // not hex
      prefix + ALICE_PUBLIC.slice(0, 62) + " 0",
      prefix + " " + ALICE_PUBLIC,
      prefix,
      "",
    ];
    for (const text of bad) {
      assert.throws(
        () => type.parse(text),
        KeyParseError,
        `${prefix} accepted ${JSON.stringify(text)}`,
      );
    }
    assert.throws(() => type.parse(undefined as unknown as string), KeyParseError);
    assert.throws(() => new type(new Uint8Array(31)), KeyParseError);
  }
  assert.throws(
    () => NodePublicKey.parse("mkey:" + ALICE_PUBLIC),
    (error: unknown) =>
      error instanceof KeyParseError && error.name === "KeyParseError" &&
      error.message.includes('"nodekey:"'),
  );
});

Deno.test("public keys: toShortString is the prefix, 8 hex digits and …", () => {
  const key = NodePublicKey.parse("nodekey:" + ALICE_PUBLIC);
  assert.equal(key.toShortString(), "nodekey:8520f009…");
  assert.match(key.toShortString(), /^nodekey:[0-9a-f]{8}…$/);
  assert.equal(String(key), "nodekey:8520f009…");
  assert.equal(`${key}`, key.toShortString());
  assert.equal(
    DiscoPublicKey.parse("discokey:" + BOB_PUBLIC).toShortString(),
    "discokey:de9edb7d…",
  );
  assert.equal(MachinePublicKey.parse("mkey:" + BOB_PUBLIC).toShortString(), "mkey:de9edb7d…");
});

Deno.test("public keys: equality, zero, and a private copy of the bytes", () => {
  const bytes = fromHex(ALICE_PUBLIC);
  const node = new NodePublicKey(bytes);
  bytes[0] ^= 0xff;
  assert.equal(node.toText(), "nodekey:" + ALICE_PUBLIC, "key shares the caller's array");
  assert.ok(node.equals(NodePublicKey.parse("nodekey:" + ALICE_PUBLIC)));
  assert.ok(!node.equals(NodePublicKey.parse("nodekey:" + BOB_PUBLIC)));
  assert.ok(!node.equals(DiscoPublicKey.parse("discokey:" + ALICE_PUBLIC)), "different kinds");
  assert.ok(!node.equals(null) && !node.equals(undefined));
  assert.ok(NodePublicKey.zero().isZero() && !node.isZero());
  assert.equal(MachinePublicKey.zero().toText(), "mkey:" + "0".repeat(64));
  assert.ok(DiscoPublicKey.zero().equals(new DiscoPublicKey(new Uint8Array(32))));
});

Deno.test("private keys: text round trip with privkey:", () => {
  for (const { type } of PRIVATE_TYPES) {
    const key = type.parse("privkey:" + ALICE_CLAMPED);
    assert.equal(key.toText(), "privkey:" + ALICE_CLAMPED);
    assert.equal(toHex(key.secret), ALICE_CLAMPED);
    assert.ok(type.parse(key.toText()).equals(key));
    assert.ok(type.fromBytes(fromHex(ALICE_CLAMPED)).equals(key));
    assert.ok(!key.equals(type.parse("privkey:" + BOB_PRIVATE)));
  }
  assert.ok(
    !NodePrivateKey.parse("privkey:" + ALICE_CLAMPED).equals(
      DiscoPrivateKey.parse("privkey:" + ALICE_CLAMPED),
    ),
  );
});

Deno.test("private keys: parse errors never echo the input", () => {
  for (const { type } of PRIVATE_TYPES) {
    const bad = [
      ALICE_PRIVATE,
      "nodekey:" + ALICE_PRIVATE,
      "privkey:" + ALICE_PRIVATE.slice(1),
      "privkey:" + ALICE_PRIVATE.slice(0, 63) + "g",
      "privkey:" + ALICE_PRIVATE + "00",
    ];
    for (const text of bad) {
      try {
        type.parse(text);
        assert.fail(`accepted ${text.slice(0, 12)}…`);
      } catch (error) {
        assert.ok(error instanceof KeyParseError);
        assert.ok(!error.message.includes(ALICE_PRIVATE.slice(1, 40)), "message leaks the secret");
      }
    }
    assert.throws(() => type.fromBytes(new Uint8Array(33)), KeyParseError);
  }
});

Deno.test("private keys: parsed and raw keys are clamped (RFC 7748 §5)", () => {
  const unclamped = "ff".repeat(32);
  for (const { type } of PRIVATE_TYPES) {
    const rfc = type.parse("privkey:" + ALICE_PRIVATE);
    assert.equal(rfc.toText(), "privkey:" + ALICE_CLAMPED);
    assert.ok(rfc.equals(type.parse("privkey:" + ALICE_CLAMPED)));
    const parsed = type.parse("privkey:" + unclamped);
    assert.equal(parsed.toText(), "privkey:f8" + "ff".repeat(30) + "7f");
    const raw = new Uint8Array(32);
    const fromBytes = type.fromBytes(raw);
    assert.equal(fromBytes.secret[0] & 7, 0);
    assert.equal(fromBytes.secret[31], 0x40);
    assert.ok(raw.every((b) => b === 0), "fromBytes clamped the caller's array");
  }
});

Deno.test("private keys: generated keys are clamped and use the injected random source", () => {
  for (const { type } of PRIVATE_TYPES) {
    let calls = 0;
    const key = type.generate((n) => {
      calls++;
      assert.equal(n, 32);
      return new Uint8Array(n).fill(0xff);
    });
    assert.equal(calls, 1);
    assert.equal(key.toText(), "privkey:f8" + "ff".repeat(30) + "7f");
    for (let i = 0; i < 20; i++) {
      const s = type.generate().secret;
      assert.equal(s[0] & 7, 0);
      assert.equal(s[31] & 0xc0, 0x40);
    }
    assert.ok(!type.generate().equals(type.generate()));
  }
});

Deno.test("private keys: never printed by String, JSON, Deno.inspect or node inspect", () => {
  for (const { type } of PRIVATE_TYPES) {
    const key = type.parse("privkey:" + ALICE_PRIVATE);
    const secret = toHex(key.secret);
    const decimalRun = Array.from(key.secret.subarray(0, 4)).join(", ");
    const hexRun = Array.from(
      key.secret.subarray(0, 4),
      (b) => "0x" + b.toString(16).padStart(2, "0"),
    )
      .join(", ");
    const renderings = [
      String(key),
      `${key}`,
      key.toString(),
      JSON.stringify(key),
      JSON.stringify({ key }),
      Deno.inspect(key),
      Deno.inspect({ nested: { key } }, { depth: 10, showHidden: true }),
      Deno.inspect([key], { showHidden: true }),
      inspect(key, { showHidden: true, depth: 10 }),
      inspect({ key }),
      Object.keys(key).join(","),
      JSON.stringify(Object.entries(key)),
    ];
    for (const text of renderings) {
      assert.ok(!text.includes(secret), `secret printed: ${text.slice(0, 40)}`);
      assert.ok(!text.includes(secret.slice(0, 16)), "secret prefix printed");
      assert.ok(!text.includes(decimalRun) && !text.includes(hexRun), "secret bytes printed");
    }
    assert.equal(String(key), "privkey:[redacted]");
    assert.equal(Deno.inspect(key), "privkey:[redacted]");
    assert.equal(JSON.stringify(key), '"privkey:[redacted]"');
  }
});

Deno.test("private keys: public key derivation and shared secret match RFC 7748 §6.1", () => {
  const alice = NodePrivateKey.parse("privkey:" + ALICE_PRIVATE);
  const bob = NodePrivateKey.parse("privkey:" + BOB_PRIVATE);
  assert.equal(alice.publicKey().toText(), "nodekey:" + ALICE_PUBLIC);
  assert.equal(bob.publicKey().toText(), "nodekey:" + BOB_PUBLIC);
  assert.ok(alice.publicKey() instanceof NodePublicKey);
  assert.equal(
    MachinePrivateKey.parse("privkey:" + ALICE_PRIVATE).publicKey().toText(),
    "mkey:" + ALICE_PUBLIC,
  );
  assert.equal(
    DiscoPrivateKey.parse("privkey:" + BOB_PRIVATE).publicKey().toText(),
    "discokey:" + BOB_PUBLIC,
  );
  assert.equal(toHex(alice.sharedSecret(bob.publicKey())), SHARED);
  assert.equal(toHex(bob.sharedSecret(alice.publicKey())), SHARED);
  assert.throws(() => alice.sharedSecret(NodePublicKey.zero()), WeakSharedSecretError);
});
