import assert from "node:assert/strict";
import type { DERPNode } from "../../../../network/control/map_response.ts";
import {
  isTestNode,
  stunPortOf,
  type StunTarget,
  stunTargetOf,
} from "../../../../network/netcheck/stun_target.ts";

function node(fields: Partial<DERPNode>): DERPNode {
  return { Name: "1a", RegionID: 1, HostName: "derp.example", ...fields };
}

function show(target: StunTarget): string {
  if (target.kind === "address") return target.address.key;
  if (target.kind === "resolve") return `resolve ${target.hostname}:${target.port}`;
  return "none";
}

Deno.test("stun target: STUNPort 0 is 3478, -1 and out-of-range ports disable STUN", () => {
  assert.equal(stunPortOf(node({})), 3478);
  assert.equal(stunPortOf(node({ STUNPort: 0 })), 3478);
  assert.equal(stunPortOf(node({ STUNPort: 3479 })), 3479);
  assert.equal(stunPortOf(node({ STUNPort: -1 })), undefined);
  assert.equal(stunPortOf(node({ STUNPort: 65536 })), undefined);
  assert.equal(show(stunTargetOf(node({ IPv4: "192.0.2.1", STUNPort: -1 }), 4)), "none");
});

Deno.test("stun target: IPv4/IPv6 fields give the address; 'none' or the wrong family disable", () => {
  const n = node({ IPv4: "192.0.2.1", IPv6: "2001:db8::1", STUNPort: 3479 });
  assert.equal(show(stunTargetOf(n, 4)), "192.0.2.1:3479");
  assert.equal(show(stunTargetOf(n, 6)), "[2001:db8::1]:3479");
  assert.equal(show(stunTargetOf(node({ IPv4: "none" }), 4)), "none");
  assert.equal(show(stunTargetOf(node({ IPv6: "none" }), 6)), "none");
  assert.equal(show(stunTargetOf(node({ IPv4: "2001:db8::1" }), 4)), "none");
  assert.equal(show(stunTargetOf(node({ IPv6: "192.0.2.1" }), 6)), "none");
  assert.equal(show(stunTargetOf(node({ IPv4: "not-an-ip" }), 4)), "none");
});

Deno.test("stun target: STUNTestIP wins over the other fields, for its own family only", () => {
  const n = node({ IPv4: "192.0.2.1", STUNTestIP: "127.0.0.1", STUNPort: 4000 });
  assert.equal(show(stunTargetOf(n, 4)), "127.0.0.1:4000");
  assert.equal(show(stunTargetOf(n, 6)), "none");
  assert.equal(show(stunTargetOf(node({ STUNTestIP: "::1" }), 6)), "[::1]:3478");
  assert.equal(show(stunTargetOf(node({ STUNTestIP: "::1" }), 4)), "none");
});

Deno.test("stun target: a literal host name is used without DNS; a name needs a look-up", () => {
  assert.equal(show(stunTargetOf(node({ HostName: "127.0.0.1", STUNPort: 5 }), 4)), "127.0.0.1:5");
  assert.equal(show(stunTargetOf(node({ HostName: "127.0.0.1" }), 6)), "none");
  assert.equal(show(stunTargetOf(node({ HostName: "::1" }), 6)), "[::1]:3478");
  assert.equal(show(stunTargetOf(node({}), 4)), "resolve derp.example:3478");
  assert.equal(show(stunTargetOf(node({ IPv6: "2001:db8::1" }), 4)), "resolve derp.example:3478");
  assert.equal(show(stunTargetOf(node({ HostName: "" }), 4)), "none");
});

Deno.test("stun target: test nodes are IPv4 127.0.0.1 or any STUNTestIP", () => {
  assert.equal(isTestNode(node({ IPv4: "127.0.0.1" })), true);
  assert.equal(isTestNode(node({ STUNTestIP: "10.0.0.1" })), true);
  assert.equal(isTestNode(node({ IPv4: "127.0.0.2" })), false);
  assert.equal(isTestNode(node({ HostName: "127.0.0.1" })), false);
});
