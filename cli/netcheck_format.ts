/**
 * A netcheck report as text, in the layout of `tailscale netcheck`
 * (tailscale v1.102 `cmd/tailscale/cli/netcheck.go`), and as JSON with
 * the keys and value forms of `tailscale netcheck --format=json`: latencies
 * in integer nanoseconds, `ip:port` strings (`""` when none), optional
 * booleans as `true`/`false`/`null`, the time as RFC 3339 UTC.
 *
 * What Citadel does not measure is never shown as false: port mapping
 * prints "not checked", the captive-portal line is left out (as tailscale
 * does when it did not check), and in JSON `UPnP`, `PMP`, `PCP`,
 * `CaptivePortal` and `ICMPv4` are `null`. JSON keys come in tailscale's
 * order, followed by Citadel's own: `MappingVariesByDestIPv6` and `Full`.
 *
 * Pure functions: no printing, the caller writes the returned text.
 *
 * @module
 */
import type { DERPMap } from "../network/control/map_response.ts";
import type { NetcheckReport, RegionID } from "../network/netcheck/netcheck_report.ts";
import { regionsOf } from "../network/netcheck/probe_plan.ts";

/** Options of {@link formatNetcheckReport}. */
export interface NetcheckTextOptions {
  /** Adds `derp<id>, ` before each region name (tailscale's `--verbose`). */
  readonly verbose?: boolean;
  /**
   * Offset of local time from UTC in minutes, for the `Time` line; the
   * host's offset at the report's time by default.
   */
  readonly utcOffsetMinutes?: number;
}

/** The JSON form (tailscale's `netcheck.Report` field names). */
export interface NetcheckReportJSON {
  /** RFC 3339 UTC time of the report. */
  Now: string;
  /** A STUN round trip completed. */
  UDP: boolean;
  /** An IPv6 STUN round trip completed. */
  IPv6: boolean;
  /** An IPv4 STUN round trip completed. */
  IPv4: boolean;
  /** An IPv6 request could be sent. */
  IPv6CanSend: boolean;
  /** An IPv4 request could be sent. */
  IPv4CanSend: boolean;
  /** `::1` could be bound; null when not tried. */
  OSHasIPv6: boolean | null;
  /** Not measured: null. */
  ICMPv4: boolean | null;
  /** Hard NAT on IPv4; null until two IPv4 answers. */
  MappingVariesByDestIP: boolean | null;
  /** Not measured: null. */
  UPnP: boolean | null;
  /** Not measured: null. */
  PMP: boolean | null;
  /** Not measured: null. */
  PCP: boolean | null;
  /** Home region (0: none). */
  PreferredDERP: number;
  /** Nanoseconds by region ID. */
  RegionLatency: Record<string, number>;
  /** Nanoseconds by region ID, IPv4. */
  RegionV4Latency: Record<string, number>;
  /** Nanoseconds by region ID, IPv6. */
  RegionV6Latency: Record<string, number>;
  /** Times each IPv4 `ip:port` was seen; null when none. */
  GlobalV4Counters: Record<string, number> | null;
  /** Times each IPv6 `ip:port` was seen; null when none. */
  GlobalV6Counters: Record<string, number> | null;
  /** Our IPv4 `ip:port`, `""` when none. */
  GlobalV4: string;
  /** Our IPv6 `[ip]:port`, `""` when none. */
  GlobalV6: string;
  /** Not measured: null. */
  CaptivePortal: boolean | null;
  /** Hard NAT on IPv6 (Citadel's); null until two IPv6 answers. */
  MappingVariesByDestIPv6: boolean | null;
  /** Whether the report measured every region (Citadel's). */
  Full: boolean;
}

const NS_PER_MS = 1_000_000;

/** Fractional digits of `value` / 10^`precision`, trailing zeros dropped (Go's `fmtFrac`). */
function fraction(value: number, precision: number): [string, number] {
  let digits = "";
  let printed = false;
  for (let i = 0; i < precision; i++) {
    const digit = value % 10;
    printed ||= digit !== 0;
    if (printed) digits = String(digit) + digits;
    value = Math.floor(value / 10);
  }
  return [printed ? "." + digits : "", value];
}

