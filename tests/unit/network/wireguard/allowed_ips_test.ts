import assert from "node:assert/strict";
import { AllowedIPs } from "../../../../network/wireguard/allowed_ips.ts";
import { IPPrefix } from "../../../../network/netaddr/ip_prefix.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";

const ip = (text: string) => parseIPAddress(text)!;

Deno.test("AllowedIPs: longest prefix wins, per family; unknown addresses have no owner", () => {
  const table = new AllowedIPs<string>();
  table.insert(IPPrefix.parse("10.0.0.0/8"), "wide");
  table.insert(IPPrefix.parse("10.1.0.0/16"), "narrow");
  table.insert(IPPrefix.parse("10.1.2.3/32"), "host");
  table.insert(IPPrefix.parse("fd7a:115c:a1e0::/48"), "v6net");
  table.insert(IPPrefix.parse("fd7a:115c:a1e0::5"), "v6host");
  assert.equal(table.lookup(ip("10.9.9.9")), "wide");
  assert.equal(table.lookup(ip("10.1.9.9")), "narrow");
  assert.equal(table.lookup(ip("10.1.2.3")), "host");
  assert.equal(table.lookup(ip("10.1.2.4")), "narrow");
  assert.equal(table.lookup(ip("11.0.0.1")), undefined);
  assert.equal(table.lookup(ip("fd7a:115c:a1e0::5")), "v6host");
  assert.equal(table.lookup(ip("fd7a:115c:a1e0::6")), "v6net");
  assert.equal(table.lookup(ip("::ffff:10.1.2.3")), undefined, "IPv4-mapped is IPv6");
  assert.equal(table.lookup(new Uint8Array(5)), undefined);
  assert.equal(table.size, 5);
  table.insert(IPPrefix.parse("10.1.0.0/16"), "replaced");
  assert.equal(table.size, 5, "an equal prefix replaces the value");
  assert.equal(table.lookup(ip("10.1.9.9")), "replaced");
  table.insert(IPPrefix.parse("10.1.2.3/8"), "masked");
  assert.equal(table.lookup(ip("10.200.0.0")), "masked", "host bits are ignored");
});

Deno.test("AllowedIPs: default routes and prefixes inserted above existing ones", () => {
  const table = new AllowedIPs<number>();
  table.insert(IPPrefix.parse("192.168.1.0/24"), 1);
  table.insert(IPPrefix.parse("192.168.0.0/16"), 2);
  table.insert(IPPrefix.parse("0.0.0.0/0"), 3);
  table.insert(IPPrefix.parse("::/0"), 4);
  assert.equal(table.lookup(ip("192.168.1.1")), 1);
  assert.equal(table.lookup(ip("192.168.2.1")), 2);
  assert.equal(table.lookup(ip("8.8.8.8")), 3);
  assert.equal(table.lookup(ip("2001:db8::1")), 4);
});

Deno.test("AllowedIPs: lookupPacket reads source and destination in place", () => {
  const table = new AllowedIPs<string>();
  table.insert(IPPrefix.parse("100.64.0.1/32"), "a");
  table.insert(IPPrefix.parse("100.64.0.2/32"), "b");
  const v4 = new Uint8Array(28);
  v4[0] = 0x45;
  v4.set(ip("100.64.0.1"), 12);
  v4.set(ip("100.64.0.2"), 16);
  assert.equal(table.lookupPacket(v4, "source"), "a");
  assert.equal(table.lookupPacket(v4, "destination"), "b");
  assert.equal(table.lookupPacket(v4.subarray(0, 19), "source"), undefined);
  const v6 = new Uint8Array(40);
  v6[0] = 0x60;
  table.insert(IPPrefix.parse("fd7a::/16"), "c");
  v6.set(ip("fd7a::9"), 24);
  assert.equal(table.lookupPacket(v6, "destination"), "c");
  assert.equal(table.lookupPacket(new Uint8Array(40), "source"), undefined, "version 0");
});

Deno.test("AllowedIPs: 20,000 random lookups agree with a linear longest-prefix scan", () => {
  let seed = 0x12345678;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const randomIP = (v4: boolean) => {
    const out = new Uint8Array(v4 ? 4 : 16);
    for (let i = 0; i < out.length; i++) out[i] = next() & 0xff;
    // Crowd the addresses into a few networks so prefixes nest and part often.
    out[0] = v4 ? 100 : 0xfd;
    if (next() & 1) out[1] = v4 ? 64 : 0x7a;
    return out;
  };
  const entries: [IPPrefix, number][] = [];
  const table = new AllowedIPs<number>();
  for (let i = 0; i < 1500; i++) {
    const v4 = (next() & 3) !== 0;
    const width = v4 ? 32 : 128;
    const bits = next() % 4 === 0 ? next() % (width + 1) : width - (next() % 9);
    const prefix = new IPPrefix(randomIP(v4), bits);
    entries.push([prefix, i]);
    table.insert(prefix, i);
  }
  const linear = (address: Uint8Array) => {
    let best: number | undefined, bestBits = -1;
    // Later inserts of an equal prefix win, as in the table.
    for (const [prefix, value] of entries) {
      if (prefix.bits >= bestBits && prefix.contains(address)) {
        best = value;
        bestBits = prefix.bits;
      }
    }
    return best;
  };
  for (let i = 0; i < 20_000; i++) {
    const address = i % 3 === 0
      ? entries[next() % entries.length][0].ip // hit an entry's own address often
      : randomIP((next() & 3) !== 0);
    assert.equal(table.lookup(address), linear(address), `lookup #${i}`);
  }
});
