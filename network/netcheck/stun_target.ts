/**
 * Where to send a DERP node's STUN probe (tailscaled's `nodeAddrPort` and
 * its helpers; data-plane reference §3.10): `STUNPort` 0 means 3478 and a
 * negative port disables STUN on the node; `STUNTestIP` wins over
 * everything; then the `IPv4`/`IPv6` field (`"none"`, or any text that is
 * not an address of that family, disables the family); then the host name,
 * used as is when it is an IP literal and resolved through DNS otherwise.
 *
 * @module
 */
import type { DERPNode } from "../control/map_response.ts";
import { AddrPort } from "../netaddr/addr_port.ts";
import { IPV4_LENGTH, parseIPAddress } from "../netaddr/ip_address.ts";
import { DEFAULT_STUN_PORT } from "./netcheck_constants.ts";

/** The IP family a probe uses. */
export type ProbeFamily = 4 | 6;

/** How to reach a node's STUN server over one family. */
export type StunTarget =
  /** Send here. */
  | { readonly kind: "address"; readonly address: AddrPort }
  /** Look `hostname` up and send to its first address of the family, on `port`. */
  | { readonly kind: "resolve"; readonly hostname: string; readonly port: number }
  /** The node cannot be probed over this family. */
  | { readonly kind: "none" };

const NONE: StunTarget = { kind: "none" };

/** The family of an address of 4 or 16 bytes (an IPv4-mapped address is IPv6, as in Go). */
function familyOf(ip: Uint8Array): ProbeFamily {
  return ip.length === IPV4_LENGTH ? 4 : 6;
}

/**
 * The STUN port of a node, or undefined when STUN is off (`STUNPort` < 0)
 * or the port is out of range.
 */
export function stunPortOf(node: DERPNode): number | undefined {
  const port = node.STUNPort ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) return undefined;
  return port === 0 ? DEFAULT_STUN_PORT : port;
}

/**
 * Where a STUN probe of `family` to `node` goes. No DNS here: a host name
 * that is not an IP literal comes back as `{kind: "resolve"}`.
 *
 * @example
 * ```ts
 * stunTargetOf({ Name: "1a", RegionID: 1, HostName: "derp.example", IPv4: "192.0.2.1" }, 4);
 * // { kind: "address", address: AddrPort 192.0.2.1:3478 }
 * ```
 */
export function stunTargetOf(node: DERPNode, family: ProbeFamily): StunTarget {
  const port = stunPortOf(node);
  if (port === undefined) return NONE;
  if (node.STUNTestIP) {
    const ip = parseIPAddress(node.STUNTestIP);
    if (!ip || familyOf(ip) !== family) return NONE;
    return { kind: "address", address: new AddrPort(ip, port) };
  }
  const forced = family === 4 ? node.IPv4 : node.IPv6;
  if (forced) {
    const ip = parseIPAddress(forced);
    if (!ip || familyOf(ip) !== family) return NONE;
    return { kind: "address", address: new AddrPort(ip, port) };
  }
  const literal = parseIPAddress(node.HostName ?? "");
  if (literal) {
    // What a resolver gives for a literal: itself, of its own family only.
    return familyOf(literal) === family
      ? { kind: "address", address: new AddrPort(literal, port) }
      : NONE;
  }
  if (!node.HostName) return NONE;
  return { kind: "resolve", hostname: node.HostName, port };
}

/**
 * A "test node" (tailcfg `IsTestNode`): `STUNTestIP` set or `IPv4` exactly
 * `127.0.0.1`. Netcheck probes it even when the interfaces say the family
 * is unavailable, which is what makes loopback DERP maps work.
 */
export function isTestNode(node: DERPNode): boolean {
  return !!node.STUNTestIP || node.IPv4 === "127.0.0.1";
}

/** Whether `node` might answer IPv4 STUN judging by its config alone (`nodeMight4`). */
export function nodeMight4(node: DERPNode): boolean {
  if (!node.IPv4) return true;
  const ip = parseIPAddress(node.IPv4);
  return !!ip && familyOf(ip) === 4;
}

/** Whether `node` might answer IPv6 STUN judging by its config alone (`nodeMight6`). */
export function nodeMight6(node: DERPNode): boolean {
  if (!node.IPv6) return true;
  const ip = parseIPAddress(node.IPv6);
  return !!ip && familyOf(ip) === 6;
}
