/**
 * Retransmission: the RFC 6298 timer with its backoff and Karn's rule, SYN
 * retries, giving up, fast retransmit and NewReno partial ACKs (RFC
 * 5681/6582), and SACK-based recovery (RFC 6675), in virtual time.
 */
import assert from "node:assert/strict";
import { TCPFlags } from "../../../../../network/netstack/wire/tcp.ts";
import { TcpState } from "../../../../../network/netstack/tcp/tcp_state.ts";
import { RawPeer } from "../raw_peer.ts";
import { passiveOpen, states } from "../handshake.ts";
import { settle } from "../virtual_time.ts";

const { SYN, ACK } = TCPFlags;
const SMSS = 1240;

/** Advances in `step` ms ticks until `until` ms have passed; returns [time, segment] pairs. */
async function watch(t: RawPeer, until: number, step = 10) {
  const start = t.clock.monotonic();
  const seen: { at: number; seq: number; flags: number; len: number }[] = [];
  while (t.clock.monotonic() - start < until) {
    await t.advance(step);
    for (const s of t.drain()) {
      seen.push({
        at: t.clock.monotonic() - start,
        seq: s.seq,
        flags: s.flags,
        len: s.payload.length,
      });
    }
  }
  return seen;
}

Deno.test("retransmit: SYN at 1 s, then backoff 2, 4, 8, 16, 32 s; connect times out after six retries", async () => {
  const t = new RawPeer();
  const outcome = t.stack.connectTCP(t.peerAddr).then(() => "connected", (e) => e);
  t.next("SYN");
  const seen = await watch(t, 130_000, 100);
  assert.deepEqual(seen.map((s) => s.at), [1000, 3000, 7000, 15000, 31000, 63000]);
  assert.ok(seen.every((s) => s.flags === SYN));
  await settle();
  const error = await outcome;
  assert.ok(error instanceof Deno.errors.TimedOut, String(error));
  assert.equal(error.name, "ConnectionTimedOutError");
  assert.deepEqual(states(t), []);
});

Deno.test("retransmit: RTO doubles on each expiry, Karn keeps it until a clean sample", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  await conn.write(new Uint8Array(100));
  const first = t.next("data");
  assert.equal(first.payload.length, 100);
  // The handshake measured ~0 ms, so RTO = its 200 ms floor.
  const seen = await watch(t, 3100);
  assert.deepEqual(seen.map((s) => s.at), [200, 600, 1400, 3000]);
  assert.ok(seen.every((s) => s.seq === iss + 1 && s.len === 100));
  assert.equal(conn.stats.timeouts, 4);
  // The ACK of a retransmitted segment is no sample (Karn): the next segment still waits 3.2 s.
  t.send({ seq: 1001, ack: iss + 101, flags: ACK });
  await conn.write(new Uint8Array(10));
  t.next("second data");
  const second = await watch(t, 3300, 100);
  assert.deepEqual(second.map((s) => s.at), [3200]);
  // A clean sample (ACK after 50 ms of a first transmission) brings the RTO back to 200 ms.
  t.send({ seq: 1001, ack: iss + 111, flags: ACK });
  await conn.write(new Uint8Array(10));
  t.next("third data");
  await t.advance(50);
  t.send({ seq: 1001, ack: iss + 121, flags: ACK });
  await conn.write(new Uint8Array(10));
  t.next("fourth data");
  const fourth = await watch(t, 500);
  assert.deepEqual(
    fourth.map((s) => s.at),
    [200],
    "the clean sample cleared the backoff: the RTO is back at its 200 ms floor",
  );
});

Deno.test("retransmit: gives up after 15 retransmissions (≈ 924 s, as Linux tcp_retries2)", async () => {
  const t = new RawPeer();
  const { conn } = await passiveOpen(t);
  await conn.write(new Uint8Array(10));
  t.next("data");
  const failed = conn.read(new Uint8Array(1)).then(() => "read", (e) => e);
  const seen = await watch(t, 1_000_000, 1000);
  assert.equal(seen.length, 15);
  const error = await failed;
  assert.ok(error instanceof Deno.errors.TimedOut, String(error));
  assert.ok(t.clock.monotonic() - 1000 > 900_000, `gave up at ${t.clock.monotonic()}`);
  assert.deepEqual(states(t), []);
});

