import assert from "node:assert/strict";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { IPPrefix, IPPrefixError } from "../../../../network/netaddr/ip_prefix.ts";

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

Deno.test("IPPrefix: lengths with leading zeros are refused, as netip.ParsePrefix does", () => {
  for (const text of ["100.64.0.0/010", "::/00"]) {
    assert.throws(() => IPPrefix.parse(text), IPPrefixError, text);
    assert.equal(IPPrefix.tryParse(text), null, text);
  }
});

Deno.test("IPPrefix: masked or not, text form, containsAt reads in place", () => {
  assert.ok(IPPrefix.parse("10.0.0.0/8").isMasked);
  assert.ok(!IPPrefix.parse("10.0.0.1/8").isMasked);
  assert.ok(IPPrefix.parse("10.0.0.1").isMasked, "a host prefix has no host bits");
  assert.equal(IPPrefix.parse("fd7a:115c:a1e0:0::/48").toString(), "fd7a:115c:a1e0::/48");
  assert.equal(IPPrefix.parse("100.64.0.7").toString(), "100.64.0.7/32");
  const header = new Uint8Array(20);
  header.set(ip("100.64.0.9"), 12);
  assert.ok(IPPrefix.parse("100.64.0.0/24").containsAt(header, 12));
  assert.ok(!IPPrefix.parse("100.64.1.0/24").containsAt(header, 12));
  assert.throws(() => new IPPrefix(new Uint8Array(5), 8), IPPrefixError);
  assert.throws(() => new IPPrefix(ip("1.2.3.4"), 33), IPPrefixError);
});
