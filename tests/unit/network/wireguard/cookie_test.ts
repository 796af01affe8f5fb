import assert from "node:assert/strict";
import { COOKIE_REFRESH_TIME } from "../../../../network/wireguard/constants.ts";
import { CookieChecker, CookieGenerator, mac1Key } from "../../../../network/wireguard/cookie.ts";
import { parseCookieReply, WireGuardMessageError } from "../../../../network/wireguard/messages.ts";
import { fromHex, toHex } from "../crypto/hex.ts";
import { seededRandom } from "../crypto/seeded_random.ts";
import { WIREGUARD_GO_VECTORS as V } from "./wireguard_go_vectors.ts";

const withoutMacs = (hex: string) => {
  const bytes = fromHex(hex);
  bytes.fill(0, bytes.length - 32);
  return bytes;
};

Deno.test("cookie KAT: our MAC1 equals wireguard-go's on its initiation and response", () => {
  const toB = new CookieGenerator(fromHex(V.publicB));
  const initiation = withoutMacs(V.initiation);
  toB.addMacs(initiation, 0);
  assert.equal(toHex(initiation), V.initiation);
  const toA = new CookieGenerator(fromHex(V.publicA));
  const response = withoutMacs(V.response);
  toA.addMacs(response, 0);
  assert.equal(toHex(response), V.response);
  const checkerB = new CookieChecker(fromHex(V.publicB), seededRandom().bytes);
  assert.ok(checkerB.checkMac1(fromHex(V.initiation)));
  const checkerA = new CookieChecker(fromHex(V.publicA), seededRandom().bytes);
  assert.ok(checkerA.checkMac1(fromHex(V.response)));
  assert.ok(!checkerA.checkMac1(fromHex(V.initiation)), "MAC1 is keyed by the receiver");
});

Deno.test("cookie KAT: a wireguard-go cookie reply opens, and our MAC2 equals wireguard-go's", () => {
  const toB = new CookieGenerator(fromHex(V.publicB));
  toB.addMacs(withoutMacs(V.initiation), 1000); // remembers the MAC1 the reply is bound to
  assert.ok(toB.consumeReply(parseCookieReply(fromHex(V.cookieReply)), 1000));
  const second = withoutMacs(V.initiation2);
  toB.addMacs(second, 2000);
  assert.equal(toHex(second), V.initiation2);
  // Past COOKIE_REFRESH_TIME the cookie is no longer used.
  const later = withoutMacs(V.initiation2);
  toB.addMacs(later, 1000 + COOKIE_REFRESH_TIME + 1);
  assert.equal(toHex(later.subarray(132)), "00".repeat(16));
});

Deno.test("cookie: a reply bound to another MAC1 does not open", () => {
  const toB = new CookieGenerator(fromHex(V.publicB));
  const reply = parseCookieReply(fromHex(V.cookieReply));
  assert.ok(!toB.consumeReply(reply, 0), "no message sent yet");
  toB.addMacs(withoutMacs(V.initiation2), 0);
  assert.ok(!toB.consumeReply(reply, 0));
});

Deno.test("cookie: our checker's reply round trip, MAC2 check, source binding and secret expiry", () => {
  const random = seededRandom();
  const responderPublic = random.bytes(32);
  const checker = new CookieChecker(responderPublic, random.bytes);
  const generator = new CookieGenerator(responderPublic);
  const message = random.bytes(148);
  message.set([1, 0, 0, 0]);
  generator.addMacs(message, 0);
  assert.ok(checker.checkMac1(message));
  const source = new Uint8Array([127, 0, 0, 1, 0x12, 0x34]);
  assert.ok(!checker.checkMac2(message, source, 0), "no cookie yet");
  const reply = checker.createReply(message, 77, source, 0);
  assert.equal(reply.length, 64);
  assert.equal(parseCookieReply(reply).receiverIndex, 77);
  assert.ok(generator.consumeReply(parseCookieReply(reply), 10));
  generator.addMacs(message, 20);
  assert.ok(checker.checkMac2(message, source, 20));
  assert.ok(!checker.checkMac2(message, new Uint8Array([127, 0, 0, 2, 0x12, 0x34]), 20));
  assert.ok(!checker.checkMac2(message, source, COOKIE_REFRESH_TIME + 1), "secret expired");
  const flipped = message.slice();
  flipped[10] ^= 1;
  assert.ok(!checker.checkMac1(flipped));
  assert.deepEqual(mac1Key(responderPublic).length, 32);
  assert.throws(() => checker.checkMac1(new Uint8Array(100)), WireGuardMessageError);
});
