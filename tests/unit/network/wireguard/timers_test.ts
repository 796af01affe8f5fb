import assert from "node:assert/strict";
import {
  KEEPALIVE_TIMEOUT,
  MAX_TIMER_HANDSHAKES,
  REJECT_AFTER_TIME,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  REKEY_TIMEOUT,
} from "../../../../network/wireguard/constants.ts";
import { Keypair } from "../../../../network/wireguard/keypair.ts";
import {
  keypairCanSend,
  keypairExpiredForReceiving,
  PeerTimers,
} from "../../../../network/wireguard/timers.ts";
import { seededRandom } from "../crypto/seeded_random.ts";

const keypair = (isInitiator: boolean, created = 0) =>
  new Keypair({
    sendKey: new Uint8Array(32),
    receiveKey: new Uint8Array(32),
    localIndex: 1,
    remoteIndex: 2,
    isInitiator,
  }, created);

Deno.test("timers: constants are the whitepaper's", () => {
  assert.equal(REKEY_AFTER_TIME, 120_000);
  assert.equal(REJECT_AFTER_TIME, 180_000);
  assert.equal(REKEY_TIMEOUT, 5_000);
  assert.equal(KEEPALIVE_TIMEOUT, 10_000);
  assert.equal(MAX_TIMER_HANDSHAKES, 18);
  assert.equal(REKEY_AFTER_MESSAGES, 2 ** 60);
});

Deno.test("timers: one initiation per REKEY_TIMEOUT; retries count, fresh attempts reset", () => {
  const t = new PeerTimers(seededRandom().bytes);
  assert.ok(t.mayInitiate(0, false));
  assert.ok(!t.mayInitiate(REKEY_TIMEOUT - 1, false));
  assert.ok(t.mayInitiate(REKEY_TIMEOUT, false));
  t.handshakeInitiated(REKEY_TIMEOUT);
  const deadline = t.nextDeadline()!;
  assert.ok(deadline >= 2 * REKEY_TIMEOUT && deadline < 2 * REKEY_TIMEOUT + 334);
  assert.equal(t.expireNext(deadline - 1), undefined);
  assert.equal(t.expireNext(deadline), "retransmitHandshake");
  assert.equal(t.handshakeAttempts, 1);
  t.handshakeComplete(deadline);
  assert.equal(t.handshakeAttempts, 0);
  assert.equal(t.nextDeadline(), undefined);
});

Deno.test("timers: after MAX_TIMER_HANDSHAKES retries the next expiry gives up and arms key erasure", () => {
  const t = new PeerTimers(seededRandom().bytes);
  let now = 0;
  t.handshakeInitiated(now);
  const actions: string[] = [];
  for (;;) {
    now = t.nextDeadline()!;
    const action = t.expireNext(now)!;
    actions.push(action);
    if (action !== "retransmitHandshake") break;
    t.handshakeInitiated(now);
  }
  assert.equal(actions.length, MAX_TIMER_HANDSHAKES + 2);
  assert.equal(actions.at(-1), "giveUpHandshake");
  assert.equal(t.nextDeadline(), now + 3 * REJECT_AFTER_TIME);
});

Deno.test("timers: keepalive after data received, once more when more data came meanwhile", () => {
  const t = new PeerTimers(seededRandom().bytes);
  t.dataReceived(0);
  t.dataReceived(500);
  assert.equal(t.nextDeadline(), KEEPALIVE_TIMEOUT);
  assert.equal(t.expireNext(KEEPALIVE_TIMEOUT), "sendKeepalive");
  t.anyAuthenticatedPacketSent(); // the keepalive going out
  assert.equal(t.expireNext(KEEPALIVE_TIMEOUT), undefined);
  assert.equal(t.nextDeadline(), 2 * KEEPALIVE_TIMEOUT, "re-armed after the send");
  t.anyAuthenticatedPacketSent();
  assert.equal(t.nextDeadline(), undefined, "any authenticated send cancels it");
});

Deno.test("timers: new handshake after sending into silence; any receive cancels it", () => {
  const t = new PeerTimers(seededRandom().bytes);
  t.dataSent(0);
  const deadline = t.nextDeadline()!;
  assert.ok(deadline >= KEEPALIVE_TIMEOUT + REKEY_TIMEOUT);
  t.dataSent(1000);
  assert.equal(t.nextDeadline(), deadline, "not pushed back by more sends");
  t.anyAuthenticatedPacketReceived();
  assert.equal(t.nextDeadline(), undefined);
  t.dataSent(2000);
  assert.equal(t.expireNext(t.nextDeadline()!), "newHandshake");
});

Deno.test("timers: rekey and expiry predicates", () => {
  const t = new PeerTimers(seededRandom().bytes);
  const mine = keypair(true), theirs = keypair(false);
  assert.ok(!t.shouldRekeyAfterSend(mine, REKEY_AFTER_TIME));
  assert.ok(t.shouldRekeyAfterSend(mine, REKEY_AFTER_TIME + 1));
  assert.ok(
    !t.shouldRekeyAfterSend(theirs, REKEY_AFTER_TIME + 1),
    "only the initiator rekeys on time",
  );
  theirs.sendCounter = REKEY_AFTER_MESSAGES + 2 ** 10;
  assert.ok(t.shouldRekeyAfterSend(theirs, 0), "both rekey on message count");
  const lastMinute = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT;
  assert.ok(!t.shouldRekeyAfterReceive(mine, lastMinute));
  assert.ok(t.shouldRekeyAfterReceive(mine, lastMinute + 1));
  assert.ok(!t.shouldRekeyAfterReceive(mine, lastMinute + 2), "once per session");
  t.handshakeComplete(lastMinute + 3);
  assert.ok(t.shouldRekeyAfterReceive(mine, lastMinute + 4));
  assert.ok(keypairCanSend(mine, REJECT_AFTER_TIME - 1));
  assert.ok(!keypairCanSend(mine, REJECT_AFTER_TIME));
  assert.ok(!keypairCanSend(undefined, 0));
  assert.ok(!keypairExpiredForReceiving(mine, REJECT_AFTER_TIME));
  assert.ok(keypairExpiredForReceiving(mine, REJECT_AFTER_TIME + 1));
});

Deno.test("timers: persistent keepalive when configured", () => {
  const t = new PeerTimers(seededRandom().bytes, 25_000);
  t.anyAuthenticatedPacketTraversal(0);
  assert.equal(t.nextDeadline(), 25_000);
  assert.equal(t.expireNext(25_000), "persistentKeepalive");
  const none = new PeerTimers(seededRandom().bytes);
  none.anyAuthenticatedPacketTraversal(0);
  assert.equal(none.nextDeadline(), undefined);
});