Deno.test("retransmit: fast retransmit on the third duplicate ACK, NewReno partial ACK resends the next hole", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  await conn.write(new Uint8Array(10 * SMSS));
  const sent = t.drain();
  assert.equal(sent.length, 10, "initial window of 10 segments (RFC 6928)");
  const seg = (i: number) => iss + 1 + i * SMSS;
  // Segment 1 and 4 are lost; the peer acknowledges segment 0, then duplicates for 2, 3, 5, ….
  t.send({ seq: 1001, ack: seg(1), flags: ACK });
  t.drain();
  t.send({ seq: 1001, ack: seg(1), flags: ACK });
  t.send({ seq: 1001, ack: seg(1), flags: ACK });
  const none = t.drain().filter((s) => s.seq === seg(1));
  assert.equal(none.length, 0, "two duplicates are not enough");
  t.send({ seq: 1001, ack: seg(1), flags: ACK });
  const fast = t.drain().filter((s) => s.seq === seg(1));
  assert.equal(fast.length, 1, "the third duplicate retransmits the hole at once");
  assert.equal(conn.stats.fastRecoveries, 1);
  // Partial ACK up to the second hole: it goes out at once, no RTO.
  t.send({ seq: 1001, ack: seg(4), flags: ACK });
  const partial = t.drain().filter((s) => s.seq === seg(4));
  assert.equal(partial.length, 1, "the partial ACK retransmits segment 4");
  t.send({ seq: 1001, ack: seg(10), flags: ACK });
  assert.equal(conn.stats.timeouts, 0);
  assert.equal(conn.stats.fastRecoveries, 1, "one recovery for both holes");
});

Deno.test("retransmit: SACK recovery resends exactly the holes (RFC 6675)", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t, 1000, { mss: 1460, sackPermitted: true });
  await conn.write(new Uint8Array(10 * SMSS));
  assert.equal(t.drain().length, 10);
  const seg = (i: number) => (iss + 1 + i * SMSS) >>> 0;
  // Segments 2 and 6 are lost.
  t.send({ seq: 1001, ack: seg(2), flags: ACK });
  t.drain();
  t.send({
    seq: 1001,
    ack: seg(2),
    flags: ACK,
    options: { sackBlocks: [{ left: seg(3), right: seg(4) }] },
  });
  t.send({
    seq: 1001,
    ack: seg(2),
    flags: ACK,
    options: { sackBlocks: [{ left: seg(3), right: seg(5) }] },
  });
  assert.equal(
    t.drain().filter((s) => s.seq === seg(2)).length,
    0,
    "two SACKed segments above: not yet lost",
  );
  t.send({
    seq: 1001,
    ack: seg(2),
    flags: ACK,
    options: { sackBlocks: [{ left: seg(7), right: seg(8) }, { left: seg(3), right: seg(6) }] },
  });
  let resent = t.drain().map((s) => s.seq);
  assert.ok(resent.includes(seg(2)), `segment 2 resent (${resent})`);
  t.send({
    seq: 1001,
    ack: seg(2),
    flags: ACK,
    options: { sackBlocks: [{ left: seg(7), right: seg(10) }, { left: seg(3), right: seg(6) }] },
  });
  resent = resent.concat(t.drain().map((s) => s.seq));
  const retransmitted = resent.filter((s) => s <= seg(9));
  assert.deepEqual([...new Set(retransmitted)].sort((a, b) => a - b), [seg(2), seg(6)]);
  t.send({ seq: 1001, ack: seg(10), flags: ACK });
  assert.equal(conn.stats.timeouts, 0);
  assert.equal(conn.stats.retransmits, 2);
  assert.equal(conn.state, TcpState.Established);
});
