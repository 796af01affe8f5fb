/**
 * The host's addresses as netcheck sees them (tailscaled's `netmon.State`
 * subset): which families have a usable address, and a fingerprint of the
 * usable addresses whose change means "the network changed, measure again".
 * Pure functions over the list `Deno.networkInterfaces()` returns, plus
 * {@link probeOSHasIPv6}, which binds a socket to `::1`.
 *
 * Usable, as `netmon` counts it: not loopback; IPv4 not link-local; IPv6
 * global unicast (`2000::/3`) or unique-local (`fc00::/7`) outside
 * Tailscale's own ULA (`fd7a:115c:a1e0::/48`). Interfaces named
 * `tailscale*` (or `Tailscale`) are skipped.
 *
 * @module
 */
import { IPPrefix } from "../netaddr/ip_prefix.ts";
import {
  isLinkLocalUnicastIP,
  isLoopbackIP,
  isPrivateIP,
  parseIPAddress,
} from "../netaddr/ip_address.ts";
import type { InterfaceFamilies } from "./probe_plan.ts";

/** One address of one interface (the fields of `Deno.NetworkInterfaceInfo` used here). */
export interface InterfaceAddress {
  /** Interface name, e.g. `eth0`. */
  readonly name: string;
  /** `IPv4` or `IPv6`. */
  readonly family: "IPv4" | "IPv6";
  /** Address text (an IPv6 zone, if any, is ignored). */
  readonly address: string;
}

/** The usable addresses of the host and what they allow. */
export interface LocalAddressSnapshot extends InterfaceFamilies {
  /** `name/address` of each usable address, sorted: equal keys mean no change. */
  readonly key: string;
  /** The usable addresses (`name/address`), sorted. */
  readonly addresses: readonly string[];
}

const TAILSCALE_ULA = IPPrefix.parse("fd7a:115c:a1e0::/48");
const GLOBAL_UNICAST_V6 = IPPrefix.parse("2000::/3");

function isTailscaleInterface(name: string): boolean {
  return name === "Tailscale" || name.startsWith("tailscale");
}

/** Whether an IPv4 address could carry Internet traffic (`isUsableV4`). */
export function isUsableV4(ip: Uint8Array): boolean {
  return ip.length === 4 && !isLoopbackIP(ip) && !isLinkLocalUnicastIP(ip);
}

/** Whether an IPv6 address could carry Internet traffic (`isUsableV6`). */
export function isUsableV6(ip: Uint8Array): boolean {
  if (ip.length !== 16) return false;
  return GLOBAL_UNICAST_V6.contains(ip) || (isPrivateIP(ip) && !TAILSCALE_ULA.contains(ip));
}

/**
 * What the host's addresses allow, from `Deno.networkInterfaces()`.
 *
 * @example
 * ```ts
 * const snapshot = localAddressSnapshot(Deno.networkInterfaces());
 * snapshot.haveV4; // true on a host with a LAN or public IPv4 address
 * ```
 */
export function localAddressSnapshot(
  interfaces: readonly InterfaceAddress[],
): LocalAddressSnapshot {
  let haveV4 = false, haveV6 = false;
  const addresses = new Set<string>();
  for (const entry of interfaces) {
    if (isTailscaleInterface(entry.name)) continue;
    const ip = parseIPAddress(entry.address.split("%")[0]);
    if (!ip || isLoopbackIP(ip)) continue;
    if (isUsableV4(ip)) {
      haveV4 = true;
      addresses.add(`${entry.name}/${entry.address}`);
    } else if (isUsableV6(ip)) {
      haveV6 = true;
      addresses.add(`${entry.name}/${entry.address}`);
    }
  }
  const sorted = [...addresses].sort();
  return { haveV4, haveV6, addresses: sorted, key: sorted.join(" ") };
}

/**
 * Whether the OS lets a UDP socket bind to `::1` (tailscaled's `OSHasIPv6`
 * test). Opens and closes one socket (needs `--unstable-net`).
 */
export function probeOSHasIPv6(): boolean {
  try {
    Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}
