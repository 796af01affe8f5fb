import assert from "node:assert/strict";
import { RttEstimator } from "../../../../../network/netstack/tcp/rtt_estimator.ts";

Deno.test("rtt: RFC 6298 §2 — first sample, then smoothing", () => {
  const e = new RttEstimator(1000, 0, 120_000);
  assert.equal(e.rto, 1000, "initial RTO");
  e.sample(100);
  assert.equal(e.srtt, 100);
  assert.equal(e.rttvar, 50);
  assert.equal(e.rto, 300, "SRTT + 4·RTTVAR");
  e.sample(200);
  assert.equal(e.rttvar, 0.75 * 50 + 0.25 * 100);
  assert.equal(e.srtt, 0.875 * 100 + 0.125 * 200);
  assert.equal(e.rto, e.srtt! + 4 * e.rttvar);
});

Deno.test("rtt: clamps, backoff doubles up to the maximum, a sample clears it", () => {
  const e = new RttEstimator(1000, 200, 60_000);
  e.sample(10);
  assert.equal(e.rto, 200, "the floor");
  for (let i = 0; i < 20; i++) e.backOff();
  assert.equal(e.rto, 60_000, "the ceiling");
  e.sample(10);
  assert.equal(e.backoff, 0);
  assert.equal(e.rto, 200);
  e.reset(3000);
  assert.equal(e.rto, 3000);
});
