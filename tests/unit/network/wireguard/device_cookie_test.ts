/**
 * The device under load (whitepaper §5.3, §5.4.7), in virtual time: a flood
 * of MAC1-valid initiations past UNDER_LOAD_INITIATION_RATE per second gets
 * cookie replies instead of X25519 work; an honest initiator takes the
 * cookie, retries with MAC2 and completes its handshake while the flood goes
 * on; the state ends UNDER_LOAD_AFTER_TIME after the flood; cookies are
 * bound to their source and to a secret renewed every COOKIE_REFRESH_TIME.
 */
import assert from "node:assert/strict";
import { NodePrivateKey } from "../../../../network/crypto/keys.ts";
import { COOKIE_REFRESH_TIME } from "../../../../network/wireguard/constants.ts";
import { CookieGenerator } from "../../../../network/wireguard/cookie.ts";
import { type DeviceResult, WireGuardDevice } from "../../../../network/wireguard/device.ts";
import {
  UNDER_LOAD_AFTER_TIME,
  UNDER_LOAD_INITIATION_RATE,
} from "../../../../network/wireguard/handshake_load.ts";
import { messageType, parseCookieReply } from "../../../../network/wireguard/messages.ts";
import { WireGuardPeer } from "../../../../network/wireguard/peer.ts";
import { seededRandom } from "../crypto/seeded_random.ts";
import { ipv4Packet, virtualClock } from "./peer_harness.ts";

const FLOOD_SOURCE = new Uint8Array([192, 0, 2, 66, 0xca, 0xfe]);
const HONEST_SOURCE = new Uint8Array([192, 0, 2, 7, 0x00, 0x50]);
const ROAMED_SOURCE = new Uint8Array([192, 0, 2, 7, 0x00, 0x51]);

function setup() {
  const random = seededRandom();
  const clock = virtualClock();
  const deviceKey = NodePrivateKey.generate(random.bytes);
  const device = new WireGuardDevice({
    localPrivateKey: deviceKey,
    clock,
    random: random.bytes,
    lookupPeer: () => ({}),
  });
  const newPeer = () =>
    new WireGuardPeer({
      localPrivateKey: NodePrivateKey.generate(random.bytes),
      remotePublicKey: deviceKey.publicKey(),
      clock,
      random: random.bytes,
    });
  // The flood: one captured initiation with a valid MAC1, replayed. Each copy costs the
  // device two X25519 before the replayed timestamp shows (as a fresh one would, and more).
  const flood = newPeer().initiateHandshake(0).send[0];
  return { random, clock, device, deviceKey, newPeer, flood };
}

function isReply(result: DeviceResult | undefined): result is { reply: Uint8Array } {
  return result?.reply !== undefined;
}

Deno.test("device load: below the threshold every initiation is answered as before", () => {
  const { device, clock, flood, newPeer } = setup();
  // 8 ms apart: at most 125 in any second, under the 128 of the threshold.
  for (let i = 0; i < 300; i++, clock.t += 8) {
    assert.ok(!isReply(device.handleDatagram(flood, clock.t, FLOOD_SOURCE)));
  }
  assert.equal(device.stats.initiationsConsumed, 300);
  assert.equal(device.stats.cookieRepliesSent, 0);
  assert.ok(!device.underLoad(clock.t));
  // An honest initiation is answered with a handshake response at once.
  const honest = newPeer();
  const out = device.handleDatagram(
    honest.sendPacket(ipv4Packet(1, 2), clock.t).send[0],
    clock.t,
    HONEST_SOURCE,
  );
  assert.ok(out && !isReply(out) && out.send.length === 1 && messageType(out.send[0]) === 2);
});

