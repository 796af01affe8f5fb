/**
 * betterAddr (data-plane reference §2.7), table-driven. The cases follow the
 * rules one by one; the numbers are worked out by hand from the point rules.
 */

import assert from "node:assert/strict";
import { type AddrQuality, betterAddr } from "../../../../network/disco/better_addr.ts";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";

const q = (addr: string, latencyMs: number, extra: Partial<AddrQuality> = {}): AddrQuality => ({
  addr: AddrPort.parse(addr),
  latencyMs,
  ...extra,
});

const pub4 = "198.51.100.1:41641";
const pub4b = "198.51.100.2:41641";
const pub6 = "[2001:db8::1]:41641";
const pub6b = "[2001:db8::2]:41641";
const priv4 = "192.168.1.10:41641";
const ula6 = "[fd00::10]:41641";
const loop4 = "127.0.0.1:41641";
const ll6 = "[fe80::1]:41641";
const ll4 = "169.254.0.1:41641";

const table: [string, AddrQuality | null, AddrQuality | null, boolean][] = [
  ["nothing vs nothing", null, null, false],
  ["a path beats no path", q(pub4, 100), null, true],
  ["no path never beats a path", null, q(pub4, 100), false],
  ["same path, same MTU: not better", q(pub4, 1), q(pub4, 100), false],
  [
    "same path, larger MTU: better",
    q(pub4, 100, { wireMTU: 1500 }),
    q(pub4, 1, { wireMTU: 1360 }),
    true,
  ],
  [
    "same path, smaller MTU: not better",
    q(pub4, 1, { wireMTU: 1200 }),
    q(pub4, 1, { wireMTU: 1360 }),
    false,
  ],
  ["direct beats relayed whatever the latency", q(pub4, 500), q(pub4b, 1, { relayed: true }), true],
  ["relayed never beats direct", q(pub4, 1, { relayed: true }), q(pub4b, 500), false],
  [
    "two relayed paths compare by latency",
    q(pub4, 10, { relayed: true }),
    q(pub4b, 20, { relayed: true }),
    true,
  ],
  ["twice as fast: 50 points to 0", q(pub4, 10), q(pub4b, 20), true],
  ["twice as slow", q(pub4, 20), q(pub4b, 10), false],
  ["equal latency, both public IPv4: not better", q(pub4, 10), q(pub4b, 10), false],
  // 100 - floor(99.5*100/100) = 1 point: within the hysteresis.
  ["0.5% faster is not better (hysteresis)", q(pub4, 99.5), q(pub4b, 100), false],
  // 100 - floor(98*100/100) = 2 points.
  ["2% faster is better", q(pub4, 98), q(pub4b, 100), true],
  ["IPv6 +10 wins at equal latency", q(pub6, 10), q(pub4, 10), true],
  ["IPv4 loses to IPv6 at equal latency", q(pub4, 10), q(pub6, 10), false],
  // a: 0 + 10, b: 100 - floor(9*100/10) = 10 → not better (equal).
  ["IPv6 bonus cancelled by 10% slower", q(pub6, 10), q(pub4, 9), false],
  // a: 0 + 10, b: 100 - floor(9.5*100/10) = 5 → better.
  ["IPv6 bonus beats 5% slower", q(pub6, 10), q(pub4, 9.5), true],
  ["private +20 beats public", q(priv4, 10), q(pub4, 10), true],
  // a: 0 + 20, b: 100 - floor(7*100/10) = 30.
  ["private loses to 30% faster public", q(priv4, 10), q(pub4, 7), false],
  // a: 0 + 20 + 10, b: 100 - floor(9*100/10) + 10 = 20.
  ["ULA is private and IPv6: +30", q(ula6, 10), q(pub6, 9), true],
  // a: 30, b: 100 - floor(8*100/10) + 10 = 30: a tie is not better.
  ["a tie in points is not better", q(ula6, 10), q(pub6, 8), false],
  ["loopback +50", q(loop4, 10), q(priv4, 10), true],
  // a: 0 + 50, b: 100 - floor(4*100/10) = 60.
  ["loopback loses to a much faster path", q(loop4, 10), q(priv4, 4), false],
  ["IPv6 link-local +30 +10", q(ll6, 10), q(priv4, 10), true],
  ["IPv4 link-local +30 beats private +20", q(ll4, 10), q(priv4, 10), true],
  ["two IPv6: latency decides", q(pub6, 10), q(pub6b, 20), true],
  ["zero latency vs zero latency: no points", q(pub4, 0), q(pub4b, 0), false],
  ["zero latency vs positive: 100 points", q(pub4, 0), q(pub4b, 5), true],
  ["positive vs zero latency", q(pub4, 5), q(pub4b, 0), false],
];

for (const [name, a, b, want] of table) {
  Deno.test(`betterAddr: ${name}`, () => {
    assert.equal(betterAddr(a, b), want);
  });
}

Deno.test("betterAddr: never better in both directions", () => {
  const all = [pub4, pub4b, pub6, priv4, ula6, loop4, ll6, ll4];
  for (const x of all) {
    for (const y of all) {
      for (const [lx, ly] of [[1, 1], [1, 2], [10, 9.9], [3, 30], [0, 7]]) {
        const a = q(x, lx), b = q(y, ly);
        assert.ok(!(betterAddr(a, b) && betterAddr(b, a)), `${x}@${lx} vs ${y}@${ly}`);
      }
    }
  }
});
