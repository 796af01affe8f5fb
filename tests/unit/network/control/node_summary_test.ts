import assert from "node:assert/strict";
import {
  isoTime,
  nodeAddresses,
  nodeFQDN,
  nodeShortName,
  shortKey,
  summarizeNode,
} from "../../../../network/control/node_summary.ts";
import { NodePublicKey } from "../../../../network/crypto/keys.ts";

Deno.test("node summary: first IPv4 and IPv6 without prefix lengths", () => {
  assert.deepEqual(nodeAddresses(["fd7a:115c:a1e0::5/128", "100.64.0.5/32", "100.64.0.6/32"]), {
    ipv4: "100.64.0.5",
    ipv6: "fd7a:115c:a1e0::5",
  });
  assert.deepEqual(nodeAddresses(null), { ipv4: null, ipv6: null });
  assert.deepEqual(nodeAddresses(["10.0.0.1"]), { ipv4: "10.0.0.1", ipv6: null });
});

Deno.test("node summary: names", () => {
  assert.equal(nodeFQDN("host.tailnet.test."), "host.tailnet.test");
  assert.equal(nodeFQDN(undefined), "");
  assert.equal(nodeShortName("host.tailnet.test."), "host");
  assert.equal(nodeShortName("host"), "host");
  assert.equal(nodeShortName(""), null);
  assert.equal(nodeShortName("."), null);
});

Deno.test("node summary: short keys match the crypto key types' short form", () => {
  const text = `nodekey:${"ab12cd34".repeat(8)}`;
  assert.equal(shortKey(text), NodePublicKey.parse(text).toShortString());
  assert.equal(shortKey(text), "nodekey:ab12cd34…");
  assert.equal(shortKey(""), "");
  assert.equal(shortKey("nodekey:ab"), "nodekey:ab");
});

Deno.test("node summary: times", () => {
  assert.equal(isoTime("2026-11-26T14:57:07.67068087Z"), "2026-11-26T14:57:07.670Z");
  assert.equal(isoTime("0001-01-01T00:00:00Z"), null);
  assert.equal(isoTime("not a time"), null);
  assert.equal(isoTime(null), null);
});

Deno.test("node summary: a node with almost nothing set", () => {
  assert.deepEqual(
    summarizeNode({ ID: 9, StableID: "9", Name: "", User: 0, Key: "", Addresses: null }),
    {
      id: 9,
      name: "",
      hostname: "",
      ip: null,
      ipv6: null,
      online: null,
      os: "",
      lastSeen: null,
      nodeKey: "",
      homeDERP: null,
      keyExpiry: null,
      expired: false,
    },
  );
});
