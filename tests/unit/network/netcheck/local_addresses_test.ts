import assert from "node:assert/strict";
import {
  type InterfaceAddress,
  localAddressSnapshot,
  probeOSHasIPv6,
} from "../../../../network/netcheck/local_addresses.ts";

function v4(name: string, address: string): InterfaceAddress {
  return { name, family: "IPv4", address };
}
function v6(name: string, address: string): InterfaceAddress {
  return { name, family: "IPv6", address };
}

Deno.test("local addresses: loopback and link-local do not count", () => {
  const s = localAddressSnapshot([
    v4("lo", "127.0.0.1"),
    v6("lo", "::1"),
    v4("eth0", "169.254.3.4"),
    v6("eth0", "fe80::1%2"),
  ]);
  assert.deepEqual(s, { haveV4: false, haveV6: false, addresses: [], key: "" });
});

Deno.test("local addresses: private IPv4, global and ULA IPv6 count; Tailscale's do not", () => {
  const s = localAddressSnapshot([
    v4("eth0", "192.168.1.20"),
    v6("eth0", "2001:db8::20"),
    v6("eth1", "fd00::2"),
    v6("eth1", "fd7a:115c:a1e0::5"), // Tailscale's ULA
    v4("tailscale0", "100.64.0.1"),
    v6("tailscale0", "fd7a:115c:a1e0::1"),
  ]);
  assert.equal(s.haveV4, true);
  assert.equal(s.haveV6, true);
  assert.deepEqual(s.addresses, ["eth0/192.168.1.20", "eth0/2001:db8::20", "eth1/fd00::2"]);
});

Deno.test("local addresses: an IPv6 that is neither global nor ULA gives no IPv6", () => {
  const s = localAddressSnapshot([v4("eth0", "10.0.0.2"), v6("eth0", "100::1")]);
  assert.equal(s.haveV4, true);
  assert.equal(s.haveV6, false);
});

Deno.test("local addresses: the key ignores order and changes with any usable address", () => {
  const a = localAddressSnapshot([v4("eth0", "10.0.0.2"), v6("eth0", "2001:db8::2")]);
  const b = localAddressSnapshot([v6("eth0", "2001:db8::2"), v4("eth0", "10.0.0.2")]);
  const c = localAddressSnapshot([v4("eth0", "10.0.0.3"), v6("eth0", "2001:db8::2")]);
  const d = localAddressSnapshot([
    v4("eth0", "10.0.0.2"),
    v6("eth0", "2001:db8::2"),
    v4("lo", "127.0.0.1"),
  ]);
  assert.equal(a.key, b.key);
  assert.notEqual(a.key, c.key);
  assert.equal(a.key, d.key, "loopback changes nothing");
});

Deno.test("local addresses: this host's interfaces and ::1", () => {
  const snapshot = localAddressSnapshot(Deno.networkInterfaces());
  const hasV6Loopback = Deno.networkInterfaces().some((i) => i.address === "::1");
  assert.equal(probeOSHasIPv6(), hasV6Loopback, "binding ::1 works iff the host lists ::1");
  assert.equal(typeof snapshot.haveV4, "boolean");
});