Deno.test("device load: a flood past the threshold gets cookie replies and no more X25519 work", () => {
  const { device, clock, flood, deviceKey } = setup();
  const results: (DeviceResult | undefined)[] = [];
  for (let i = 0; i < 400; i++, clock.t += 1) {
    results.push(device.handleDatagram(flood, clock.t, FLOOD_SOURCE));
  }
  // The first 127 in the second are worked on; the 128th trips the load.
  assert.equal(device.stats.initiationsConsumed, UNDER_LOAD_INITIATION_RATE - 1);
  assert.equal(device.stats.cookieRepliesSent, 400 - (UNDER_LOAD_INITIATION_RATE - 1));
  assert.ok(device.underLoad(clock.t));
  const senderIndex = new DataView(flood.buffer).getUint32(4, true);
  for (const result of results.slice(UNDER_LOAD_INITIATION_RATE - 1)) {
    assert.ok(isReply(result), "a cookie reply, no handshake response");
    assert.equal(result.reply.length, 64);
    assert.equal(parseCookieReply(result.reply).receiverIndex, senderIndex);
  }
  // The reply opens for whoever sent that initiation (it knows the MAC1) and gives a cookie.
  const generator = new CookieGenerator(deviceKey.publicKey().bytes);
  const copy = flood.slice();
  generator.addMacs(copy, clock.t);
  const last = results.at(-1) as { reply: Uint8Array };
  assert.ok(generator.consumeReply(parseCookieReply(last.reply), clock.t));

  // A flooder that reads its cookie replies and floods with MAC2 is rate-limited per source:
  // a burst of 5, then 20 per second.
  generator.addMacs(copy, clock.t);
  const consumed = device.stats.initiationsConsumed;
  for (let i = 0; i < 1000; i++, clock.t += 1) device.handleDatagram(copy, clock.t, FLOOD_SOURCE);
  const worked = device.stats.initiationsConsumed - consumed;
  assert.ok(worked >= 5 + 19 && worked <= 5 + 20, `${worked} initiations worked on in 1 s`);
  assert.equal(device.stats.droppedRateLimited, 1000 - worked);
  assert.equal(device.stats.lastDropReason, "initiation: rate limited under load");
});

Deno.test("device load: an honest initiator takes the cookie, retries with MAC2 and gets through the flood", () => {
  const { device, clock, flood, newPeer } = setup();
  const honest = newPeer();
  const floodUntil = (end: number) => {
    for (; clock.t < end; clock.t += 2) device.handleDatagram(flood, clock.t, FLOOD_SOURCE);
  };
  floodUntil(500);
  assert.ok(device.underLoad(clock.t));
  const first = honest.sendPacket(ipv4Packet(1, 2), clock.t).send;
  assert.equal(first.length, 1);
  const answer = device.handleDatagram(first[0], clock.t, HONEST_SOURCE);
  assert.ok(isReply(answer), "refused with a cookie reply");
  assert.deepEqual(honest.handleDatagram(answer.reply, clock.t), { send: [], deliver: [] });
  assert.equal(honest.stats.dropped, 0, "the cookie reply was taken");

  // The flood goes on; the honest peer retries at its retransmission timer, with MAC2.
  const retryAt = honest.nextDeadline()!;
  floodUntil(retryAt);
  assert.ok(device.underLoad(clock.t));
  const consumedBefore = device.stats.initiationsConsumed;
  const retry = honest.tick(clock.t).send;
  assert.equal(retry.length, 1);
  const response = device.handleDatagram(retry[0], clock.t, HONEST_SOURCE);
  assert.ok(response && !isReply(response), "handshake work for a valid MAC2");
  assert.equal(device.stats.initiationsConsumed, consumedBefore + 1);
  assert.equal(response.send.length, 1);
  const confirm = honest.handleDatagram(response.send[0], clock.t);
  assert.equal(honest.stats.handshakes, 1);
  // The staged packet arrives over the new session.
  const delivered = confirm.send.flatMap((d) => {
    const out = device.handleDatagram(d, clock.t, HONEST_SOURCE);
    return out && !isReply(out) ? out.deliver : [];
  });
  assert.deepEqual(delivered, [ipv4Packet(1, 2)]);
  assert.ok(device.underLoad(clock.t), "the flood still holds the device under load");
});

