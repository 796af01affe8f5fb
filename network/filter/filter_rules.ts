/**
 * Compiles the netmap's packet-filter rules (`[]tailcfg.FilterRule`) into
 * matches (reference §6.3; `ts: wgengine/filter/tailcfg.go`
 * `MatchesFromFilterRules`). A rule matches a packet when the packet's
 * protocol is one of the rule's, its source is in the rule's sources (or
 * holds one of its capabilities), and some destination entry holds both its
 * destination address and port.
 *
 * Errors follow the Go client: a rule with the retired `SrcBits` or
 * `DstPorts[].Bits` voids the whole filter (no rules at all, so no new
 * inbound connections); an entry that does not parse is skipped and the rest
 * of its rule kept; the first such error is reported. `CapGrant` is for
 * application-level capability checks (WhoIs), not packets, and is ignored.
 *
 * @module
 */

import type { FilterRule, NetPortRange } from "../control/map_response.ts";
import { IPProtocol } from "../netaddr/ip_protocol.ts";
import { type IPRange, IPSetParseError, parseIPSetEntry } from "./ip_range.ts";

/** Protocols of a rule with no `IPProtocol`: TCP, UDP, ICMPv4 and ICMPv6 (§6.3). */
export const DEFAULT_FILTER_PROTOCOLS: readonly number[] = [
  IPProtocol.TCP,
  IPProtocol.UDP,
  IPProtocol.ICMPv4,
  IPProtocol.ICMPv6,
];

/** A destination: an address range and an inclusive port range. */
export interface DestinationMatch {
  /** Destination addresses. */
  readonly range: IPRange;
  /** First allowed port. */
  readonly firstPort: number;
  /** Last allowed port. */
  readonly lastPort: number;
}

/** One compiled rule. */
export interface FilterMatch {
  /** Allowed IP protocol numbers, as a 256-entry membership table. */
  readonly protocols: Uint8Array;
  /** Source ranges. */
  readonly sources: readonly IPRange[];
  /** Node capabilities that also admit a source (`cap:<name>` entries). */
  readonly sourceCaps: readonly string[];
  /** Destinations. */
  readonly destinations: readonly DestinationMatch[];
}

/** The result of {@link compileFilterRules}. */
export interface CompiledFilterRules {
  /** The usable matches, in rule order. */
  readonly matches: readonly FilterMatch[];
  /** Problems found, in order (the Go client logs the first one). */
  readonly errors: readonly string[];
}

function protocolTable(list: readonly number[] | null | undefined): Uint8Array {
  const table = new Uint8Array(256);
  if (!list || list.length === 0) {
    for (const proto of DEFAULT_FILTER_PROTOCOLS) table[proto] = 1;
    return table;
  }
  // Values outside 0–255 are ignored (a rule listing only those matches nothing).
  for (const proto of list) {
    if (Number.isInteger(proto) && proto >= 0 && proto <= 0xff) table[proto] = 1;
  }
  return table;
}

function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65535;
}

/**
 * Compiles rules into matches. Never throws for bad rule content; problems
 * come back in `errors`.
 *
 * @example
 * ```ts
 * const { matches } = compileFilterRules([
 *   { SrcIPs: ["*"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] },
 * ]);
 * ```
 */
export function compileFilterRules(
  rules: readonly FilterRule[] | null | undefined,
): CompiledFilterRules {
  const matches: FilterMatch[] = [];
  const errors: string[] = [];
  if (!Array.isArray(rules)) return { matches, errors };
  for (const rule of rules) {
    if (!rule || typeof rule !== "object") {
      errors.push("filter rule is not an object");
      continue;
    }
    if (Array.isArray(rule.SrcBits) && rule.SrcBits.length > 0) {
      return {
        matches: [],
        errors: [...errors, "unexpected SrcBits; control plane should not send this"],
      };
    }
    const dsts: readonly (NetPortRange | null)[] = Array.isArray(rule.DstPorts)
      ? rule.DstPorts
      : [];
    if (dsts.some((d) => d && d.Bits != null)) {
      return {
        matches: [],
        errors: [...errors, "unexpected DstBits; control plane should not send this"],
      };
    }
    const sources: IPRange[] = [];
    const sourceCaps: string[] = [];
    for (const text of rule.SrcIPs ?? []) {
      try {
        const entry = parseIPSetEntry(text);
        sources.push(...entry.ranges);
        if (entry.cap !== undefined && entry.cap !== "") sourceCaps.push(entry.cap);
      } catch (error) {
        if (!(error instanceof IPSetParseError)) throw error;
        errors.push(error.message);
      }
    }
    const destinations: DestinationMatch[] = [];
    for (const dst of dsts) {
      if (!dst || typeof dst !== "object") {
        errors.push("DstPorts entry is not an object");
        continue;
      }
      const ports = dst.Ports;
      if (!ports || !isPort(ports.First) || !isPort(ports.Last)) {
        errors.push(`invalid port range ${JSON.stringify(ports)} for ${JSON.stringify(dst.IP)}`);
        continue;
      }
      try {
        const entry = parseIPSetEntry(dst.IP);
        if (entry.cap !== undefined) {
          errors.push(`unexpected capability ${JSON.stringify(entry.cap)} in DstPorts`);
          continue;
        }
        for (const range of entry.ranges) {
          destinations.push({ range, firstPort: ports.First, lastPort: ports.Last });
        }
      } catch (error) {
        if (!(error instanceof IPSetParseError)) throw error;
        errors.push(error.message);
      }
    }
    matches.push({ protocols: protocolTable(rule.IPProto), sources, sourceCaps, destinations });
  }
  return { matches, errors };
}

/**
 * The matches of one address family (Go's `matchesFamily`): each rule keeps
 * only its sources and destinations of that family, and is dropped when it
 * has no destination there, or neither a source there nor a capability.
 */
export function matchesForFamily(matches: readonly FilterMatch[], ipv4: boolean): FilterMatch[] {
  const out: FilterMatch[] = [];
  for (const match of matches) {
    const sources = match.sources.filter((range) => range.is4 === ipv4);
    const destinations = match.destinations.filter((dst) => dst.range.is4 === ipv4);
    if ((sources.length > 0 || match.sourceCaps.length > 0) && destinations.length > 0) {
      out.push({ protocols: match.protocols, sources, sourceCaps: match.sourceCaps, destinations });
    }
  }
  return out;
}
