/**
 * The bound on bytes in flight between the main thread and the UDP worker:
 * posts beyond the limit are refused until the taker releases, also once the
 * counters wrap; and the socket drops (and counts) what the bound refuses
 * both ways, so a stalled thread's inbox stays bounded.
 */
import assert from "node:assert/strict";
import {
  BudgetSlot,
  releaseBudget,
  sharedCounters,
  ThreadBudget,
} from "../../../../network/magicsock/thread_budget.ts";
import { MAX_BATCHED_SENDS } from "../../../../network/magicsock/udp_socket.ts";
import { UdpThreadSocket } from "../../../../network/magicsock/udp_thread_socket.ts";

Deno.test("thread budget: refuses past the limit until released, across the 2^32 wrap", () => {
  const counters = sharedCounters();
  const budget = new ThreadBudget(counters, BudgetSlot.SendDone, 1000);
  assert.ok(budget.tryPost(600));
  assert.ok(!budget.tryPost(401), "1,001 would be in flight");
  assert.ok(budget.tryPost(400));
  assert.equal(budget.inFlight, 1000);
  releaseBudget(counters, BudgetSlot.SendDone, 600);
  assert.equal(budget.inFlight, 400);
  assert.ok(budget.tryPost(600));
  // Far past 2^32 bytes in total, the difference still holds.
  for (let i = 0; i < 5000; i++) {
    releaseBudget(counters, BudgetSlot.SendDone, 1_000_000);
    assert.ok(budget.tryPost(1_000_000) || i === 0, `round ${i}`);
  }
  assert.ok(budget.inFlight <= 1000 && budget.inFlight >= 0);
  assert.equal(Atomics.load(counters, BudgetSlot.ReceiveDone), 0, "slots are separate");
});

Deno.test("udp socket (worker): a send batch past the bound is dropped and counted", async () => {
  let received = 0;
  const sink = await UdpThreadSocket.bind({ hostname: "127.0.0.1" }, () => received++);
  const socket = await UdpThreadSocket.bind({ hostname: "127.0.0.1" }, () => {}, 8 * 1024);
  try {
    for (let i = 0; i < MAX_BATCHED_SENDS; i++) socket.send(sink.address!, new Uint8Array(100));
    assert.equal(socket.sendErrors, MAX_BATCHED_SENDS, "12.8 KB in one batch exceeds 8 KiB");
    assert.equal(socket.sendQueueBytes, 0);
    for (let i = 0; i < 10; i++) socket.send(sink.address!, new Uint8Array(100));
    await Promise.resolve();
    const deadline = Date.now() + 5_000;
    while (received < 10 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(received, 10, "a batch within the bound goes");
    assert.equal(socket.sendErrors, MAX_BATCHED_SENDS);
    assert.equal(socket.sendQueueBytes, 0, "the worker released what it sent");
  } finally {
    await socket.close();
    await sink.close();
  }
});

Deno.test("udp socket (worker): while the main thread stalls, the worker posts no more than the bound", async () => {
  let received = 0;
  const queueBytes = 2 * 96 * 1024; // two receive batches
  const socket = await UdpThreadSocket.bind(
    { hostname: "127.0.0.1" },
    () => received++,
    queueBytes,
  );
  // The sender is a worker socket too: a full batch of sends leaves at once,
  // from its own thread, while ours stays busy.
  const sender = await UdpThreadSocket.bind({ hostname: "127.0.0.1" }, () => {});
  try {
    const rounds = 12;
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < MAX_BATCHED_SENDS; i++) sender.send(socket.address!, new Uint8Array(500));
      const until = performance.now() + 20;
      while (performance.now() < until) { /* stall: the worker reads them meanwhile */ }
    }
    const stalledDrops = socket.receiveErrors;
    const total = rounds * MAX_BATCHED_SENDS;
    const deadline = Date.now() + 5_000;
    while (received + socket.receiveErrors < total && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Two batches of at most 64 fit in the bound; the rest was dropped during the stall.
    assert.ok(stalledDrops >= total - 2 * 64, `dropped during the stall: ${stalledDrops}`);
    assert.ok(received <= 2 * 64, `delivered: ${received}`);
    assert.ok(received > 0, "what fitted was delivered");
    // (The kernel may drop some too under load: those are nobody's count.)
    assert.ok(received + socket.receiveErrors <= total);
  } finally {
    await sender.close();
    await socket.close();
  }
});
