/**
 * ACKs per burst (network/netstack/tcp/burst_acks.ts): in-order segments
 * that arrive together are acknowledged once, after the burst, not every
 * second segment; a long burst still gets an ACK every 32 segments; one
 * lone segment waits for the delayed-ACK timer; data we send carries the
 * owed ACK so no pure ACK follows.
 */
import assert from "node:assert/strict";
import { TCPFlags } from "../../../../../network/netstack/wire/tcp.ts";
import { RawPeer } from "../raw_peer.ts";
import { passiveOpen } from "../handshake.ts";

const { ACK } = TCPFlags;
const SEGMENT = 1240;

/** Sends `count` full in-order segments from `seq` at one instant. */
function burst(t: RawPeer, seq: number, ack: number, count: number): number {
  for (let i = 0; i < count; i++) {
    t.send({ seq: seq + i * SEGMENT, ack, flags: ACK, window: 65535 }, new Uint8Array(SEGMENT));
  }
  return seq + count * SEGMENT;
}

Deno.test("burst ACK: ten segments at once get one ACK, after the burst, for all of them", async () => {
  const t = new RawPeer();
  const { iss } = await passiveOpen(t);
  const end = burst(t, 1001, iss + 1, 10);
  t.none("no ACK while the burst is being handled");
  await t.advance(0);
  const acks = t.drain();
  assert.equal(acks.length, 1, "one ACK for the burst");
  assert.equal(acks[0].ack, end >>> 0, "it acknowledges every segment");
  await t.advance(100);
  t.none("nothing more: the delayed-ACK timer found nothing owed");
});

Deno.test("burst ACK: a 70-segment burst is acknowledged at 32, 64 and its end", async () => {
  const t = new RawPeer();
  const { iss } = await passiveOpen(t);
  const end = burst(t, 1001, iss + 1, 70);
  const midBurst = t.drain().map((s) => s.ack);
  assert.deepEqual(midBurst, [1001 + 32 * SEGMENT, 1001 + 64 * SEGMENT]);
  await t.advance(0);
  assert.deepEqual(t.drain().map((s) => s.ack), [end >>> 0]);
});

Deno.test("burst ACK: one lone segment waits for the 40 ms delayed-ACK timer", async () => {
  const t = new RawPeer();
  const { iss } = await passiveOpen(t);
  const end = burst(t, 1001, iss + 1, 1);
  await t.advance(0);
  t.none("one segment is not owed an ACK at the burst's end");
  await t.advance(39);
  t.none("not before 40 ms");
  await t.advance(1);
  assert.equal(t.next("the delayed ACK").ack, end >>> 0);
});

Deno.test("burst ACK: data sent before the burst ends carries the ACK; no pure ACK follows", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  const end = burst(t, 1001, iss + 1, 4);
  await conn.write(new Uint8Array(100));
  const data = t.next("our data");
  assert.equal(data.payload.length, 100);
  assert.equal(data.ack, end >>> 0, "the data segment acknowledges the burst");
  await t.advance(0);
  t.none("the owed ACK went with the data");
});
