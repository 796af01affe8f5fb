import assert from "node:assert/strict";
import {
  formatUnmappedIPAddress as formatIP,
  isIPv4Mapped,
  parseIPAddress as parseIP,
} from "../../../../network/netaddr/ip_address.ts";

Deno.test("formatIP: IPv4, canonical IPv6 (RFC 5952 §4), mapped IPv4 unmapped", () => {
  const cases: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["::", "::"],
    ["::1", "::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["fd7a:115c:a1e0::", "fd7a:115c:a1e0::"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["::ffff:10.0.0.1", "10.0.0.1"],
    ["::10.0.0.1", "::a00:1"],
    ["2001:DB8::A", "2001:db8::a"],
  ];
  for (const [input, want] of cases) {
    const bytes = parseIP(input);
    assert.ok(bytes, input);
    assert.equal(formatIP(bytes), want, input);
  }
});

Deno.test("parseIP refuses what is not an address", () => {
  for (
    const text of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "01.2.3.4",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "12345::",
      "1.2.3.4::",
      "fe80::1%eth0",
      "[::1]",
      "::1:2:3:4:5:6:7:8",
    ]
  ) {
    assert.equal(parseIP(text), null, text);
  }
});

Deno.test("isIPv4Mapped and formatIP length checks", () => {
  assert.ok(isIPv4Mapped(parseIP("::ffff:1.2.3.4")!));
  assert.equal(isIPv4Mapped(parseIP("::1")!), false);
  assert.equal(isIPv4Mapped(parseIP("1.2.3.4")!), false);
  assert.throws(() => formatIP(new Uint8Array(5)), RangeError);
});
