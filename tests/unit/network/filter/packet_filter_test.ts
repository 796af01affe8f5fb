/**
 * The packet filter (reference §6.3–6.5), table-driven: defaults without a
 * netmap and without rules, the rules real Headscale sends (allow-all with
 * no policy; `autogroup:self`, as 0.28 and 0.29 write it), every SrcIPs and
 * DstPorts form, protocols, replies to our own flows, and the pre-checks.
 */

import assert from "node:assert/strict";
import type { FilterRule } from "../../../../network/control/map_response.ts";
import { TCPFlag } from "../../../../network/filter/filter_packet.ts";
import { IPProtocol } from "../../../../network/netaddr/ip_protocol.ts";
import { compileFilterRules } from "../../../../network/filter/filter_rules.ts";
import { PacketFilter, PacketFilterError } from "../../../../network/filter/packet_filter.ts";
import { buildPacket, type TestPacket } from "./test_packets.ts";

const SELF = ["100.64.0.1/32", "fd7a:115c:a1e0::1/128"];
const ME4 = "100.64.0.1", ME6 = "fd7a:115c:a1e0::1";
const PEER4 = "100.64.0.2", PEER6 = "fd7a:115c:a1e0::2";
const OTHER4 = "100.64.0.3", OTHER6 = "fd7a:115c:a1e0::3";
const ALL_PORTS = { First: 0, Last: 65535 };

const ALLOW_ALL: FilterRule[] = [{ SrcIPs: ["*"], DstPorts: [{ IP: "*", Ports: ALL_PORTS }] }];

interface Fixture {
  headscale: string;
  selfAddresses: string[];
  peers: { name: string; addresses: string[] }[];
  PacketFilter?: FilterRule[] | null;
  PacketFilters?: Record<string, FilterRule[] | null> | null;
}

function loadFixture(name: string): { fixture: Fixture; rules: FilterRule[] } {
  const url = new URL(`./testdata/${name}.json`, import.meta.url);
  const fixture = JSON.parse(Deno.readTextFileSync(url)) as Fixture;
  const chunks = fixture.PacketFilters ?? {};
  const rules = Object.keys(chunks).sort().flatMap((key) => chunks[key] ?? []);
  return { fixture, rules: fixture.PacketFilters ? rules : fixture.PacketFilter ?? [] };
}

function filterOf(rules: FilterRule[] | null, local = SELF, extra = {}) {
  const built = PacketFilter.fromRules(rules, { localAddresses: local, ...extra });
  return built.filter;
}

function verdict(filter: PacketFilter, packet: TestPacket): string {
  const result = filter.runIn(buildPacket(packet));
  return `${result.accept ? "accept" : "drop"}:${result.reason}`;
}

const syn = (src: string, dst: string, dstPort: number): TestPacket => ({
  src,
  dst,
  proto: IPProtocol.TCP,
  dstPort,
  tcpFlags: TCPFlag.SYN,
});
const udp = (src: string, dst: string, dstPort: number, srcPort = 40000): TestPacket => ({
  src,
  dst,
  proto: IPProtocol.UDP,
  srcPort,
  dstPort,
});
const ping = (src: string, dst: string): TestPacket => ({
  src,
  dst,
  proto: src.includes(":") ? IPProtocol.ICMPv6 : IPProtocol.ICMPv4,
});

Deno.test("packet filter: before any netmap nothing new comes in (§6.5 NewAllowNone)", () => {
  const filter = PacketFilter.allowNone();
  assert.equal(filter.runIn(new Uint8Array(0)).reason, "keep-alive");
  assert.equal(filter.runIn(new Uint8Array(0)).accept, true);
  const table: [TestPacket, string][] = [
    [syn(PEER4, ME4, 22), "drop:destination-not-local"],
    [{ ...syn(PEER4, ME4, 22), tcpFlags: TCPFlag.ACK }, "drop:destination-not-local"],
    [ping(PEER6, ME6), "drop:destination-not-local"],
    [{ src: PEER4, dst: ME4, proto: IPProtocol.TSMP }, "drop:destination-not-local"],
    [{ src: PEER4, dst: ME4, proto: IPProtocol.UDP, fragment: 20 }, "accept:fragment"],
  ];
  for (const [packet, want] of table) {
    assert.equal(verdict(filter, packet), want, JSON.stringify(packet));
  }
});

