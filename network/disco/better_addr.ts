/**
 * Path ranking: whether a newly measured path should replace the current
 * best one (`betterAddr`, `ts: wgengine/magicsock/endpoint.go`; data-plane
 * reference §2.7). Latency decides first, as a percentage improvement; small
 * bonuses prefer loopback, link-local, private and IPv6 paths at similar
 * latency; and a hysteresis of 1% keeps two near-equal paths from flapping.
 *
 * @module
 */

import type { AddrPort } from "../netaddr/addr_port.ts";
import { isLinkLocalUnicastIP, isLoopbackIP, isPrivateIP } from "../netaddr/ip_address.ts";

/** A path as measured by a Pong. */
export interface AddrQuality {
  /** The UDP endpoint. */
  readonly addr: AddrPort;
  /** Round-trip time of the Ping that confirmed it, in milliseconds. */
  readonly latencyMs: number;
  /**
   * Whether the path runs through a peer relay (a Geneve VNI is set). Direct
   * paths always beat relayed ones. Absent means direct.
   */
  readonly relayed?: boolean;
  /**
   * The largest wire MTU a Ping proved on this path; only compared between
   * two measurements of the same path. Absent means the safe default (peer
   * path-MTU discovery is off by default in tailscaled, §2.6).
   */
  readonly wireMTU?: number;
}

function sameEndpoint(a: AddrQuality, b: AddrQuality): boolean {
  return a.addr.key === b.addr.key && !!a.relayed === !!b.relayed;
}

// Go compares time.Duration values, integer nanoseconds, with integer division.
function nanoseconds(ms: number): number {
  return Math.max(0, Math.round(ms * 1e6));
}

function bonus(addr: AddrPort): number {
  let points = 0;
  if (isLoopbackIP(addr.ip)) points += 50;
  else if (isLinkLocalUnicastIP(addr.ip)) points += 30;
  else if (isPrivateIP(addr.ip)) points += 20;
  if (addr.is6) points += 10;
  return points;
}

/**
 * Whether `a` is a better path than `b`; null stands for "no path". A path
 * is never better than itself unless it proved a larger MTU.
 *
 * @example
 * ```ts
 * betterAddr({ addr: lan, latencyMs: 2 }, { addr: wan, latencyMs: 40 }); // true
 * ```
 */
export function betterAddr(a: AddrQuality | null, b: AddrQuality | null): boolean {
  if (a === null && b === null) return false;
  if (a !== null && b !== null && sameEndpoint(a, b)) {
    return (a.wireMTU ?? 0) > (b.wireMTU ?? 0);
  }
  if (b === null) return true;
  if (a === null) return false;

  if (!a.relayed && b.relayed) return true;
  if (a.relayed && !b.relayed) return false;

  // Points: how much faster (in percent) the faster one is than the slower.
  const aLatency = nanoseconds(a.latencyMs), bLatency = nanoseconds(b.latencyMs);
  let aPoints = 0, bPoints = 0;
  if (aLatency > bLatency && aLatency > 0) {
    bPoints = 100 - Math.floor((bLatency * 100) / aLatency);
  } else if (bLatency > 0) {
    aPoints = 100 - Math.floor((aLatency * 100) / bLatency);
  }
  aPoints += bonus(a.addr);
  bPoints += bonus(b.addr);

  // Hysteresis: under 1% better is not better.
  if (aPoints <= 1 && bPoints === 0) return false;
  return aPoints > bPoints;
}
