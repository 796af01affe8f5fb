import assert from "node:assert/strict";
import { Cubic } from "../../../../../network/netstack/tcp/cubic.ts";
import { NewReno } from "../../../../../network/netstack/tcp/new_reno.ts";
import {
  makeCongestionController,
} from "../../../../../network/netstack/tcp/congestion_control.ts";

const MSS = 1000;

Deno.test("newreno: slow start, congestion avoidance, loss and timeout (RFC 5681)", () => {
  const cc = new NewReno(MSS, 10 * MSS);
  cc.onAck(1000, 0, 10, true);
  assert.equal(cc.cwnd, 11 * MSS);
  cc.onAck(5000, 0, 10, true);
  assert.equal(cc.cwnd, 13 * MSS, "at most 2·SMSS per ACK (RFC 3465 L = 2)");
  cc.onAck(1000, 0, 10, false);
  assert.equal(cc.cwnd, 13 * MSS, "an application-limited sender does not grow (RFC 7661)");
  cc.onCongestionEvent(0, 20 * MSS);
  assert.equal(cc.ssthresh, 10 * MSS, "FlightSize / 2");
  assert.equal(cc.cwnd, 10 * MSS);
  for (let i = 0; i < 10; i++) cc.onAck(MSS, 0, 10, true);
  assert.equal(cc.cwnd, 11 * MSS, "one MSS per window of ACKed bytes");
  cc.onRetransmitTimeout(0, 4 * MSS);
  assert.equal(cc.cwnd, MSS, "loss window of one segment");
  assert.equal(cc.ssthresh, 2 * MSS, "at least 2·SMSS");
});

Deno.test("cubic: β = 0.7 reduction, concave climb back to W_max at K, then convex (RFC 9438)", () => {
  const cc = new Cubic(MSS, 10 * MSS);
  cc.onAck(90 * MSS, 0, 100, true); // slow start is capped per ACK; grow in steps
  while (cc.cwnd < 100 * MSS) cc.onAck(2 * MSS, 0, 100, true);
  const wMax = cc.cwnd;
  cc.onCongestionEvent(0, wMax);
  assert.equal(cc.cwnd, Math.floor(wMax * 0.7));
  cc.onRecoveryEnd();
  const k = Math.cbrt((wMax / MSS) * 0.3 / 0.4); // seconds
  // ACK a window per 100 ms RTT and watch the window over time.
  const at = new Map<number, number>();
  for (let t = 0; t <= Math.ceil(k * 1000) + 3000; t += 100) {
    const segments = cc.cwnd / MSS;
    for (let i = 0; i < segments; i++) cc.onAck(MSS, t, 100, true);
    at.set(t, cc.cwnd);
  }
  const kMs = Math.round(k * 10) * 100;
  const near = at.get(kMs)!;
  assert.ok(Math.abs(near - wMax) < 0.05 * wMax, `at K (${kMs} ms) cwnd ${near} ≈ W_max ${wMax}`);
  const early = at.get(1000)! - at.get(0)!;
  const plateau = at.get(kMs)! - at.get(kMs - 1000)!;
  const later = at.get(kMs + 3000)! - at.get(kMs + 2000)!;
  assert.ok(early > plateau && later > plateau, "fast, slow near W_max, fast again");
});

Deno.test("cubic: fast convergence lowers W_max when losses come before reaching it", () => {
  const cc = new Cubic(MSS, 100 * MSS);
  cc.onCongestionEvent(0, 100 * MSS); // W_max 100
  cc.onCongestionEvent(0, 70 * MSS); // cwnd 70 < W_max → W_max = 70·(1+0.7)/2
  assert.equal(cc.cwnd, Math.floor(70 * MSS * 0.7));
  const state = cc.save();
  cc.onRetransmitTimeout(0, 10 * MSS);
  assert.equal(cc.cwnd, MSS);
  cc.restore(state);
  assert.equal(cc.cwnd, Math.floor(70 * MSS * 0.7), "undo restores the window");
});

Deno.test("congestion control: the default is CUBIC, both start at the RFC 6928 window", () => {
  assert.equal(makeCongestionController("cubic", 1460).cwnd, 14_600);
  assert.equal(makeCongestionController("newreno", 1000).cwnd, 10_000);
  assert.equal(makeCongestionController("cubic", 536).cwnd, 5360);
});