for (const [name, rules] of [["no rules (null)", null], ["empty rules", []]] as const) {
  Deno.test(`packet filter: ${name} admits replies only (§6.5)`, () => {
    const filter = filterOf(rules as FilterRule[] | null);
    assert.equal(filter.ruleCount, 0);
    const table: [TestPacket, string][] = [
      [syn(PEER4, ME4, 22), "drop:no-rule-matched"],
      [syn(PEER6, ME6, 22), "drop:no-rule-matched"],
      [{ ...syn(PEER4, ME4, 22), tcpFlags: TCPFlag.SYN | TCPFlag.ACK }, "accept:tcp-non-syn"],
      [{ ...syn(PEER4, ME4, 22), tcpFlags: TCPFlag.ACK }, "accept:tcp-non-syn"],
      [{ ...syn(PEER6, ME6, 22), tcpFlags: TCPFlag.RST }, "accept:tcp-non-syn"],
      [udp(PEER4, ME4, 53), "drop:no-rule-matched"],
      [ping(PEER4, ME4), "drop:no-rule-matched"],
      [ping(PEER6, ME6), "drop:no-rule-matched"],
      [{ ...ping(PEER4, ME4), icmpType: 0 }, "accept:icmp-response"],
      [{ ...ping(PEER6, ME6), icmpType: 129 }, "accept:icmp-response"],
      [{ ...ping(PEER4, ME4), icmpType: 0, icmpCode: 1 }, "drop:no-rule-matched"],
      [{ ...ping(PEER4, ME4), icmpType: 3, icmpCode: 1 }, "accept:icmp-response"],
      [{ ...ping(PEER4, ME4), icmpType: 11 }, "accept:icmp-response"],
      [{ ...ping(PEER4, ME4), icmpType: 12 }, "accept:icmp-response"],
      [{ ...ping(PEER6, ME6), icmpType: 1 }, "accept:icmp-response"],
      [{ ...ping(PEER6, ME6), icmpType: 2 }, "accept:icmp-response"],
      [{ ...ping(PEER6, ME6), icmpType: 3 }, "accept:icmp-response"],
      [{ ...ping(PEER6, ME6), icmpType: 4 }, "accept:icmp-response"],
      [{ src: PEER4, dst: ME4, proto: IPProtocol.TSMP }, "accept:tsmp"],
      [{ src: PEER6, dst: ME6, proto: IPProtocol.TSMP }, "accept:tsmp"],
      [{ src: PEER4, dst: ME4, proto: 47 }, "drop:no-rule-matched"],
      [syn(PEER4, OTHER4, 22), "drop:destination-not-local"],
    ];
    for (const [packet, want] of table) {
      assert.equal(verdict(filter, packet), want, JSON.stringify(packet));
    }
  });
}

Deno.test("packet filter: Headscale's rule without a policy allows everything to us", () => {
  for (const version of ["v0.29.3", "v0.28.0"]) {
    const { fixture, rules } = loadFixture(`headscale-${version}-no-policy-a1`);
    assert.deepEqual(rules, ALLOW_ALL, `${version} sends tailcfg.FilterAllowAll`);
    const filter = filterOf(rules, fixture.selfAddresses);
    const peer = fixture.peers[0].addresses.map((a) => a.replace(/\/\d+$/, ""));
    const table: [TestPacket, string][] = [
      [syn(peer[0], ME4, 22), "accept:tcp-allowed"],
      [syn(peer[0], ME4, 0), "accept:tcp-allowed"],
      [syn(peer[1], ME6, 65535), "accept:tcp-allowed"],
      [syn("203.0.113.1", ME4, 443), "accept:tcp-allowed"],
      [udp(peer[0], ME4, 53), "accept:allowed"],
      [udp(peer[1], ME6, 41641), "accept:allowed"],
      [ping(peer[0], ME4), "accept:icmp-allowed"],
      [ping(peer[1], ME6), "accept:icmp-allowed"],
      // Protocols beyond the default four need a rule that names them.
      [{ src: peer[0], dst: ME4, proto: 47 }, "drop:no-rule-matched"],
      [{ src: peer[0], dst: ME4, proto: IPProtocol.SCTP, dstPort: 9 }, "drop:no-rule-matched"],
      // "*" destinations still mean our own addresses only.
      [syn(peer[0], OTHER4, 22), "drop:destination-not-local"],
      [syn(peer[1], OTHER6, 22), "drop:destination-not-local"],
    ];
    for (const [packet, want] of table) {
      assert.equal(verdict(filter, packet), want, `${version} ${JSON.stringify(packet)}`);
    }
  }
});

