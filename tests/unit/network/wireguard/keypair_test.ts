/**
 * The keypair slots' rotation: what an initiator's and a responder's
 * handshake displace, and which old keypair stays to open late packets.
 */
import assert from "node:assert/strict";
import { REKEY_TIMEOUT } from "../../../../network/wireguard/constants.ts";
import { Keypair, Keypairs } from "../../../../network/wireguard/keypair.ts";

function keypair(localIndex: number, isInitiator: boolean, created: number): Keypair {
  return new Keypair({
    sendKey: new Uint8Array(32),
    receiveKey: new Uint8Array(32),
    localIndex,
    remoteIndex: localIndex + 1000,
    isInitiator,
  }, created);
}

Deno.test("keypairs: an initiator's keypair is current at once, the old one stays as previous", () => {
  const slots = new Keypairs();
  const first = keypair(1, true, 0);
  assert.deepEqual(slots.install(first), []);
  const second = keypair(2, true, 120_000);
  assert.deepEqual(slots.install(second), []);
  assert.equal(slots.current, second);
  assert.equal(slots.previous, first);
  assert.deepEqual(slots.install(keypair(3, true, 240_000)), [first]);
});

Deno.test("keypairs: a responder's keypair waits in next until a packet confirms it", () => {
  const slots = new Keypairs();
  const current = keypair(1, true, 0);
  slots.install(current);
  const next = keypair(2, false, 120_000);
  assert.deepEqual(slots.install(next), []);
  assert.equal(slots.current, current);
  assert.equal(slots.next, next);
  assert.deepEqual(slots.confirm(keypair(9, false, 0)), { rotated: false, dropped: undefined });
  assert.deepEqual(slots.confirm(next), { rotated: true, dropped: undefined });
  assert.equal(slots.current, next);
  assert.equal(slots.previous, current);
});

Deno.test("keypairs: an initiator's install keeps a young next (the peer may send on it) and drops current", () => {
  const slots = new Keypairs();
  const current = keypair(1, true, 0);
  slots.install(current);
  const next = keypair(2, false, 10_000);
  slots.install(next);
  const mine = keypair(3, true, 10_000 + REKEY_TIMEOUT - 1);
  assert.deepEqual(slots.install(mine), [current]);
  assert.equal(slots.previous, next);
  assert.equal(slots.current, mine);
  assert.equal(slots.next, undefined);
});

Deno.test("keypairs: an initiator's install drops a next never confirmed within REKEY_TIMEOUT and keeps current for late packets", () => {
  // A crossed handshake leaves a `next` the peer forgot; at the next rekey the peer may
  // still be sending on `current` until our new keypair reaches it.
  const slots = new Keypairs();
  const current = keypair(1, true, 10_000);
  slots.install(current);
  const stale = keypair(2, false, 10_007);
  slots.install(stale);
  const mine = keypair(3, true, 130_000);
  assert.deepEqual(slots.install(mine), [stale]);
  assert.equal(slots.previous, current);
  assert.equal(slots.current, mine);
  assert.equal(slots.next, undefined);
});