/**
 * Go's `time.Duration.String` of an integer number of nanoseconds:
 * `0s`, `850ns`, `412.3µs`, `1.5ms`, `2.25s`, `1m30s`, `1h0m0s`.
 */
export function formatGoDuration(nanoseconds: number): string {
  let ns = Math.round(Math.abs(nanoseconds));
  const sign = nanoseconds < 0 && ns !== 0 ? "-" : "";
  if (ns === 0) return "0s";
  if (ns < 1000) return `${sign}${ns}ns`;
  if (ns < 1e9) {
    const [unit, precision] = ns < 1e6 ? ["µs", 3] : ["ms", 6];
    const [frac, whole] = fraction(ns, precision);
    return `${sign}${whole}${frac}${unit}`;
  }
  const [frac, seconds] = fraction(ns, 9);
  ns = seconds;
  let text = `${ns % 60}${frac}s`;
  const minutes = Math.floor(ns / 60);
  if (minutes > 0) {
    text = `${minutes % 60}m${text}`;
    const hours = Math.floor(minutes / 60);
    if (hours > 0) text = `${hours}h${text}`;
  }
  return sign + text;
}

/** Milliseconds as Go rounds a duration to 100 µs (half away from zero). */
function roundedNs(ms: number): number {
  const ns = Math.round(ms * NS_PER_MS);
  return Math.round(ns / 100_000) * 100_000;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** `2006-01-02 15:04:05.999999999Z07:00` in the given offset (tailscale's `DateSpTimeNanoZ`). */
export function formatReportTime(wallMs: number, utcOffsetMinutes: number): string {
  const local = new Date(wallMs + utcOffsetMinutes * 60_000);
  const date = `${local.getUTCFullYear()}-${pad2(local.getUTCMonth() + 1)}-${
    pad2(local.getUTCDate())
  }`;
  const time = `${pad2(local.getUTCHours())}:${pad2(local.getUTCMinutes())}:${
    pad2(local.getUTCSeconds())
  }`;
  const [frac] = fraction(local.getUTCMilliseconds() * NS_PER_MS, 9);
  let zone = "Z";
  if (utcOffsetMinutes !== 0) {
    const abs = Math.abs(utcOffsetMinutes);
    zone = `${utcOffsetMinutes < 0 ? "-" : "+"}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
  }
  return `${date} ${time}${frac}${zone}`;
}

function optBoolText(value: boolean | undefined): string {
  return value === undefined ? "" : String(value);
}

/**
 * The report as `tailscale netcheck` prints it (every line ends in `\n`;
 * the first is empty, as tailscale's).
 *
 * @example
 * ```ts
 * const text = formatNetcheckReport(report, derpMap);
 * // "\nReport:\n\t* Time: …\n\t* UDP: true\n\t* IPv4: yes, 192.0.2.7:41641\n…"
 * ```
 */
export function formatNetcheckReport(
  report: NetcheckReport,
  derpMap: DERPMap,
  options: NetcheckTextOptions = {},
): string {
  const offset = options.utcOffsetMinutes ?? -new Date(report.now).getTimezoneOffset();
  const lines: string[] = ["", "Report:"];
  lines.push(`\t* Time: ${formatReportTime(report.now, offset)}`);
  lines.push(`\t* UDP: ${report.udp}`);
  lines.push(
    report.globalV4 ? `\t* IPv4: yes, ${report.globalV4.key}` : "\t* IPv4: (no addr found)",
  );
  if (report.globalV6) lines.push(`\t* IPv6: yes, ${report.globalV6.key}`);
  else if (report.ipv6) lines.push("\t* IPv6: (no addr found)");
  else if (report.osHasIPv6) lines.push("\t* IPv6: no, but OS has support");
  else if (report.osHasIPv6 === false) lines.push("\t* IPv6: no, unavailable in OS");
  else lines.push("\t* IPv6: no");
  lines.push(`\t* MappingVariesByDestIP: ${optBoolText(report.mappingVariesByDestIP)}`);
  lines.push("\t* PortMapping: not checked");
  if (report.captivePortal !== undefined) {
    lines.push(`\t* CaptivePortal: ${report.captivePortal}`);
  }
  const regions = new Map(regionsOf(derpMap).map((region) => [region.RegionID, region]));
  if (report.regionLatency.size === 0) {
    lines.push("\t* Nearest DERP: unknown (no response to latency probes)");
  } else {
    const home = regions.get(report.preferredDERP);
    if (report.preferredDERP === 0) lines.push("\t* Nearest DERP: [none]");
    else if (home) lines.push(`\t* Nearest DERP: ${home.RegionName}`);
    else lines.push(`\t* Nearest DERP: ${report.preferredDERP} (region not found in map)`);
    lines.push("\t* DERP latency:");
    const ids = [...regions.keys()].sort((a, b) => {
      const la = report.regionLatency.get(a), lb = report.regionLatency.get(b);
      if ((la === undefined) !== (lb === undefined)) return la === undefined ? 1 : -1;
      if (la === undefined || lb === undefined) return a - b;
      return la - lb || a - b;
    });
    for (const id of ids) {
      const region = regions.get(id)!;
      const ms = report.regionLatency.get(id);
      const latency = ms === undefined ? "" : formatGoDuration(roundedNs(ms));
      const number = options.verbose ? `derp${id}, ` : "";
      lines.push(
        `\t\t- ${region.RegionCode.padStart(3)}: ${
          latency.padEnd(7)
        } (${number}${region.RegionName})`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

function latencyObject(latencies: Map<RegionID, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [region, ms] of [...latencies].sort(([a], [b]) => a - b)) {
    out[String(region)] = Math.round(ms * NS_PER_MS);
  }
  return out;
}

function counterObject(counters: Map<string, number>): Record<string, number> | null {
  if (counters.size === 0) return null;
  const out: Record<string, number> = {};
  for (const key of [...counters.keys()].sort()) out[key] = counters.get(key)!;
  return out;
}

/** RFC 3339 with fractional seconds trimmed of trailing zeros, UTC (Go's `time.Time` JSON). */
function rfc3339(wallMs: number): string {
  const iso = new Date(wallMs).toISOString();
  const [frac] = fraction(new Date(wallMs).getUTCMilliseconds() * NS_PER_MS, 9);
  return `${iso.slice(0, 19)}${frac}Z`;
}

/** The report as the JSON value of `tailscale netcheck --format=json` (keys in a fixed order). */
export function netcheckReportJSON(report: NetcheckReport): NetcheckReportJSON {
  const opt = (value: boolean | undefined) => value ?? null;
  return {
    Now: rfc3339(report.now),
    UDP: report.udp,
    IPv6: report.ipv6,
    IPv4: report.ipv4,
    IPv6CanSend: report.ipv6CanSend,
    IPv4CanSend: report.ipv4CanSend,
    OSHasIPv6: opt(report.osHasIPv6),
    ICMPv4: opt(report.icmpv4),
    MappingVariesByDestIP: opt(report.mappingVariesByDestIP),
    UPnP: opt(report.upnp),
    PMP: opt(report.pmp),
    PCP: opt(report.pcp),
    PreferredDERP: report.preferredDERP,
    RegionLatency: latencyObject(report.regionLatency),
    RegionV4Latency: latencyObject(report.regionV4Latency),
    RegionV6Latency: latencyObject(report.regionV6Latency),
    GlobalV4Counters: counterObject(report.globalV4Counters),
    GlobalV6Counters: counterObject(report.globalV6Counters),
    GlobalV4: report.globalV4?.key ?? "",
    GlobalV6: report.globalV6?.key ?? "",
    CaptivePortal: opt(report.captivePortal),
    MappingVariesByDestIPv6: opt(report.mappingVariesByDestIPv6),
    Full: report.full,
  };
}

/**
 * The JSON text: tab-indented like `--format=json`, or one line like
 * `--format=json-line`; ends in `\n`.
 */
export function formatNetcheckReportJSON(
  report: NetcheckReport,
  options: { oneLine?: boolean } = {},
): string {
  const value = netcheckReportJSON(report);
  return (options.oneLine ? JSON.stringify(value) : JSON.stringify(value, null, "\t")) + "\n";
}
