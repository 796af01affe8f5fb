import assert from "node:assert/strict";
import { parseTransport } from "../../../../network/wireguard/messages.ts";
import {
  ipPacketLength,
  openTransport,
  paddedLength,
  sealTransport,
  transportMessageSize,
} from "../../../../network/wireguard/transport.ts";
import { fromHex, toHex } from "../crypto/hex.ts";
import { seededRandom } from "../crypto/seeded_random.ts";
import { WIREGUARD_GO_VECTORS as V } from "./wireguard_go_vectors.ts";

Deno.test("transport KAT: sealing with the derived key and a little-endian counter matches wireguard-go", () => {
  const plaintext = fromHex(V.transportPlain);
  const header = parseTransport(fromHex(V.transport));
  const out = new Uint8Array(transportMessageSize(plaintext.length, 1420));
  const n = sealTransport(out, fromHex(V.sendA), header.receiverIndex, 7, plaintext, 1420);
  assert.equal(n, out.length);
  assert.equal(toHex(out), V.transport);
  const opened = new Uint8Array(header.sealed.length - 16);
  assert.equal(openTransport(opened, fromHex(V.receiveB), 7, header.sealed), 32);
  assert.deepEqual(opened.subarray(0, plaintext.length), plaintext);
  assert.equal(openTransport(opened, fromHex(V.receiveB), 7 + 2 ** 32, header.sealed), -1);
});

Deno.test("transport: padding to 16, capped at the MTU, keepalives unpadded", () => {
  assert.equal(paddedLength(0), 0);
  assert.equal(paddedLength(1), 16);
  assert.equal(paddedLength(16), 16);
  assert.equal(paddedLength(17), 32);
  assert.equal(paddedLength(1279, 1280), 1280);
  assert.equal(paddedLength(1280, 1280), 1280);
  assert.equal(paddedLength(1281, 1280), 1296);
  assert.equal(paddedLength(1419, 1420), 1420);
  assert.equal(paddedLength(1419, 0), 1424);
  assert.equal(transportMessageSize(0), 32);
});

Deno.test("transport: round trips of random sizes, in place and into a fresh buffer", () => {
  const random = seededRandom();
  const key = random.bytes(32);
  for (let i = 0; i < 200; i++) {
    const length = random.below(1500);
    const plaintext = random.bytes(length);
    const counter = random.below(2 ** 31) * 2 ** 20 + random.below(1000);
    const out = new Uint8Array(transportMessageSize(length));
    sealTransport(out, key, 0x01020304, counter, plaintext);
    const t = parseTransport(out);
    assert.equal(t.counter, counter);
    assert.equal(t.receiverIndex, 0x01020304);
    const opened = new Uint8Array(t.sealed.length - 16);
    assert.equal(openTransport(opened, key, counter, t.sealed), paddedLength(length));
    assert.deepEqual(opened.subarray(0, length), plaintext, `seed ${random.seed}`);
    assert.ok(opened.subarray(length).every((b) => b === 0), "padding is zeros");
    // In place: the plaintext already sits after the header.
    const inPlace = new Uint8Array(out.length);
    inPlace.set(plaintext, 16);
    sealTransport(inPlace, key, 0x01020304, counter, inPlace.subarray(16, 16 + length));
    assert.deepEqual(inPlace, out);
  }
});

Deno.test("transport: tampering, wrong key and wrong counter fail to open", () => {
  const random = seededRandom();
  const key = random.bytes(32);
  const out = new Uint8Array(transportMessageSize(100));
  sealTransport(out, key, 1, 5, random.bytes(100));
  const sealed = out.subarray(16);
  const scratch = new Uint8Array(sealed.length);
  assert.equal(openTransport(scratch, random.bytes(32), 5, sealed), -1);
  assert.equal(openTransport(scratch, key, 6, sealed), -1);
  const bad = sealed.slice();
  bad[3] ^= 1;
  assert.equal(openTransport(scratch, key, 5, bad), -1);
  assert.equal(openTransport(scratch, key, 5, sealed.subarray(0, 10)), -1);
  assert.throws(() => sealTransport(new Uint8Array(10), key, 1, 1, new Uint8Array(1)), RangeError);
});

Deno.test("transport: IP length from the header trims padding; non-IP and short claims are refused", () => {
  const v4 = new Uint8Array(48);
  v4[0] = 0x45;
  v4[3] = 28;
  assert.equal(ipPacketLength(v4), 28);
  v4[3] = 49;
  assert.equal(ipPacketLength(v4), -1);
  v4[3] = 10;
  assert.equal(ipPacketLength(v4), -1);
  const v6 = new Uint8Array(64);
  v6[0] = 0x60;
  v6[5] = 8;
  assert.equal(ipPacketLength(v6), 48);
  assert.equal(ipPacketLength(new Uint8Array([0x50, 0, 0, 0])), -1);
  assert.equal(ipPacketLength(new Uint8Array(0)), -1);
  assert.equal(ipPacketLength(new Uint8Array([0x45, 0, 0])), -1);
});
