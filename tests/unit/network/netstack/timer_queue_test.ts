import assert from "node:assert/strict";
import { type TimedItem, TimerQueue } from "../../../../network/netstack/timer_queue.ts";

class Item implements TimedItem {
  scheduledAt = Infinity;
  deadline = Infinity;
  runs: number[] = [];
  constructor(readonly name: string, readonly log: string[]) {}
  nextDeadline(): number {
    return this.deadline;
  }
  onTimer(now: number): void {
    this.runs.push(now);
    this.log.push(`${this.name}@${now}`);
    this.deadline = Infinity;
  }
}

Deno.test("timer queue: runs items in deadline order, each once", () => {
  const log: string[] = [];
  const q = new TimerQueue<Item>();
  const items = ["a", "b", "c", "d"].map((n) => new Item(n, log));
  const at = [40, 10, 30, 20];
  items.forEach((item, i) => {
    item.deadline = at[i];
    q.schedule(item, at[i]);
  });
  assert.equal(q.earliest, 10);
  q.run(25);
  assert.deepEqual(log, ["b@25", "d@25"]);
  q.run(100);
  assert.deepEqual(log, ["b@25", "d@25", "c@100", "a@100"]);
  assert.equal(q.size, 0);
});

Deno.test("timer queue: a later deadline is found when the old entry falls due; earlier ones refile", () => {
  const log: string[] = [];
  const q = new TimerQueue<Item>();
  const item = new Item("x", log);
  item.deadline = 10;
  q.schedule(item, 10);
  item.deadline = 50; // moved later without telling the queue (a restarted RTO)
  q.run(10);
  assert.deepEqual(log, [], "not due yet: refiled under 50");
  assert.equal(q.earliest, 50);
  item.deadline = 20;
  q.schedule(item, 20); // moved earlier: told
  q.run(20);
  assert.deepEqual(log, ["x@20"]);
  q.run(60);
  assert.deepEqual(log, ["x@20"], "the stale entry at 50 does not run it again");
  q.forget(item);
  assert.equal(q.size, 0);
});

Deno.test("timer queue: forgotten items stop counting at once, and their stale entries are dropped", () => {
  const log: string[] = [];
  const q = new TimerQueue<Item>();
  const keep = new Item("keep", log);
  keep.deadline = 50;
  q.schedule(keep, 50);
  const gone = Array.from({ length: 1000 }, (_, i) => new Item(`g${i}`, log));
  for (const item of gone) {
    item.deadline = 7_200_000; // a keepalive hours away
    q.schedule(item, item.deadline);
  }
  assert.equal(q.pending, 1001);
  for (const item of gone) q.forget(item);
  assert.equal(q.pending, 1);
  assert.ok(q.size <= 2 * q.pending + 64, `stale entries compacted (size ${q.size})`);
  q.run(100);
  assert.deepEqual(log, ["keep@100"]);
  assert.equal(q.pending, 0);
});
