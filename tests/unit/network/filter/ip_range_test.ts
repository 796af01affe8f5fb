/**
 * Address-set entries of filter rules (reference §6.3): `*`, single
 * addresses, CIDR prefixes (no host bits), `a-b` ranges, `cap:` entries.
 */

import assert from "node:assert/strict";
import { IPPrefix, IPPrefixError } from "../../../../network/netaddr/ip_prefix.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import {
  IPRange,
  IPSetParseError,
  parseIPSetEntry,
  parsePrefix,
} from "../../../../network/filter/ip_range.ts";

const ip = (text: string) => parseIPAddress(text)!;

Deno.test("ip set: every accepted form becomes the right ranges", () => {
  const table: [string, string[]][] = [
    ["*", ["0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]],
    ["100.64.0.1", ["100.64.0.1"]],
    ["fd7a:115c:a1e0::1", ["fd7a:115c:a1e0::1"]],
    ["100.64.0.0/10", ["100.64.0.0-100.127.255.255"]],
    ["100.64.0.1/32", ["100.64.0.1"]],
    ["0.0.0.0/0", ["0.0.0.0-255.255.255.255"]],
    ["fd7a:115c:a1e0::/48", ["fd7a:115c:a1e0::-fd7a:115c:a1e0:ffff:ffff:ffff:ffff:ffff"]],
    ["fd7a:115c:a1e0::2/128", ["fd7a:115c:a1e0::2"]],
    ["::/0", ["::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]],
    ["100.64.0.1-100.64.0.2", ["100.64.0.1-100.64.0.2"]],
    ["100.64.0.5-100.64.0.5", ["100.64.0.5"]],
    ["fd7a:115c:a1e0::1-fd7a:115c:a1e0::2", ["fd7a:115c:a1e0::1-fd7a:115c:a1e0::2"]],
    ["10.0.0.0/7", ["10.0.0.0-11.255.255.255"]],
  ];
  for (const [text, want] of table) {
    const entry = parseIPSetEntry(text);
    assert.equal(entry.cap, undefined);
    assert.deepEqual(entry.ranges.map(String), want, text);
  }
  const cap = parseIPSetEntry("cap:tailscale.com/cap/funnel");
  assert.deepEqual([cap.cap, cap.ranges.length], ["tailscale.com/cap/funnel", 0]);
});

Deno.test("ip set: malformed entries are IPSetParseError", () => {
  for (
    const bad of [
      "",
      "**",
      "100.64.0.1/33",
      "fd7a::/129",
      "100.64.0.1/24", // host bits set
      "11.0.0.0/7",
      "fd7a:115c:a1e0::1/48",
      "100.64.0.0/",
      "/24",
      "100.64.0.0/08",
      "100.64.0.2-100.64.0.1", // out of order
      "100.64.0.1-fd7a::1", // mixed families
      "100.64.0.1-",
      "a-b",
      "1.2.3.4-5.6.7.8-9.9.9.9",
      "host.example",
      "fe80::1%eth0",
    ]
  ) {
    assert.throws(() => parseIPSetEntry(bad), IPSetParseError, JSON.stringify(bad));
  }
  assert.throws(() => parseIPSetEntry(7 as unknown as string), IPSetParseError);
  assert.match(
    (() => {
      try {
        parseIPSetEntry("100.64.0.1/24");
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    })(),
    /100\.64\.0\.1\/24 contains non-network bits set/,
  );
});

Deno.test("ip range: containment in place and by value", () => {
  const cgnat = parsePrefix("100.64.0.0/10");
  assert.equal(cgnat.is4, true);
  assert.equal(cgnat.contains(ip("100.64.0.0")), true);
  assert.equal(cgnat.contains(ip("100.127.255.255")), true);
  assert.equal(cgnat.contains(ip("100.128.0.0")), false);
  assert.equal(cgnat.contains(ip("100.63.255.255")), false);
  assert.equal(cgnat.contains(ip("::ffff:100.64.0.1")), false, "another family never matches");
  const buffer = new Uint8Array(20);
  buffer.set(ip("100.100.100.100"), 16);
  assert.equal(cgnat.containsAt(buffer, 16), true);

  const ula = parsePrefix("fd7a:115c:a1e0::/48");
  assert.equal(ula.is4, false);
  assert.equal(ula.contains(ip("fd7a:115c:a1e0:ffff::1")), true);
  assert.equal(ula.contains(ip("fd7a:115c:a1e1::")), false);
  assert.equal(ula.contains(ip("100.64.0.1")), false);
  const range = new IPRange(ip("fd7a:115c:a1e0::1"), ip("fd7a:115c:a1e0::2"));
  assert.deepEqual(
    ["::", "fd7a:115c:a1e0::", "fd7a:115c:a1e0::1", "fd7a:115c:a1e0::2", "fd7a:115c:a1e0::3"].map((
      a,
    ) => range.contains(ip(a))),
    [false, false, true, true, false],
  );
  assert.equal(IPRange.allIPv4().isAll, true);
  assert.equal(IPRange.allIPv6().isAll, true);
  assert.equal(cgnat.isAll, false);
  assert.throws(() => new IPRange(ip("1.1.1.1"), ip("::1")), IPSetParseError);
  assert.throws(() => new IPPrefix(ip("1.1.1.1"), 1.5), IPPrefixError);
  assert.throws(() => IPRange.fromPrefix(IPPrefix.parse("1.1.1.1/8")), IPSetParseError);
});
