/**
 * Sealed disco packets: our sealer writes the exact bytes Go's
 * `DiscoShared.Seal` wrote for the same nonce, our opener reads Go's packets,
 * recognition on the shared socket, and hostile packets (never a throw).
 */

import assert from "node:assert/strict";
import { DiscoPrivateKey, DiscoPublicKey } from "../../../../network/crypto/keys.ts";
import type { RandomSource } from "../../../../network/crypto/random.ts";
import {
  DISCO_HEADER_LENGTH,
  DISCO_MAGIC,
  DISCO_MIN_PACKET_LENGTH,
  discoPacketSender,
  DiscoSharedKey,
  looksLikeDiscoPacket,
  openDiscoPacket,
  sealDiscoMessage,
} from "../../../../network/disco/disco_packet.ts";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import {
  describeMessage,
  fromHex,
  loadDiscoVectors,
  messageFromFields,
  toHex,
  vectorKeys,
} from "./disco_vectors.ts";
import { seededRandom } from "./seeded_random.ts";

const vectors = loadDiscoVectors();
const { sender, recipient } = vectorKeys(vectors);

function fixedRandom(bytes: Uint8Array): RandomSource {
  return (length) => {
    assert.equal(length, bytes.length, "the sealer asks for exactly one nonce");
    return bytes.slice();
  };
}

Deno.test("disco packet: the vector keys are the ones Go derived", () => {
  assert.equal(toHex(sender.publicKey().bytes), vectors.senderDiscoPublic);
  assert.equal(toHex(recipient.publicKey().bytes), vectors.recipientDiscoPublic);
});

for (const vector of vectors.messages) {
  Deno.test(`disco packet: ${vector.name} seals to Go's bytes for the same nonce`, () => {
    const message = messageFromFields(vector.fields);
    const packet = sealDiscoMessage(
      message,
      sender,
      recipient.publicKey(),
      fixedRandom(fromHex(vector.nonce)),
    );
    assert.equal(toHex(packet), vector.packet);
    // And with a precomputed key.
    const shared = DiscoSharedKey.derive(sender, recipient.publicKey());
    const again = sealDiscoMessage(
      message,
      sender,
      recipient.publicKey(),
      fixedRandom(fromHex(vector.nonce)),
      shared,
    );
    assert.equal(toHex(again), vector.packet);
  });

  Deno.test(`disco packet: ${vector.name} sealed by Go opens and parses`, () => {
    const opened = openDiscoPacket(fromHex(vector.packet), recipient, () => true);
    assert.ok(opened.ok, `open failed: ${!opened.ok && opened.reason}`);
    assert.ok(opened.sender.equals(sender.publicKey()));
    assert.deepEqual(describeMessage(opened.message), vector.fields);
  });
}

Deno.test("disco packet: recognition on the shared UDP socket (§2.2)", () => {
  const packet = fromHex(vectors.messages[0].packet);
  assert.equal(looksLikeDiscoPacket(packet), true);
  // Magic and sender key are enough to be taken for disco (magicsock's discoHeaderLen) …
  assert.equal(looksLikeDiscoPacket(packet.subarray(0, DISCO_HEADER_LENGTH)), true);
  // … one byte less is not.
  assert.equal(looksLikeDiscoPacket(packet.subarray(0, DISCO_HEADER_LENGTH - 1)), false);
  assert.equal(looksLikeDiscoPacket(new Uint8Array(0)), false);
  // WireGuard messages start 01..04 00 00 00.
  for (const type of [1, 2, 3, 4]) {
    const wg = new Uint8Array(148);
    wg[0] = type;
    assert.equal(looksLikeDiscoPacket(wg), false);
  }
  // A STUN binding request: cookie at offset 4.
  const stun = fromHex("000100002112a442" + "00".repeat(32));
  assert.equal(looksLikeDiscoPacket(stun), false);
  for (let i = 0; i < DISCO_MAGIC.length; i++) {
    const bent = packet.slice();
    bent[i] ^= 0x01;
    assert.equal(looksLikeDiscoPacket(bent), false, `magic byte ${i}`);
  }
  assert.ok(discoPacketSender(packet)?.equals(sender.publicKey()));
  assert.equal(discoPacketSender(packet.subarray(0, 10)), null);
});

Deno.test("disco packet: round trip between two fresh keys in both directions", () => {
  const a = DiscoPrivateKey.generate();
  const b = DiscoPrivateKey.generate();
  const txId = crypto.getRandomValues(new Uint8Array(12));
  const src = AddrPort.parse("[fd7a:115c:a1e0::1]:41641");
  const ab = sealDiscoMessage(
    { type: "pong", txId, src },
    a,
    b.publicKey(),
    (n) => crypto.getRandomValues(new Uint8Array(n)),
  );
  const ba = sealDiscoMessage(
    { type: "call-me-maybe", endpoints: [src] },
    b,
    a.publicKey(),
    (n) => crypto.getRandomValues(new Uint8Array(n)),
  );
  const atB = openDiscoPacket(ab, b, (k) => k.equals(a.publicKey()));
  const atA = openDiscoPacket(ba, a, (k) => DiscoSharedKey.derive(a, k));
  assert.ok(atB.ok && atB.message.type === "pong" && atB.message.src.equals(src));
  assert.ok(atA.ok && atA.message.type === "call-me-maybe");
  assert.deepEqual(
    atA.ok && atA.message.type === "call-me-maybe" && atA.message.endpoints.map(String),
    [
      src.toString(),
    ],
  );
  // Two seals of one message differ: the nonce is fresh each time.
  const again = sealDiscoMessage(
    { type: "pong", txId, src },
    a,
    b.publicKey(),
    (n) => crypto.getRandomValues(new Uint8Array(n)),
  );
  assert.notEqual(toHex(again), toHex(ab));
});

