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
