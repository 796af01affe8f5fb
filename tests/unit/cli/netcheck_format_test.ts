import assert from "node:assert/strict";
import { AddrPort } from "../../../network/netaddr/addr_port.ts";
import { emptyReport, type NetcheckReport } from "../../../network/netcheck/netcheck_report.ts";
import {
  formatGoDuration,
  formatNetcheckReport,
  formatNetcheckReportJSON,
  formatReportTime,
  netcheckReportJSON,
} from "../../../cli/netcheck_format.ts";
import { mapOf, region } from "../network/netcheck/derp_maps.ts";

const MAP = mapOf(
  region(900, { IPv4: "127.0.0.1" }, { RegionCode: "lo", RegionName: "Loopback" }),
  region(901, { IPv4: "127.0.0.1" }, { RegionCode: "one", RegionName: "Derper one" }),
  region(902, { IPv4: "127.0.0.1" }, { RegionCode: "dead", RegionName: "Dead region" }),
  region(999, { IPv4: "127.0.0.1" }, { RegionCode: "citadel-interop", RegionName: "Embedded" }),
);

function sample(): NetcheckReport {
  const r = emptyReport();
  r.now = Date.UTC(2026, 7, 22, 10, 11, 12, 340);
  r.full = true;
  r.udp = r.ipv4 = r.ipv4CanSend = true;
  r.osHasIPv6 = true;
  r.mappingVariesByDestIP = false;
  r.preferredDERP = 999;
  r.regionLatency = new Map([[999, 0.41234], [900, 1.25], [901, 0.75]]);
  r.regionV4Latency = new Map(r.regionLatency);
  r.globalV4 = AddrPort.parse("127.0.0.1:41641");
  r.globalV4Counters = new Map([["127.0.0.1:41641", 3]]);
  r.observedAddresses = new Map([["127.0.0.1:41641", r.globalV4]]);
  return r;
}

Deno.test("format: Go duration strings", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [1, "1ns"],
    [999, "999ns"],
    [1000, "1µs"],
    [412_300, "412.3µs"],
    [400_000, "400µs"],
    [1_200_000, "1.2ms"],
    [12_000_000, "12ms"],
    [999_999_999, "999.999999ms"],
    [1_000_000_000, "1s"],
    [2_250_000_000, "2.25s"],
    [90_000_000_000, "1m30s"],
    [3_600_000_000_000, "1h0m0s"],
    [-1_500_000, "-1.5ms"],
  ];
  for (const [ns, text] of cases) assert.equal(formatGoDuration(ns), text, `${ns} ns`);
});

Deno.test("format: report time as tailscale prints it, in the given UTC offset", () => {
  const t = Date.UTC(2026, 7, 22, 10, 11, 12, 340);
  assert.equal(formatReportTime(t, 0), "2026-08-22 10:11:12.34Z");
  assert.equal(formatReportTime(t, 120), "2026-08-22 12:11:12.34+02:00");
  assert.equal(formatReportTime(t, -330), "2026-08-22 04:41:12.34-05:30");
  assert.equal(formatReportTime(Date.UTC(2026, 0, 1), 0), "2026-01-01 00:00:00Z");
});

Deno.test("format: the text layout of `tailscale netcheck`", () => {
  const expected = [
    "",
    "Report:",
    "\t* Time: 2026-08-22 10:11:12.34Z",
    "\t* UDP: true",
    "\t* IPv4: yes, 127.0.0.1:41641",
    "\t* IPv6: no, but OS has support",
    "\t* MappingVariesByDestIP: false",
    "\t* PortMapping: not checked",
    "\t* Nearest DERP: Embedded",
    "\t* DERP latency:",
    "\t\t- citadel-interop: 400µs   (Embedded)",
    "\t\t- one: 800µs   (Derper one)",
    "\t\t-  lo: 1.3ms   (Loopback)",
    "\t\t- dead:         (Dead region)",
    "",
  ].join("\n");
  assert.equal(formatNetcheckReport(sample(), MAP, { utcOffsetMinutes: 0 }), expected);
  const verbose = formatNetcheckReport(sample(), MAP, { utcOffsetMinutes: 0, verbose: true });
  assert.ok(verbose.includes("\t\t- one: 800µs   (derp901, Derper one)\n"));
});

