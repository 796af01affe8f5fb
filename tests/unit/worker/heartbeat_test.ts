import assert from "node:assert/strict";
import { heartbeatFields, HeartbeatTimer } from "../../../worker/heartbeat.ts";
import type { WorkerStatus } from "../../../worker/worker_status.ts";
import { VirtualClock } from "../network/disco/virtual_clock.ts";

const flush = () => new Promise((r) => setTimeout(r, 0));

Deno.test("heartbeat: one at once, then every 30 s in virtual time", async () => {
  const clock = new VirtualClock();
  const beats: number[] = [];
  const timer = new HeartbeatTimer(clock, 30_000, () => {
    beats.push(clock.monotonic());
    return Promise.resolve();
  });
  timer.start();
  await flush();
  for (let i = 0; i < 3; i++) {
    clock.advance(30_000);
    await flush();
  }
  clock.advance(29_999);
  await flush();
  assert.deepEqual(beats, [1000, 31_000, 61_000, 91_000]);
  timer.stop();
  clock.advance(60_000);
  await flush();
  assert.equal(beats.length, 4);
});

Deno.test("heartbeat: a failing beat does not stop the next ones", async () => {
  const clock = new VirtualClock();
  let calls = 0;
  const timer = new HeartbeatTimer(clock, 30_000, () => {
    calls++;
    return Promise.reject(new Error("redis down"));
  });
  timer.start();
  await flush();
  clock.advance(30_000);
  await flush();
  assert.equal(calls, 2);
  timer.stop();
});

Deno.test("heartbeatFields: the Go original's stream fields and status message", () => {
  const worker = {
    state: "running",
    consumer: "citadel-a",
    group: "citadel-workers",
    queues: ["q"],
    jobsRunning: 1,
    jobsDone: 5,
    jobsFailed: 2,
    jobsDeadLettered: 1,
    lastError: null,
  } as unknown as WorkerStatus;
  const fields = heartbeatFields(
    { nodeName: "gpu-1", nodeId: "12", meshIPs: ["fd7a::1", "100.64.0.5"], lastError: "derp down" },
    worker,
    "0.1.0",
    Date.UTC(2026, 0, 1),
    90_500,
  );
  assert.deepEqual(fields.slice(0, 2), [["nodeId", "gpu-1"], [
    "timestamp",
    "2026-01-01T00:00:00.000Z",
  ]]);
  const message = JSON.parse(fields[2][1]);
  assert.equal(message.version, "1.0");
  assert.equal(message.headscaleNodeId, "12");
  assert.deepEqual(message.status.node, {
    name: "gpu-1",
    tailscale_ip: "100.64.0.5",
    network_ip: "100.64.0.5",
    mesh_ips: ["fd7a::1", "100.64.0.5"],
    uptime_seconds: 90,
    version: "0.1.0",
  });
  assert.equal(message.status.worker.jobs_running, 1);
  assert.equal(message.status.worker.jobs_done, 5);
  assert.equal(message.status.worker.last_error, "derp down");
});