for (const version of ["v0.29.3", "v0.28.0"]) {
  Deno.test(`packet filter: autogroup:self from Headscale ${version} admits the same user only`, () => {
    const { fixture: a1, rules } = loadFixture(`headscale-${version}-autogroup-self-a1`);
    const { fixture: b1 } = loadFixture(`headscale-${version}-autogroup-self-b1`);
    const { errors, matches } = compileFilterRules(rules);
    assert.deepEqual(errors, []);
    assert.equal(matches.length, 1);
    const strip = (a: string) => a.replace(/\/\d+$/, "");
    const [me4, me6] = a1.selfAddresses.map(strip);
    const [a2v4, a2v6] = a1.peers[0].addresses.map(strip);
    const [b1v4, b1v6] = b1.selfAddresses.map(strip);
    const filter = filterOf(rules, a1.selfAddresses);
    const table: [TestPacket, string][] = [
      [syn(a2v4, me4, 22), "accept:tcp-allowed"],
      [syn(a2v6, me6, 8080), "accept:tcp-allowed"],
      [udp(a2v4, me4, 53), "accept:allowed"],
      [udp(a2v6, me6, 41641), "accept:allowed"],
      // ICMP echo is judged by addresses alone, so it passes even where the rule
      // lists only TCP and UDP (0.28).
      [ping(a2v4, me4), "accept:icmp-allowed"],
      [ping(a2v6, me6), "accept:icmp-allowed"],
      // Our own address as source (the rule lists it) is fine too.
      [syn(me4, me4, 22), "accept:tcp-allowed"],
      [syn(b1v4, me4, 22), "drop:no-rule-matched"],
      [syn(b1v6, me6, 22), "drop:no-rule-matched"],
      [udp(b1v4, me4, 53), "drop:no-rule-matched"],
      [ping(b1v4, me4), "drop:no-rule-matched"],
      [ping(b1v6, me6), "drop:no-rule-matched"],
      // Replies to a1's own connections to b1 still come back.
      [{ ...syn(b1v4, me4, 22), tcpFlags: TCPFlag.ACK }, "accept:tcp-non-syn"],
      [syn(a2v4, b1v4, 22), "drop:destination-not-local"],
    ];
    for (const [packet, want] of table) {
      assert.equal(verdict(filter, packet), want, JSON.stringify(packet));
    }
  });
}

Deno.test("packet filter: the autogroup:self rules differ by version as captured", () => {
  const v28 = loadFixture("headscale-v0.28.0-autogroup-self-a1").rules;
  const v29 = loadFixture("headscale-v0.29.3-autogroup-self-a1").rules;
  assert.deepEqual(v28[0].IPProto, [6, 17]);
  assert.ok(v28[0].SrcIPs!.every((s) => s.includes("/")), "0.28 writes prefixes");
  assert.equal(v29[0].IPProto, undefined);
  assert.ok(v29[0].SrcIPs!.every((s) => s.includes("-")), "0.29 writes ranges");
  // b1 alone: its rules name only itself.
  const b1 = loadFixture("headscale-v0.29.3-autogroup-self-b1");
  const filter = filterOf(b1.rules, b1.fixture.selfAddresses);
  assert.equal(verdict(filter, syn("100.64.0.1", "100.64.0.3", 22)), "drop:no-rule-matched");
});

