import assert from "node:assert/strict";
import {
  ClientHandshake,
  initialHandshakeHash,
  NOISE_PROTOCOL_NAME,
  NoiseHandshakeError,
  protocolVersionPrologue,
} from "../../../../network/control/ts2021_handshake.ts";
import { NoiseFrameReader, NoiseFrameWriter } from "../../../../network/control/ts2021_conn.ts";
import { NoiseProtocolError } from "../../../../network/control/ts2021_messages.ts";
import { blake2s } from "../../../../network/crypto/blake2s.ts";
import { MachinePrivateKey, MachinePublicKey } from "../../../../network/crypto/keys.ts";
import type { RandomSource } from "../../../../network/crypto/random.ts";
import { fromHex, toHex } from "../crypto/hex.ts";
import { respondToInitiation } from "./ts2021_responder.ts";

const GO_VECTOR = JSON.parse(
  Deno.readTextFileSync(new URL("./testdata/controlbase_go_vector.json", import.meta.url)),
) as Record<string, string> & { protocolVersion: number };

/** A RandomSource that hands out the given byte strings in order. */
function scriptedRandom(...chunks: Uint8Array[]): RandomSource {
  return (length) => {
    const next = chunks.shift();
    if (!next || next.length !== length) throw new Error(`unscripted random(${length})`);
    return next.slice();
  };
}

function fixedKey(fill: number): MachinePrivateKey {
  return MachinePrivateKey.fromBytes(Uint8Array.from({ length: 32 }, (_, i) => (fill + i) & 0xff));
}

Deno.test("noise_handshake: h0 = ck0 = BLAKE2s(protocol name) (§4.2)", () => {
  assert.equal(NOISE_PROTOCOL_NAME.length, 33);
  assert.equal(
    toHex(initialHandshakeHash()),
    "bbea022b948cf3bc5857d70804229179e1116bc40cb8cc074835349c464bca36",
  );
});

Deno.test("noise_handshake: prologue text and hash after mixing it (§4.1, §4.2)", () => {
  const prologue = protocolVersionPrologue(145);
  assert.equal(new TextDecoder().decode(prologue), "Tailscale Control Protocol v145");
  assert.equal(prologue.length, 31);
  const mixed = (v: number) => toHex(blake2s([initialHandshakeHash(), protocolVersionPrologue(v)]));
  assert.equal(mixed(145), "247ca9933aea868dfd279438dcd7ba1d589ee77e9946c89930b404f722d4f9f7");
  assert.match(mixed(113), /^840c7a9d.*b7b69131$/);
  assert.match(mixed(130), /^ddf32b89.*ca63fe82$/);
  assert.throws(() => protocolVersionPrologue(65536), RangeError);
});

Deno.test("noise_handshake: completes against an independent responder", () => {
  const machineKey = fixedKey(1);
  const serverPrivate = fixedKey(100);
  const serverEphemeral = fixedKey(200);
  const clientEphemeral = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
  const handshake = ClientHandshake.begin({
    machineKey,
    serverPublic: serverPrivate.publicKey(),
    protocolVersion: 143,
    random: scriptedRandom(clientEphemeral),
  });
  assert.equal(handshake.initiation.length, 101);
  const server = respondToInitiation(
    handshake.initiation,
    serverPrivate.secret,
    serverEphemeral.secret,
  );
  assert.equal(server.protocolVersion, 143);
  assert.deepEqual(server.clientStatic, machineKey.publicKey().bytes);
  const result = handshake.finish(server.response);
  assert.deepEqual(result.sendKey, server.serverReceiveKey);
  assert.deepEqual(result.receiveKey, server.serverSendKey);
  assert.deepEqual(result.handshakeHash, server.handshakeHash);
  assert.notDeepEqual(result.sendKey, result.receiveKey);
  assert.throws(() => handshake.finish(server.response), NoiseProtocolError);
});

Deno.test("noise_handshake: a tampered response fails authentication", () => {
  const machineKey = fixedKey(3);
  const serverPrivate = fixedKey(50);
  for (const offset of [3, 20, 35, 50]) {
    const handshake = ClientHandshake.begin({
      machineKey,
      serverPublic: serverPrivate.publicKey(),
      protocolVersion: 113,
    });
    const { response } = respondToInitiation(
      handshake.initiation,
      serverPrivate.secret,
      fixedKey(9).secret,
    );
    response[offset] ^= 0x01;
    assert.throws(() => handshake.finish(response), NoiseHandshakeError, `offset ${offset}`);
  }
});

Deno.test("noise_handshake: an initiation for another server key does not decrypt", () => {
  const handshake = ClientHandshake.begin({
    machineKey: fixedKey(3),
    serverPublic: fixedKey(60).publicKey(),
    protocolVersion: 143,
  });
  assert.throws(
    () => respondToInitiation(handshake.initiation, fixedKey(61).secret, fixedKey(9).secret),
    /did not decrypt/,
  );
});

Deno.test("noise_handshake: a fresh ephemeral key per handshake", () => {
  const options = {
    machineKey: fixedKey(3),
    serverPublic: fixedKey(60).publicKey(),
    protocolVersion: 143,
  };
  const a = ClientHandshake.begin(options).initiation;
  const b = ClientHandshake.begin(options).initiation;
  assert.notDeepEqual(a.subarray(5, 37), b.subarray(5, 37));
});

Deno.test("noise_handshake: reproduces Go controlbase byte for byte (captured vector)", () => {
  const v = GO_VECTOR;
  const machineKey = MachinePrivateKey.fromBytes(fromHex(v.machinePrivate));
  assert.equal(machineKey.publicKey().toText(), v.machinePublic);
  const serverPublic = MachinePublicKey.parse(v.serverPublic);
  const handshake = ClientHandshake.begin({
    machineKey,
    serverPublic,
    protocolVersion: v.protocolVersion,
    random: scriptedRandom(fromHex(v.clientEphemeralRandom)),
  });
  assert.equal(toHex(handshake.initiation), v.initiation);
  const keys = handshake.finish(fromHex(v.response));
  assert.equal(toHex(keys.handshakeHash), v.handshakeHash);

  // Transport: our sealing of the same writes equals Go's bytes on the wire,
  // and Go's server records open with our receive key.
  const writer = new NoiseFrameWriter(keys.sendKey);
  const big = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);
  const wire = [...writer.seal(new TextEncoder().encode("hello")), ...writer.seal(big)];
  assert.equal(toHex(Uint8Array.from(wire)), v.clientToServer);

  const reader = new NoiseFrameReader(keys.receiveKey);
  const received: string[] = [];
  reader.push(fromHex(v.serverToClient), (p) => received.push(new TextDecoder().decode(p)));
  assert.deepEqual(received, ["world", "again"]);

  // And the independent test responder derives the same keys from Go's initiation.
  const server = respondToInitiation(
    fromHex(v.initiation),
    fromHex(v.serverPrivate),
    fromHex(v.serverEphemeralRandom),
  );
  assert.equal(toHex(server.response), v.response);
});
