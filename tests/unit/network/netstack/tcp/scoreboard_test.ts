import assert from "node:assert/strict";
import { Scoreboard } from "../../../../../network/netstack/tcp/scoreboard.ts";

const MSS = 100;

function tenSegments(): Scoreboard {
  const sb = new Scoreboard();
  for (let i = 0; i < 10; i++) sb.push(1000 + i * MSS, MSS, false, 0);
  return sb;
}

Deno.test("scoreboard: cumulative ACKs remove and trim segments", () => {
  const sb = tenSegments();
  assert.equal(sb.outstanding, 1000);
  const r = sb.ackTo(1250);
  assert.equal(r.acked, 250);
  assert.equal(sb.count, 8);
  assert.equal(sb.head!.seq, 1250);
  assert.equal(sb.head!.len, 50);
  assert.equal(sb.outstanding, 750);
  sb.push(2000, 0, true, 0);
  const fin = sb.ackTo(2001);
  assert.ok(fin.finAcked);
  assert.equal(sb.count, 0);
  assert.equal(sb.pipe, 0);
});

Deno.test("scoreboard: SACK, IsLost by bytes, pipe and NextSeg (RFC 6675)", () => {
  const sb = tenSegments();
  // Segment 0 lost; 1 and 2 SACKed: 200 bytes above, not more than 2·MSS → not lost yet.
  assert.ok(sb.applySack([{ left: 1100, right: 1300 }], 1000, 2000));
  assert.equal(sb.markLostBySack(MSS), false);
  assert.equal(sb.pipe, 800);
  // A third SACKed segment: 300 > 200 bytes above segment 0 → lost.
  sb.applySack([{ left: 1100, right: 1400 }], 1000, 2000);
  assert.ok(sb.markLostBySack(MSS));
  assert.ok(sb.headIsLost());
  assert.equal(sb.pipe, 1000 - 300 - 100);
  const next = sb.nextLost()!;
  assert.equal(next.seq, 1000);
  sb.noteRetransmitted(next, 5);
  assert.equal(sb.pipe, 1000 - 300 - 100 + 100, "the retransmission is in flight");
  assert.equal(sb.nextLost(), undefined, "nothing else is lost");
  // Blocks outside (SND.UNA, SND.NXT] are ignored.
  assert.equal(
    sb.applySack([{ left: 5000, right: 6000 }, { left: 900, right: 1000 }], 1000, 2000),
    false,
  );
});

Deno.test("scoreboard: a timeout marks every un-SACKed segment lost; undo clears the marks", () => {
  const sb = tenSegments();
  sb.applySack([{ left: 1500, right: 1600 }], 1000, 2000);
  sb.markAllLost();
  assert.equal(sb.lostBytes, 900);
  assert.equal(sb.pipe, 0);
  const order: number[] = [];
  for (let s = sb.nextLost(); s; s = sb.nextLost()) {
    order.push(s.seq);
    sb.noteRetransmitted(s, 1);
  }
  assert.deepEqual(order, [1000, 1100, 1200, 1300, 1400, 1600, 1700, 1800, 1900]);
  sb.clearLost();
  assert.equal(sb.lostBytes, 0);
  assert.equal(sb.pipe, 900);
});

Deno.test("scoreboard: without SACK, duplicate ACKs count as segments that left", () => {
  const sb = tenSegments();
  sb.noteDuplicateAck(MSS);
  sb.noteDuplicateAck(MSS);
  sb.noteDuplicateAck(MSS);
  sb.markHeadLost();
  assert.equal(sb.pipe, 1000 - 300 - 100);
  sb.ackTo(1500);
  assert.equal(sb.pipe, 500, "credit does not outlive the data it stood for");
});