Deno.test("packet filter: DstPorts port ranges and address forms", () => {
  const rules: FilterRule[] = [{
    SrcIPs: [PEER4, PEER6],
    DstPorts: [
      { IP: ME4, Ports: { First: 22, Last: 22 } },
      { IP: "100.64.0.0/10", Ports: { First: 80, Last: 90 } },
      { IP: "fd7a:115c:a1e0::1-fd7a:115c:a1e0::9", Ports: { First: 443, Last: 443 } },
    ],
  }];
  const filter = filterOf(rules);
  const table: [TestPacket, string][] = [
    [syn(PEER4, ME4, 22), "accept:tcp-allowed"],
    [syn(PEER4, ME4, 21), "drop:no-rule-matched"],
    [syn(PEER4, ME4, 23), "drop:no-rule-matched"],
    [syn(PEER4, ME4, 80), "accept:tcp-allowed"],
    [syn(PEER4, ME4, 90), "accept:tcp-allowed"],
    [syn(PEER4, ME4, 91), "drop:no-rule-matched"],
    [udp(PEER4, ME4, 85), "accept:allowed"],
    [syn(PEER6, ME6, 443), "accept:tcp-allowed"],
    [syn(PEER6, ME6, 22), "drop:no-rule-matched"],
    [syn(OTHER4, ME4, 22), "drop:no-rule-matched"],
    // ICMP ignores ports: any destination entry holding our address will do.
    [ping(PEER4, ME4), "accept:icmp-allowed"],
    [ping(PEER6, ME6), "accept:icmp-allowed"],
    [ping(OTHER4, ME4), "drop:no-rule-matched"],
  ];
  for (const [packet, want] of table) {
    assert.equal(verdict(filter, packet), want, JSON.stringify(packet));
  }
});

Deno.test("packet filter: SrcIPs in every form", () => {
  const table: [string, string, boolean][] = [
    ["*", PEER4, true],
    ["*", PEER6, true],
    [PEER4, PEER4, true],
    [PEER4, OTHER4, false],
    ["100.64.0.0/30", OTHER4, true],
    ["100.64.0.0/31", OTHER4, false],
    ["100.64.0.2-100.64.0.3", OTHER4, true],
    ["100.64.0.2-100.64.0.3", "100.64.0.4", false],
    ["fd7a:115c:a1e0::/48", OTHER6, true],
    ["fd7a:115c:a1e0::2-fd7a:115c:a1e0::2", OTHER6, false],
  ];
  for (const [srcEntry, src, allowed] of table) {
    const filter = filterOf([{ SrcIPs: [srcEntry], DstPorts: [{ IP: "*", Ports: ALL_PORTS }] }]);
    const dst = src.includes(":") ? ME6 : ME4;
    assert.equal(
      filter.runIn(buildPacket(syn(src, dst, 22))).accept,
      allowed,
      `${srcEntry} ∋ ${src}`,
    );
  }
});

Deno.test("packet filter: IPProto lists", () => {
  const rule = (IPProto: number[] | undefined, ports = ALL_PORTS): FilterRule[] => [{
    SrcIPs: ["*"],
    DstPorts: [{ IP: "*", Ports: ports }],
    IPProto,
  }];
  const table: [FilterRule[], TestPacket, string][] = [
    [rule([6]), syn(PEER4, ME4, 22), "accept:tcp-allowed"],
    [rule([6]), udp(PEER4, ME4, 53), "drop:no-rule-matched"],
    [rule([17]), udp(PEER4, ME4, 53), "accept:allowed"],
    [rule([17]), syn(PEER4, ME4, 22), "drop:no-rule-matched"],
    [rule([132]), { src: PEER4, dst: ME4, proto: IPProtocol.SCTP, dstPort: 9 }, "accept:allowed"],
    [rule([47]), { src: PEER4, dst: ME4, proto: 47 }, "accept:other-protocol-allowed"],
    [rule([47]), { src: PEER6, dst: ME6, proto: 47 }, "accept:other-protocol-allowed"],
    // Portless protocols need a destination with every port.
    [
      rule([47], { First: 0, Last: 100 }),
      { src: PEER4, dst: ME4, proto: 47 },
      "drop:no-rule-matched",
    ],
    // Values outside 0–255 are ignored; a list of only those matches nothing.
    [rule([300, -1]), syn(PEER4, ME4, 22), "drop:no-rule-matched"],
    [rule([300, 6]), syn(PEER4, ME4, 22), "accept:tcp-allowed"],
    // Empty list: the default four.
    [rule([]), udp(PEER6, ME6, 53), "accept:allowed"],
    [rule([]), { src: PEER4, dst: ME4, proto: 47 }, "drop:no-rule-matched"],
    // ICMPv6 inside IPv4 is "another protocol".
    [
      rule(undefined),
      { src: PEER4, dst: ME4, proto: IPProtocol.ICMPv6 },
      "accept:other-protocol-allowed",
    ],
    [rule([6]), { src: PEER4, dst: ME4, proto: IPProtocol.ICMPv6 }, "drop:no-rule-matched"],
  ];
  for (const [rules, packet, want] of table) {
    assert.equal(
      verdict(filterOf(rules), packet),
      want,
      `${JSON.stringify(rules[0].IPProto)} ${JSON.stringify(packet)}`,
    );
  }
});

