import assert from "node:assert/strict";
import { parseIPAddress } from "../../../../network/filter/ip_address.ts";
import { IPPrefix, IPPrefixError, packetAddress } from "../../../../network/magicsock/ip_prefix.ts";

const ip = (text: string) => parseIPAddress(text)!;

Deno.test("IPPrefix: contains by prefix length, per family", () => {
  const cgnat = IPPrefix.parse("100.64.0.0/10");
  assert.ok(cgnat.contains(ip("100.127.255.255")));
  assert.ok(!cgnat.contains(ip("100.128.0.0")));
  assert.ok(!cgnat.contains(ip("fd7a:115c:a1e0::1")), "other family");
  const host = IPPrefix.parse("100.64.0.1");
  assert.ok(host.isSingleIP && host.contains(ip("100.64.0.1")) && !host.contains(ip("100.64.0.2")));
  const v6 = IPPrefix.parse("fd7a:115c:a1e0::/48");
  assert.ok(v6.contains(ip("fd7a:115c:a1e0:ffff::1")) && !v6.contains(ip("fd7a:115c:a1e1::")));
  assert.ok(IPPrefix.parse("0.0.0.0/0").contains(ip("8.8.8.8")));
});

Deno.test("IPPrefix: malformed prefixes throw IPPrefixError", () => {
  for (const text of ["", "100.64.0.0/33", "::/129", "nope/8", "1.2.3.4/-1", "1.2.3.4/"]) {
    assert.throws(() => IPPrefix.parse(text), IPPrefixError, text);
  }
});

Deno.test("packetAddress: IPv4 and IPv6 source and destination, short packets", () => {
  const v4 = new Uint8Array(20);
  v4[0] = 0x45;
  v4.set(ip("1.2.3.4"), 12);
  v4.set(ip("5.6.7.8"), 16);
  assert.deepEqual(packetAddress(v4, "source"), ip("1.2.3.4"));
  assert.deepEqual(packetAddress(v4, "destination"), ip("5.6.7.8"));
  const v6 = new Uint8Array(40);
  v6[0] = 0x60;
  v6.set(ip("::1"), 24);
  assert.deepEqual(packetAddress(v6, "destination"), ip("::1"));
  assert.equal(packetAddress(v4.subarray(0, 19), "source"), undefined);
  assert.equal(packetAddress(new Uint8Array(40), "source"), undefined, "version 0");
});
