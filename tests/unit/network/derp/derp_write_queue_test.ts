import assert from "node:assert/strict";
import { DerpWriteQueue } from "../../../../network/derp/derp_write_queue.ts";

Deno.test("derp write queue: writes run one at a time, in order", async () => {
  const queue = new DerpWriteQueue({ packet: 10, pong: 10, control: 10 });
  const log: string[] = [];
  let active = 0;
  const write = (name: string) => async () => {
    assert.equal(active++, 0, "two writes at once");
    log.push(`start ${name}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
    log.push(`end ${name}`);
    active--;
  };
  await Promise.all([
    queue.offer("packet", write("a")),
    queue.offer("pong", write("b")),
    queue.offer("control", write("c")),
  ]);
  assert.deepEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
});

Deno.test("derp write queue: each kind is bounded on its own; a slot frees when its write ends", async () => {
  const queue = new DerpWriteQueue({ packet: 2, pong: 1, control: 1 });
  let unblock!: () => void;
  const blocked = new Promise<void>((resolve) => (unblock = resolve));
  const first = queue.offer("packet", () => blocked);
  assert.ok(first);
  assert.ok(queue.offer("packet", () => Promise.resolve()));
  assert.equal(queue.offer("packet", () => Promise.resolve()), null);
  assert.ok(queue.offer("pong", () => Promise.resolve()));
  assert.equal(queue.offer("pong", () => Promise.resolve()), null);
  assert.equal(queue.pending("packet"), 2);
  assert.equal(queue.pending("pong"), 1);
  unblock();
  await first;
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(queue.pending("packet"), 0);
  assert.equal(queue.pending("pong"), 0);
  assert.ok(queue.offer("pong", () => Promise.resolve()));
});

Deno.test("derp write queue: a failed write rejects its own promise and frees its slot", async () => {
  const queue = new DerpWriteQueue({ packet: 1, pong: 1, control: 1 });
  await assert.rejects(queue.offer("packet", () => Promise.reject(new Error("boom")))!, /boom/);
  assert.equal(queue.pending("packet"), 0);
  await queue.offer("packet", () => Promise.resolve());
});
