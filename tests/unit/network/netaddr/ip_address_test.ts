/**
 * IP address text and classification, and AddrPort, against the forms Go's
 * net/netip accepts and prints.
 */

import assert from "node:assert/strict";
import { AddrPort, AddrPortError } from "../../../../network/netaddr/addr_port.ts";
import {
  formatIPAddress,
  ipAddressAs16,
  ipAddressEquals,
  isIPv4Mapped,
  isLinkLocalUnicastIP,
  isLoopbackIP,
  isMulticastIP,
  isPrivateIP,
  parseIPAddress,
  unmapIPAddress,
} from "../../../../network/netaddr/ip_address.ts";

const ip = (text: string) => {
  const parsed = parseIPAddress(text);
  assert.ok(parsed, `parse ${text}`);
  return parsed;
};

Deno.test("ip address: parse and format round trips to netip's text", () => {
  const cases: [string, string][] = [
    ["0.0.0.0", "0.0.0.0"],
    ["100.64.0.1", "100.64.0.1"],
    ["255.255.255.255", "255.255.255.255"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["fd7a:115c:a1e0::1", "fd7a:115c:a1e0::1"],
    ["FD7A:115C:A1E0:0:0:0:0:1", "fd7a:115c:a1e0::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // one zero group stays
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longer run is shortened
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // the first of two equal runs
    ["::ffff:1.2.3.4", "::ffff:1.2.3.4"],
    ["::ffff:0102:0304", "::ffff:1.2.3.4"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["fd7a:115c:a1e0:ab12:4843:cd96:6200:1", "fd7a:115c:a1e0:ab12:4843:cd96:6200:1"],
  ];
  for (const [input, text] of cases) {
    assert.equal(formatIPAddress(ip(input)), text, input);
    assert.equal(formatIPAddress(ip(text)), text, text);
  }
});

Deno.test("ip address: malformed text is null, like netip.ParseAddr errors", () => {
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "01.2.3.4", // netip refuses leading zeros
      "1.2.3.-1",
      "1.2.3.4 ",
      " 1.2.3.4",
      "a.b.c.d",
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7::8",
      "12345::",
      "fe80::1%eth0", // zones are not accepted
      "::1.2.3",
      "1.2.3.4::",
      "g::",
      "1.2.3.4/32",
      "x".repeat(60),
    ]
  ) {
    assert.equal(parseIPAddress(bad), null, JSON.stringify(bad));
  }
  assert.equal(parseIPAddress(undefined as unknown as string), null);
  assert.throws(() => formatIPAddress(new Uint8Array(5)), RangeError);
});

Deno.test("ip address: classification matches netip (IPv4-mapped unmapped first)", () => {
  const table: [string, { loopback?: true; linkLocal?: true; private?: true; multicast?: true }][] =
    [
      ["127.0.0.1", { loopback: true }],
      ["127.255.0.9", { loopback: true }],
      ["::1", { loopback: true }],
      ["::ffff:127.0.0.1", { loopback: true }],
      ["169.254.1.1", { linkLocal: true }],
      ["fe80::1", { linkLocal: true }],
      ["febf::1", { linkLocal: true }],
      ["fec0::1", {}],
      ["10.1.2.3", { private: true }],
      ["172.16.0.1", { private: true }],
      ["172.31.255.255", { private: true }],
      ["172.32.0.1", {}],
      ["192.168.0.1", { private: true }],
      ["::ffff:10.0.0.1", { private: true }],
      ["fc00::1", { private: true }],
      ["fd7a:115c:a1e0::1", { private: true }],
      ["100.64.0.1", {}],
      ["8.8.8.8", {}],
      ["2001:db8::1", {}],
      ["224.0.0.1", { multicast: true }],
      ["239.255.255.250", { multicast: true }],
      ["ff02::1", { multicast: true }],
      ["::", {}],
    ];
  for (const [text, want] of table) {
    const addr = ip(text);
    assert.equal(isLoopbackIP(addr), !!want.loopback, `${text} loopback`);
    assert.equal(isLinkLocalUnicastIP(addr), !!want.linkLocal, `${text} link-local`);
    assert.equal(isPrivateIP(addr), !!want.private, `${text} private`);
    assert.equal(isMulticastIP(addr), !!want.multicast, `${text} multicast`);
  }
});

Deno.test("ip address: mapping between 4 and 16 bytes", () => {
  const v4 = ip("1.2.3.4");
  const mapped = ipAddressAs16(v4);
  assert.equal(formatIPAddress(mapped), "::ffff:1.2.3.4");
  assert.equal(isIPv4Mapped(mapped), true);
  assert.equal(isIPv4Mapped(v4), false);
  assert.ok(ipAddressEquals(unmapIPAddress(mapped), v4));
  const v6 = ip("2001:db8::1");
  assert.equal(unmapIPAddress(v6), v6);
  assert.ok(ipAddressEquals(ipAddressAs16(v6), v6));
  assert.equal(ipAddressEquals(v4, mapped), false);
});

Deno.test("addr port: parse, print and compare", () => {
  const cases: [string, string][] = [
    ["1.2.3.4:41641", "1.2.3.4:41641"],
    ["[2001:DB8::1]:0", "[2001:db8::1]:0"],
    ["[::ffff:1.2.3.4]:5", "[::ffff:1.2.3.4]:5"],
    ["127.3.3.40:999", "127.3.3.40:999"],
    ["0.0.0.0:65535", "0.0.0.0:65535"],
  ];
  for (const [input, key] of cases) {
    const ep = AddrPort.parse(input);
    assert.equal(ep.key, key);
    assert.equal(String(ep), key);
    assert.equal(JSON.stringify(ep), JSON.stringify(key));
    assert.ok(ep.equals(AddrPort.parse(key)));
  }
  const v6 = AddrPort.parse("[::ffff:1.2.3.4]:5");
  assert.equal(v6.is6, true);
  assert.equal(v6.equals(AddrPort.parse("1.2.3.4:5")), false, "as in netip, mapped ≠ IPv4");
  assert.equal(AddrPort.parse("1.2.3.4:5").address, "1.2.3.4");
  assert.equal(AddrPort.parse("1.2.3.4:5").equals(null), false);
});

Deno.test("addr port: malformed text and values", () => {
  for (
    const bad of [
      "1.2.3.4",
      "1.2.3.4:",
      "1.2.3.4:65536",
      "1.2.3.4:-1",
      "1.2.3.4:01",
      "::1:80",
      "[1.2.3.4]:80",
      "[::1]80",
      "[::1]",
      "[::1:80",
      "host:80",
      ":80",
      "[fe80::1%eth0]:80",
    ]
  ) {
    assert.equal(AddrPort.tryParse(bad), null, bad);
    assert.throws(() => AddrPort.parse(bad), AddrPortError, bad);
  }
  assert.equal(AddrPort.tryParse(42 as unknown as string), null);
  assert.throws(() => new AddrPort(new Uint8Array(5), 1), AddrPortError);
  assert.throws(() => new AddrPort(new Uint8Array(4), 65536), AddrPortError);
  assert.throws(() => new AddrPort(new Uint8Array(4), 1.5), AddrPortError);
  // The bytes are copied in.
  const bytes = Uint8Array.of(1, 2, 3, 4);
  const ep = new AddrPort(bytes, 9);
  bytes[0] = 99;
  assert.equal(ep.key, "1.2.3.4:9");
});