Deno.test("device load: the state ends UNDER_LOAD_AFTER_TIME after the flood stops", () => {
  const { device, clock, flood, newPeer } = setup();
  for (let i = 0; i < 300; i++, clock.t += 1) device.handleDatagram(flood, clock.t, FLOOD_SOURCE);
  const last = clock.t - 1;
  assert.equal(UNDER_LOAD_AFTER_TIME, 1_000);
  assert.ok(device.underLoad(last + UNDER_LOAD_AFTER_TIME - 1));
  assert.ok(!device.underLoad(last + UNDER_LOAD_AFTER_TIME));
  clock.t = last + UNDER_LOAD_AFTER_TIME;
  const honest = newPeer();
  const out = device.handleDatagram(
    honest.sendPacket(ipv4Packet(1, 2), clock.t).send[0],
    clock.t,
    HONEST_SOURCE,
  );
  assert.ok(out && !isReply(out) && out.send.length === 1, "answered without a cookie");
  assert.ok(!device.underLoad(clock.t));
});

Deno.test("device load: a cookie is bound to its source, and to a secret renewed after COOKIE_REFRESH_TIME", () => {
  const { device, clock, flood, deviceKey, random } = setup();
  const loadUp = () => {
    for (let i = 0; i < UNDER_LOAD_INITIATION_RATE; i++) {
      device.handleDatagram(flood, clock.t, FLOOD_SOURCE);
    }
    assert.ok(device.underLoad(clock.t));
  };
  // An initiation from a key the device serves, with its MACs written by our generator.
  const honest = NodePrivateKey.generate(random.bytes);
  const peer = new WireGuardPeer({
    localPrivateKey: honest,
    remotePublicKey: deviceKey.publicKey(),
    clock,
    random: random.bytes,
  });
  const generator = new CookieGenerator(deviceKey.publicKey().bytes);
  const initiation = () => {
    clock.t += 6_000; // past REKEY_TIMEOUT, so the peer may initiate again
    const message = peer.initiateHandshake(clock.t).send[0];
    generator.addMacs(message, clock.t);
    return message;
  };
  loadUp();
  let message = initiation();
  loadUp();
  const secretAt = clock.t; // the device's first cookie reply makes its secret
  const answer = device.handleDatagram(message, clock.t, HONEST_SOURCE);
  assert.ok(isReply(answer));
  assert.ok(generator.consumeReply(parseCookieReply(answer.reply), clock.t));

  message = initiation();
  loadUp();
  const fromElsewhere = device.handleDatagram(message, clock.t, ROAMED_SOURCE);
  assert.ok(isReply(fromElsewhere), "a cookie for one source is no MAC2 for another");
  const fromItsSource = device.handleDatagram(message, clock.t, HONEST_SOURCE);
  assert.ok(fromItsSource && !isReply(fromItsSource), "served from the source it was given to");

  // A cookie taken 12 s after the secret was made is still fresh for its taker 108 s later,
  // but the secret is older than COOKIE_REFRESH_TIME by then: the device renews it.
  const late = new CookieGenerator(deviceKey.publicKey().bytes);
  message = initiation();
  late.addMacs(message, clock.t);
  loadUp();
  const lateReply = device.handleDatagram(message, clock.t, HONEST_SOURCE);
  assert.ok(isReply(lateReply));
  assert.ok(late.consumeReply(parseCookieReply(lateReply.reply), clock.t));
  clock.t = secretAt + COOKIE_REFRESH_TIME + 1;
  const stale = peer.initiateHandshake(clock.t).send[0];
  late.addMacs(stale, clock.t);
  assert.ok(stale.subarray(132).some((b) => b !== 0), "the taker still writes MAC2");
  loadUp();
  const renewed = device.handleDatagram(stale, clock.t, HONEST_SOURCE);
  assert.ok(isReply(renewed), "MAC2 from the old secret no longer counts");
  assert.ok(late.consumeReply(parseCookieReply(renewed.reply), clock.t));
  late.addMacs(stale, clock.t);
  const served = device.handleDatagram(stale, clock.t, HONEST_SOURCE);
  assert.ok(
    served && !isReply(served) && served.send.length === 1,
    "the new secret's cookie counts",
  );
});

Deno.test("device load: without a source the device behaves as before, flood or not", () => {
  const { device, clock, flood } = setup();
  for (let i = 0; i < 400; i++, clock.t += 1) {
    assert.ok(!isReply(device.handleDatagram(flood, clock.t)));
  }
  assert.equal(device.stats.initiationsConsumed, 400);
  assert.equal(device.stats.cookieRepliesSent, 0);
});