Deno.test("disco packet: strangers, forgeries and garbage are typed failures", () => {
  const packet = fromHex(vectors.messages[3].packet);
  // Unknown peer: the box is not even opened.
  let asked = 0;
  const unknown = openDiscoPacket(packet, recipient, () => {
    asked++;
    return false;
  });
  assert.deepEqual([unknown.ok, !unknown.ok && unknown.reason, asked], [
    false,
    "unknown-sender",
    1,
  ]);
  assert.equal(!unknown.ok && unknown.sender?.equals(sender.publicKey()), true);
  const nullLookup = openDiscoPacket(packet, recipient, () => null);
  assert.equal(!nullLookup.ok && nullLookup.reason, "unknown-sender");
  const throwing = openDiscoPacket(packet, recipient, () => {
    throw new Error("lookup broke");
  });
  assert.equal(!throwing.ok && throwing.reason, "unknown-sender");

  // Not disco.
  const notDisco = openDiscoPacket(new Uint8Array(148).fill(1), recipient, () => true);
  assert.equal(!notDisco.ok && notDisco.reason, "not-disco");

  // Every single-bit flip after the magic fails to open (or, in the key, names a stranger's box).
  for (let i = DISCO_MAGIC.length; i < packet.length; i += 3) {
    const bent = packet.slice();
    bent[i] ^= 0x20;
    const result = openDiscoPacket(bent, recipient, () => true);
    assert.equal(result.ok, false, `flip at ${i}`);
    assert.equal(!result.ok && result.reason, "bad-box", `flip at ${i}`);
  }

  // Sealed to someone else.
  const other = DiscoPrivateKey.generate();
  const wrongRecipient = openDiscoPacket(packet, other, () => true);
  assert.equal(!wrongRecipient.ok && wrongRecipient.reason, "bad-box");

  // A cached key that belongs to another peer.
  const mismatched = openDiscoPacket(
    packet,
    recipient,
    () => DiscoSharedKey.derive(recipient, other.publicKey()),
  );
  assert.equal(!mismatched.ok && mismatched.reason, "bad-box");

  // Truncated anywhere: never ok, never a throw.
  for (let n = 0; n < packet.length; n++) {
    const result = openDiscoPacket(packet.subarray(0, n), recipient, () => true);
    assert.equal(result.ok, false, `length ${n}`);
    const expected = n < DISCO_HEADER_LENGTH ? "not-disco" : "bad-box";
    assert.equal(!result.ok && result.reason, expected, `length ${n}`);
  }
  assert.ok(DISCO_MIN_PACKET_LENGTH === 78);
});

Deno.test("disco packet: a low-order sender key is refused, not thrown", () => {
  const packet = fromHex(vectors.messages[0].packet);
  const bent = packet.slice();
  bent.fill(0, DISCO_MAGIC.length, DISCO_HEADER_LENGTH); // the all-zero point has low order
  const result = openDiscoPacket(bent, recipient, () => true);
  assert.equal(!result.ok && result.reason, "bad-box");
  assert.throws(() => DiscoSharedKey.derive(recipient, DiscoPublicKey.zero()), {
    name: "WeakSharedSecretError",
  });
});

Deno.test("disco packet: a box that opens but holds no message is bad-message", () => {
  const shared = DiscoSharedKey.derive(sender, recipient.publicKey());
  for (const payload of [new Uint8Array(0), Uint8Array.of(1), Uint8Array.of(0x0a, 0)]) {
    const box = shared.seal(payload, new Uint8Array(24).fill(3));
    const packet = new Uint8Array(DISCO_HEADER_LENGTH + box.length);
    packet.set(DISCO_MAGIC);
    packet.set(sender.publicKey().bytes, DISCO_MAGIC.length);
    packet.set(box, DISCO_HEADER_LENGTH);
    const result = openDiscoPacket(packet, recipient, () => true);
    assert.equal(!result.ok && result.reason, "bad-message");
    assert.match(!result.ok && result.detail || "", /short message|unknown message type 0x0a/);
  }
});

Deno.test("disco packet: 5000 random datagrams never throw", () => {
  const rand = seededRandom(99);
  const lookup = () => true;
  for (let i = 0; i < 5000; i++) {
    const length = Math.floor(rand() * 160);
    const datagram = Uint8Array.from({ length }, () => Math.floor(rand() * 256));
    if (rand() < 0.7 && length >= 6) datagram.set(DISCO_MAGIC);
    const result = openDiscoPacket(datagram, recipient, lookup);
    assert.equal(result.ok, false);
  }
});

Deno.test("disco packet: the shared key never shows its bytes", () => {
  const shared = DiscoSharedKey.derive(sender, recipient.publicKey());
  const shown = [String(shared), JSON.stringify(shared), Deno.inspect(shared)];
  for (const text of shown) {
    assert.match(text, /^"?DiscoSharedKey\(discokey:[0-9a-f]{8}… ↔ discokey:[0-9a-f]{8}…\)"?$/);
  }
});