Deno.test("format: unknowns are not shown as false; nothing measured says so", () => {
  const r = emptyReport();
  r.now = Date.UTC(2026, 0, 1);
  const text = formatNetcheckReport(r, MAP, { utcOffsetMinutes: 0 });
  assert.equal(
    text,
    [
      "",
      "Report:",
      "\t* Time: 2026-01-01 00:00:00Z",
      "\t* UDP: false",
      "\t* IPv4: (no addr found)",
      "\t* IPv6: no",
      "\t* MappingVariesByDestIP: ",
      "\t* PortMapping: not checked",
      "\t* Nearest DERP: unknown (no response to latency probes)",
      "",
    ].join("\n"),
  );
  assert.doesNotMatch(text, /CaptivePortal/);
  r.osHasIPv6 = false;
  assert.match(formatNetcheckReport(r, MAP), /IPv6: no, unavailable in OS\n/);
  r.ipv6 = true;
  assert.match(formatNetcheckReport(r, MAP), /IPv6: \(no addr found\)\n/);
  r.globalV6 = AddrPort.parse("[::1]:5");
  assert.match(formatNetcheckReport(r, MAP), /IPv6: yes, \[::1\]:5\n/);
});

Deno.test("format: a home region missing from the map, and no home at all", () => {
  const r = sample();
  r.preferredDERP = 42;
  assert.match(formatNetcheckReport(r, MAP), /Nearest DERP: 42 \(region not found in map\)\n/);
  r.preferredDERP = 0;
  assert.match(formatNetcheckReport(r, MAP), /Nearest DERP: \[none\]\n/);
});

Deno.test("format: JSON has tailscale's keys in tailscale's order, then Citadel's", () => {
  const json = netcheckReportJSON(sample());
  assert.deepEqual(Object.keys(json), [
    "Now",
    "UDP",
    "IPv6",
    "IPv4",
    "IPv6CanSend",
    "IPv4CanSend",
    "OSHasIPv6",
    "ICMPv4",
    "MappingVariesByDestIP",
    "UPnP",
    "PMP",
    "PCP",
    "PreferredDERP",
    "RegionLatency",
    "RegionV4Latency",
    "RegionV6Latency",
    "GlobalV4Counters",
    "GlobalV6Counters",
    "GlobalV4",
    "GlobalV6",
    "CaptivePortal",
    "MappingVariesByDestIPv6",
    "Full",
  ]);
  assert.deepEqual(json, {
    Now: "2026-08-22T10:11:12.34Z",
    UDP: true,
    IPv6: false,
    IPv4: true,
    IPv6CanSend: false,
    IPv4CanSend: true,
    OSHasIPv6: true,
    ICMPv4: null,
    MappingVariesByDestIP: false,
    UPnP: null,
    PMP: null,
    PCP: null,
    PreferredDERP: 999,
    RegionLatency: { "900": 1_250_000, "901": 750_000, "999": 412_340 },
    RegionV4Latency: { "900": 1_250_000, "901": 750_000, "999": 412_340 },
    RegionV6Latency: {},
    GlobalV4Counters: { "127.0.0.1:41641": 3 },
    GlobalV6Counters: null,
    GlobalV4: "127.0.0.1:41641",
    GlobalV6: "",
    CaptivePortal: null,
    MappingVariesByDestIPv6: null,
    Full: true,
  });
  const text = formatNetcheckReportJSON(sample());
  assert.ok(text.startsWith('{\n\t"Now": "2026-08-22T10:11:12.34Z",\n'));
  assert.ok(text.endsWith("}\n"));
  const line = formatNetcheckReportJSON(sample(), { oneLine: true });
  assert.equal(line.split("\n").length, 2);
  assert.deepEqual(JSON.parse(line), json);
});