Deno.test("packet filter: bad entries are skipped, retired fields void the filter", () => {
  const { filter, errors } = PacketFilter.fromRules([
    { SrcIPs: ["not-an-ip", PEER4, "100.64.0.1/24"], DstPorts: [{ IP: "*", Ports: ALL_PORTS }] },
    {
      SrcIPs: ["*"],
      DstPorts: [{ IP: "cap:nope", Ports: ALL_PORTS }, { IP: ME4, Ports: { First: 5, Last: 5 } }],
    },
    { SrcIPs: ["*"], DstPorts: [{ IP: ME4, Ports: { First: 70000, Last: 1 } }] },
  ], { localAddresses: SELF });
  assert.equal(errors.length, 4, errors.join("\n"));
  assert.match(errors[0], /invalid IP address "not-an-ip"/);
  assert.match(errors[1], /non-network bits/);
  assert.match(errors[2], /unexpected capability "nope" in DstPorts/);
  assert.match(errors[3], /invalid port range/);
  assert.equal(filter.ruleCount, 3);
  assert.equal(verdict(filter, syn(PEER4, ME4, 22)), "accept:tcp-allowed");
  assert.equal(verdict(filter, syn(OTHER4, ME4, 22)), "drop:no-rule-matched");
  assert.equal(verdict(filter, syn(OTHER4, ME4, 5)), "accept:tcp-allowed");

  for (
    const voiding of [
      [...ALLOW_ALL, { SrcIPs: ["*"], SrcBits: [32], DstPorts: [] }],
      [...ALLOW_ALL, { SrcIPs: ["*"], DstPorts: [{ IP: "*", Bits: 32, Ports: ALL_PORTS }] }],
    ] as FilterRule[][]
  ) {
    const built = PacketFilter.fromRules(voiding, { localAddresses: SELF });
    assert.equal(built.filter.ruleCount, 0);
    assert.match(built.errors.at(-1)!, /unexpected (SrcBits|DstBits)/);
    assert.equal(verdict(built.filter, syn(PEER4, ME4, 22)), "drop:no-rule-matched");
  }
  assert.deepEqual(compileFilterRules(undefined), { matches: [], errors: [] });
  assert.equal(compileFilterRules([null as unknown as FilterRule]).errors.length, 1);
  // CapGrant rules carry no packet permissions.
  const capOnly = filterOf([{ SrcIPs: ["*"], CapGrant: [{ Dsts: ["*"], CapMap: { "x": null } }] }]);
  assert.equal(verdict(capOnly, syn(PEER4, ME4, 22)), "drop:no-rule-matched");
});

Deno.test("packet filter: cap: sources need the capability test", () => {
  const rules: FilterRule[] = [{ SrcIPs: ["cap:ssh"], DstPorts: [{ IP: "*", Ports: ALL_PORTS }] }];
  assert.equal(verdict(filterOf(rules), syn(PEER4, ME4, 22)), "drop:no-rule-matched");
  const seen: string[] = [];
  const filter = filterOf(rules, SELF, {
    srcHasCapability: (src: Uint8Array, cap: string) => {
      seen.push(`${src.join(".")}:${cap}`);
      return src[3] === 2;
    },
  });
  assert.equal(verdict(filter, syn(PEER4, ME4, 22)), "accept:tcp-allowed");
  assert.equal(verdict(filter, syn(OTHER4, ME4, 22)), "drop:no-rule-matched");
  assert.equal(verdict(filter, ping(PEER4, ME4)), "accept:icmp-allowed");
  assert.ok(seen.includes("100.64.0.2:ssh"));
});

