/**
 * DeviceTimer keeps one clock timer no later than the WireGuard device's
 * earliest deadline without re-setting it on every packet: a deadline that
 * moves later keeps the armed timer, which fires early, runs nothing due,
 * and re-arms at the true deadline; an earlier one re-arms at once.
 */
import assert from "node:assert/strict";
import { DeviceTimer } from "../../../../network/engine/device_timer.ts";
import type { DeviceOutput, WireGuardDevice } from "../../../../network/wireguard/device.ts";
import type { WireGuardPeer } from "../../../../network/wireguard/peer.ts";
import { VirtualClock } from "../disco/virtual_clock.ts";

/** A device with one peer whose deadline the test sets; records tick times. */
function fakeDevice() {
  const state = { deadline: undefined as number | undefined, ticks: [] as number[] };
  const peer = { nextDeadline: () => state.deadline } as unknown as WireGuardPeer;
  const device = {
    nextDeadline: () => state.deadline,
    tick(now: number): DeviceOutput[] {
      state.ticks.push(now);
      if (state.deadline !== undefined && state.deadline <= now) state.deadline = undefined;
      return [];
    },
  } as unknown as WireGuardDevice;
  return { state, peer, device };
}

/** A virtual clock that counts the timers set on it. */
function countingClock() {
  const clock = new VirtualClock(0);
  const counts = { set: 0 };
  const setTimeout = clock.setTimeout.bind(clock);
  clock.setTimeout = (callback, ms) => {
    counts.set++;
    return setTimeout(callback, ms);
  };
  return { clock, counts };
}

Deno.test("device timer: later deadlines on every packet set no new timer", () => {
  const { state, peer, device } = fakeDevice();
  const { clock, counts } = countingClock();
  const timer = new DeviceTimer(device, clock, () => {});
  state.deadline = 10_000;
  timer.arm(peer);
  for (let i = 1; i <= 1000; i++) {
    clock.advance(1);
    state.deadline = clock.monotonic() + 10_000; // a keepalive deadline pushed by each packet
    timer.arm(peer);
  }
  assert.equal(counts.set, 1, "one timer for 1000 packets");
  clock.advance(10_000 - 1000);
  assert.deepEqual(state.ticks, [10_000], "it fired at the first deadline and ran nothing due");
  assert.equal(counts.set, 2, "then re-armed once, at the true deadline");
  assert.equal(clock.nextDue(), 11_000);
  clock.advance(1000);
  assert.deepEqual(state.ticks, [10_000, 11_000]);
  assert.equal(clock.nextDue(), undefined, "nothing left to wait for");
  timer.stop();
});

Deno.test("device timer: an earlier deadline re-arms at once; stop disarms", () => {
  const { state, peer, device } = fakeDevice();
  const { clock } = countingClock();
  const timer = new DeviceTimer(device, clock, () => {});
  state.deadline = 5_000;
  timer.arm(peer);
  state.deadline = 100; // a handshake retry
  timer.arm(peer);
  assert.equal(clock.nextDue(), 100);
  clock.advance(100);
  assert.deepEqual(state.ticks, [100]);
  state.deadline = 300;
  timer.arm();
  timer.stop();
  clock.advance(1000);
  assert.deepEqual(state.ticks, [100], "a stopped timer runs nothing");
});
