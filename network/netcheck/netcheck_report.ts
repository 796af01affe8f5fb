/**
 * What one netcheck found (tailscaled's `netcheck.Report`): whether UDP
 * works per family, our address as STUN servers saw it, whether that
 * address depends on the server, each DERP region's round trip, and the
 * preferred (home) region. Plus the two derived views tailscaled takes from
 * it: the STUN endpoints to advertise (`GetGlobalAddrs`) and the `NetInfo`
 * sent to control (`magicsock.updateNetInfo`).
 *
 * A field Citadel does not measure is `undefined` ("unknown"), never
 * `false`: ICMPv4, UPnP, NAT-PMP, PCP and captive-portal detection.
 *
 * @module
 */
import type { NetInfo } from "../control/tailcfg.ts";
import type { AddrPort } from "../netaddr/addr_port.ts";

/** A DERP region ID (the map's keys, as numbers). */
export type RegionID = number;

/** One netcheck's findings. Latencies are milliseconds (fractional). */
export interface NetcheckReport {
  /** Wall-clock milliseconds (Unix epoch) when the report was finished. */
  now: number;
  /** Whether this was a full report (every region) rather than an incremental one. */
  full: boolean;
  /** A STUN round trip completed (either family). */
  udp: boolean;
  /** An IPv4 STUN round trip completed. */
  ipv4: boolean;
  /** An IPv6 STUN round trip completed. */
  ipv6: boolean;
  /** An IPv4 STUN request could be sent. */
  ipv4CanSend: boolean;
  /** An IPv6 STUN request could be sent. */
  ipv6CanSend: boolean;
  /** Whether a socket could be bound to `::1`; `undefined` when not tried. */
  osHasIPv6: boolean | undefined;
  /** ICMPv4 round trip (tailscaled's fallback when UDP is blocked): never measured, so `undefined`. */
  icmpv4: boolean | undefined;
  /**
   * Whether IPv4 STUN servers saw different `ip:port`s (a "hard" NAT);
   * `undefined` until two IPv4 answers arrived.
   */
  mappingVariesByDestIP: boolean | undefined;
  /** The same for IPv6 (tailscaled leaves this as a TODO); `undefined` until two answers. */
  mappingVariesByDestIPv6: boolean | undefined;
  /** UPnP on the LAN: not probed by Citadel, so `undefined`. */
  upnp: boolean | undefined;
  /** NAT-PMP on the LAN: not probed by Citadel, so `undefined`. */
  pmp: boolean | undefined;
  /** PCP on the LAN: not probed by Citadel, so `undefined`. */
  pcp: boolean | undefined;
  /** Captive portal: not probed by Citadel, so `undefined`. */
  captivePortal: boolean | undefined;
  /** Home region chosen from the recent reports (0 = none). */
  preferredDERP: RegionID;
  /** Lowest round trip per region, either family. */
  regionLatency: Map<RegionID, number>;
  /** Lowest IPv4 round trip per region. */
  regionV4Latency: Map<RegionID, number>;
  /** Lowest IPv6 round trip per region. */
  regionV6Latency: Map<RegionID, number>;
  /** Our IPv4 `ip:port` as the first answering server saw it. */
  globalV4: AddrPort | undefined;
  /** Our IPv6 `ip:port` as the last answering server saw it (tailscaled keeps the last). */
  globalV6: AddrPort | undefined;
  /** How often each IPv4 `ip:port` (key) was seen. */
  globalV4Counters: Map<string, number>;
  /** How often each IPv6 `ip:port` (key) was seen. */
  globalV6Counters: Map<string, number>;
  /** The `AddrPort`s behind the counter keys. */
  observedAddresses: Map<string, AddrPort>;
}

/** A report with nothing measured yet. */
export function emptyReport(): NetcheckReport {
  return {
    now: 0,
    full: false,
    udp: false,
    ipv4: false,
    ipv6: false,
    ipv4CanSend: false,
    ipv6CanSend: false,
    osHasIPv6: undefined,
    icmpv4: undefined,
    mappingVariesByDestIP: undefined,
    mappingVariesByDestIPv6: undefined,
    upnp: undefined,
    pmp: undefined,
    pcp: undefined,
    captivePortal: undefined,
    preferredDERP: 0,
    regionLatency: new Map(),
    regionV4Latency: new Map(),
    regionV6Latency: new Map(),
    globalV4: undefined,
    globalV6: undefined,
    globalV4Counters: new Map(),
    globalV6Counters: new Map(),
    observedAddresses: new Map(),
  };
}

/** A copy whose maps can be changed without touching `report`. */
export function cloneReport(report: NetcheckReport): NetcheckReport {
  return {
    ...report,
    regionLatency: new Map(report.regionLatency),
    regionV4Latency: new Map(report.regionV4Latency),
    regionV6Latency: new Map(report.regionV6Latency),
    globalV4Counters: new Map(report.globalV4Counters),
    globalV6Counters: new Map(report.globalV6Counters),
    observedAddresses: new Map(report.observedAddresses),
  };
}

/**
 * The STUN-derived endpoints to advertise (tailscaled's `GetGlobalAddrs`):
 * per family the best-latency address first, then every other address seen
 * more than once (some NATs hand out a fresh mapping per STUN session while
 * the old one still works). Addresses seen once are left out: they are
 * most likely a hard NAT's one-off mapping.
 *
 * @example
 * ```ts
 * const { v4, v6 } = globalAddresses(report);
 * const endpoints = [...v4, ...v6].map((ap) => ({ Addr: ap.key, Type: 2 }));
 * ```
 */
export function globalAddresses(report: NetcheckReport): { v4: AddrPort[]; v6: AddrPort[] } {
  const collect = (best: AddrPort | undefined, counters: Map<string, number>): AddrPort[] => {
    const out: AddrPort[] = best ? [best] : [];
    for (const [key, count] of [...counters].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
      if (count < 2 || key === best?.key) continue;
      const address = report.observedAddresses.get(key);
      if (address) out.push(address);
    }
    return out;
  };
  return {
    v4: collect(report.globalV4, report.globalV4Counters),
    v6: collect(report.globalV6, report.globalV6Counters),
  };
}

/**
 * The `NetInfo` tailscaled derives from a report for control
 * (`updateNetInfo`): latencies in seconds under `"<region>-v4"` and
 * `"<region>-v6"`, the UDP and IPv6 findings, and the preferred region.
 * Fields Citadel does not measure (ICMPv4, UPnP, NAT-PMP, PCP) are left
 * out, which control reads as "unknown". The caller may replace
 * `PreferredDERP` (magicsock falls back to a region of its own choosing
 * when the report has none).
 */
export function netInfoFromReport(report: NetcheckReport): NetInfo {
  const latency: Record<string, number> = {};
  for (const [region, ms] of [...report.regionV4Latency].sort(([a], [b]) => a - b)) {
    latency[`${region}-v4`] = ms / 1000;
  }
  for (const [region, ms] of [...report.regionV6Latency].sort(([a], [b]) => a - b)) {
    latency[`${region}-v6`] = ms / 1000;
  }
  const info: NetInfo = {
    WorkingIPv6: report.ipv6,
    WorkingUDP: report.udp,
    PreferredDERP: report.preferredDERP,
    DERPLatency: latency,
  };
  if (report.mappingVariesByDestIP !== undefined) {
    info.MappingVariesByDestIP = report.mappingVariesByDestIP;
  }
  if (report.osHasIPv6 !== undefined) info.OSHasIPv6 = report.osHasIPv6;
  return info;
}