Deno.test("packet filter: replies to our own UDP flows pass without rules (flow cache)", () => {
  const filter = filterOf([]);
  const reply = udp(PEER4, ME4, 5353, 53);
  assert.equal(verdict(filter, reply), "drop:no-rule-matched");
  assert.equal(filter.runOut(buildPacket(udp(ME4, PEER4, 53, 5353))).reason, "outbound");
  assert.equal(filter.flowCount, 1);
  assert.equal(verdict(filter, reply), "accept:udp-reply");
  // Only the exact reverse tuple.
  assert.equal(verdict(filter, udp(PEER4, ME4, 5354, 53)), "drop:no-rule-matched");
  assert.equal(verdict(filter, udp(OTHER4, ME4, 5353, 53)), "drop:no-rule-matched");
  assert.equal(verdict(filter, udp(PEER4, ME4, 5353, 54)), "drop:no-rule-matched");
  // IPv6 and SCTP too; TCP is not tracked (non-SYN passes anyway).
  filter.runOut(buildPacket(udp(ME6, PEER6, 443, 6000)));
  assert.equal(verdict(filter, udp(PEER6, ME6, 6000, 443)), "accept:udp-reply");
  filter.runOut(
    buildPacket({ src: ME4, dst: PEER4, proto: IPProtocol.SCTP, srcPort: 7, dstPort: 8 }),
  );
  assert.equal(
    verdict(filter, { src: PEER4, dst: ME4, proto: IPProtocol.SCTP, srcPort: 8, dstPort: 7 }),
    "accept:udp-reply",
  );
  filter.runOut(buildPacket(syn(ME4, PEER4, 22)));
  assert.equal(filter.flowCount, 3);
  // A rebuilt filter can keep the flows.
  const next = PacketFilter.fromRules([], { localAddresses: SELF, shareFlowsWith: filter }).filter;
  assert.equal(verdict(next, reply), "accept:udp-reply");
  const fresh = filterOf([]);
  assert.equal(verdict(fresh, reply), "drop:no-rule-matched");
});

Deno.test("packet filter: the flow cache forgets the least recently used flow", () => {
  const filter = filterOf([], SELF, { flowCacheSize: 2 });
  const out = (port: number) => filter.runOut(buildPacket(udp(ME4, PEER4, 53, port)));
  const back = (port: number) => filter.runIn(buildPacket(udp(PEER4, ME4, port, 53))).accept;
  out(1);
  out(2);
  assert.equal(back(1), true); // 1 is now the most recent
  out(3); // evicts 2
  assert.deepEqual([back(1), back(2), back(3)], [true, false, true]);
  assert.equal(filter.flowCount, 2);
  assert.throws(() => filterOf([], SELF, { flowCacheSize: 0 }), RangeError);
});

