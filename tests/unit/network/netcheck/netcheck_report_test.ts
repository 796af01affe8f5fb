import assert from "node:assert/strict";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import {
  cloneReport,
  emptyReport,
  globalAddresses,
  netInfoFromReport,
} from "../../../../network/netcheck/netcheck_report.ts";

function observe(report: ReturnType<typeof emptyReport>, text: string, count: number) {
  const address = AddrPort.parse(text);
  report.observedAddresses.set(address.key, address);
  (address.is4 ? report.globalV4Counters : report.globalV6Counters).set(address.key, count);
  return address;
}

Deno.test("report: STUN endpoints are the best address, then those seen more than once", () => {
  const r = emptyReport();
  r.globalV4 = observe(r, "198.51.100.7:1000", 1);
  observe(r, "198.51.100.7:3000", 2);
  observe(r, "198.51.100.7:2000", 1); // a one-off mapping of a hard NAT: left out
  observe(r, "198.51.100.7:4000", 3);
  r.globalV6 = observe(r, "[2001:db8::7]:5", 2);
  const { v4, v6 } = globalAddresses(r);
  assert.deepEqual(v4.map((a) => a.key), [
    "198.51.100.7:1000",
    "198.51.100.7:3000",
    "198.51.100.7:4000",
  ]);
  assert.deepEqual(v6.map((a) => a.key), ["[2001:db8::7]:5"]);
  assert.deepEqual(globalAddresses(emptyReport()), { v4: [], v6: [] });
});

Deno.test("report: NetInfo for control: seconds per region and family, unknowns left out", () => {
  const r = emptyReport();
  r.udp = r.ipv4 = true;
  r.preferredDERP = 901;
  r.regionV4Latency = new Map([[902, 12.5], [901, 3]]);
  r.regionV6Latency = new Map([[901, 4]]);
  r.regionLatency = new Map([[901, 3], [902, 12.5]]);
  assert.deepEqual(netInfoFromReport(r), {
    WorkingIPv6: false,
    WorkingUDP: true,
    PreferredDERP: 901,
    DERPLatency: { "901-v4": 0.003, "902-v4": 0.0125, "901-v6": 0.004 },
  });
  r.mappingVariesByDestIP = true;
  r.osHasIPv6 = false;
  const info = netInfoFromReport(r);
  assert.equal(info.MappingVariesByDestIP, true);
  assert.equal(info.OSHasIPv6, false);
  assert.equal("UPnP" in info || "PMP" in info || "PCP" in info || "WorkingICMPv4" in info, false);
});

Deno.test("report: a clone does not share maps", () => {
  const r = emptyReport();
  r.regionLatency.set(1, 5);
  const c = cloneReport(r);
  c.regionLatency.set(2, 6);
  assert.equal(r.regionLatency.size, 1);
});