Deno.test("packet filter: pre-checks in both directions", () => {
  const filter = filterOf(ALLOW_ALL, [...SELF, "169.254.169.254/32", "10.0.0.0/24"]);
  const table: [Uint8Array | TestPacket, string, string][] = [
    [new Uint8Array(0), "accept:keep-alive", "accept:keep-alive"],
    [new Uint8Array(19).fill(0x45), "drop:too-short", "drop:too-short"],
    [new Uint8Array(20).fill(0x55), "drop:unknown-protocol", "drop:unknown-protocol"],
    [
      { ...syn(PEER4, ME4, 22), transportLength: 10 },
      "drop:unknown-protocol",
      "drop:unknown-protocol",
    ],
    [udp(PEER4, "224.0.0.251", 5353), "drop:multicast", "drop:multicast"],
    [udp(PEER6, "ff02::fb", 5353), "drop:multicast", "drop:multicast"],
    [udp(PEER6, "::ffff:224.0.0.1", 5353), "drop:multicast", "drop:multicast"],
    [syn(PEER4, "169.254.1.1", 80), "drop:link-local-unicast", "drop:link-local-unicast"],
    [syn(PEER6, "fe80::1", 80), "drop:link-local-unicast", "drop:link-local-unicast"],
    [syn(PEER4, "169.254.169.254", 80), "accept:tcp-allowed", "accept:outbound"],
    [syn(PEER4, "10.0.0.7", 80), "accept:tcp-allowed", "accept:outbound"],
    [syn(PEER4, "10.0.1.7", 80), "drop:destination-not-local", "accept:outbound"],
    [
      { src: PEER4, dst: ME4, proto: IPProtocol.UDP, fragment: 100 },
      "accept:fragment",
      "accept:fragment",
    ],
  ];
  for (const [packet, wantIn, wantOut] of table) {
    const bytes = packet instanceof Uint8Array ? packet : buildPacket(packet);
    const inbound = filter.runIn(bytes), outbound = filter.runOut(bytes);
    assert.equal(
      `${inbound.accept ? "accept" : "drop"}:${inbound.reason}`,
      wantIn,
      `in ${JSON.stringify(packet)}`,
    );
    assert.equal(
      `${outbound.accept ? "accept" : "drop"}:${outbound.reason}`,
      wantOut,
      `out ${JSON.stringify(packet)}`,
    );
  }
});

Deno.test("packet filter: shields up ignores the rules", () => {
  const filter = filterOf(ALLOW_ALL, SELF, { shieldsUp: true });
  assert.equal(filter.shieldsUp, true);
  assert.equal(filter.ruleCount, 0);
  assert.equal(verdict(filter, syn(PEER4, ME4, 22)), "drop:no-rule-matched");
  assert.equal(
    verdict(filter, { ...syn(PEER4, ME4, 22), tcpFlags: TCPFlag.ACK }),
    "accept:tcp-non-syn",
  );
});

Deno.test("packet filter: check() judges the first packet of a new flow", () => {
  const filter = filterOf([{
    SrcIPs: [PEER4],
    DstPorts: [{ IP: ME4, Ports: { First: 22, Last: 22 } }],
  }]);
  assert.equal(filter.check(PEER4, ME4, 22, IPProtocol.TCP).accept, true);
  assert.equal(filter.check(PEER4, ME4, 23, IPProtocol.TCP).accept, false);
  assert.equal(filter.check(PEER4, ME4, 22, IPProtocol.UDP).accept, true);
  assert.equal(filter.check(PEER4, ME4, 0, IPProtocol.ICMPv4).accept, true);
  assert.equal(filter.check(OTHER4, ME4, 0, IPProtocol.ICMPv4).accept, false);
  assert.equal(filter.check(PEER4, ME6, 22, IPProtocol.TCP).accept, false, "mixed families");
  assert.equal(filter.check("nonsense", ME4, 22, IPProtocol.TCP).accept, false);
  assert.equal(filter.check(PEER4, ME4, 0, IPProtocol.TSMP).reason, "tsmp");
});

Deno.test("packet filter: results are shared constants; bad local addresses are refused", () => {
  const filter = filterOf(ALLOW_ALL);
  const a = filter.runIn(buildPacket(syn(PEER4, ME4, 22)));
  const b = filter.runIn(buildPacket(syn(PEER4, ME4, 23)));
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
  assert.throws(() => filterOf([], ["100.64.0.1/33"]), PacketFilterError);
  assert.throws(() => filterOf([], ["cap:x"]), PacketFilterError);
});

Deno.test("packet filter: 20000 random packets never throw", () => {
  let seed = 99;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const filter = filterOf(ALLOW_ALL);
  for (let i = 0; i < 20000; i++) {
    const bytes = Uint8Array.from(
      { length: Math.floor(rand() * 80) },
      () => Math.floor(rand() * 256),
    );
    if (bytes.length > 0) bytes[0] = rand() < 0.5 ? 0x45 : 0x60;
    if (bytes.length > 3) {
      bytes[2] = 0;
      bytes[3] = bytes.length;
    }
    filter.runIn(bytes);
    filter.runOut(bytes);
  }
});
