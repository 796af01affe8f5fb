/**
 * The packet filter between WireGuard and the node's TCP/IP stack
 * (reference §6.4–6.5; `ts: wgengine/filter/filter.go`). Inbound packets
 * from peers pass only if they are replies to our own traffic or a rule of
 * the netmap allows them:
 *
 * 1. `pre` checks (both directions): an empty packet (WireGuard keep-alive)
 *    passes; shorter than 20 bytes, unknown or malformed protocol, multicast
 *    or link-local destination (but 169.254.169.254) are dropped; non-first
 *    fragments pass.
 * 2. Inbound, the destination must be one of this node's addresses (or
 *    advertised routes).
 * 3. ICMP echo replies and errors pass; other ICMP passes if a rule allows
 *    the source to reach the destination address at all. TCP without SYN
 *    passes (no connection tracking: replies to our connections). UDP and
 *    SCTP pass if they answer a flow we sent (512-entry LRU), else by rule.
 *    TSMP passes. Other protocols pass only by a rule for that protocol with
 *    all ports.
 *
 * There is no filter before the first netmap ({@link PacketFilter.allowNone}:
 * nothing new comes in), and a netmap without rules admits replies only.
 * Outbound packets always pass the rules; UDP/SCTP ones are remembered so
 * that their replies pass.
 *
 * @module
 */

import type { FilterRule } from "../control/map_response.ts";
import { FilterPacket } from "./filter_packet.ts";
import { IPProtocol } from "../netaddr/ip_protocol.ts";
import { compileFilterRules, type FilterMatch, matchesForFamily } from "./filter_rules.ts";
import { FLOW_CACHE_SIZE, FlowCache } from "./flow_cache.ts";
import { parseIPAddress } from "../netaddr/ip_address.ts";
import { type IPRange, IPSetParseError, parseIPSetEntry } from "./ip_range.ts";

/** Why the filter decided as it did (Go's `why` strings, as identifiers). */
export type FilterReason =
  | "keep-alive"
  | "too-short"
  | "unknown-protocol"
  | "multicast"
  | "link-local-unicast"
  | "fragment"
  | "destination-not-local"
  | "icmp-response"
  | "icmp-allowed"
  | "tcp-non-syn"
  | "tcp-allowed"
  | "udp-reply"
  | "allowed"
  | "tsmp"
  | "other-protocol-allowed"
  | "no-rule-matched"
  | "outbound";

/** A verdict. The objects are shared constants: compare `accept`, read `reason`. */
export interface FilterResult {
  /** Whether the packet may pass. */
  readonly accept: boolean;
  /** Why. */
  readonly reason: FilterReason;
}

const RESULTS = new Map<string, FilterResult>();
function result(accept: boolean, reason: FilterReason): FilterResult {
  const key = `${accept}:${reason}`;
  let found = RESULTS.get(key);
  if (!found) {
    found = Object.freeze({ accept, reason });
    RESULTS.set(key, found);
  }
  return found;
}

const KEEP_ALIVE = result(true, "keep-alive");
const TOO_SHORT = result(false, "too-short");
const UNKNOWN_PROTOCOL = result(false, "unknown-protocol");
const MULTICAST = result(false, "multicast");
const LINK_LOCAL = result(false, "link-local-unicast");
const FRAGMENT = result(true, "fragment");
const NOT_LOCAL = result(false, "destination-not-local");
const ICMP_RESPONSE = result(true, "icmp-response");
const ICMP_ALLOWED = result(true, "icmp-allowed");
const TCP_NON_SYN = result(true, "tcp-non-syn");
const TCP_ALLOWED = result(true, "tcp-allowed");
const UDP_REPLY = result(true, "udp-reply");
const ALLOWED = result(true, "allowed");
const TSMP = result(true, "tsmp");
const OTHER_ALLOWED = result(true, "other-protocol-allowed");
const NO_RULE = result(false, "no-rule-matched");
const OUTBOUND = result(true, "outbound");

/** Checks whether a source address holds a node capability (for `cap:` sources). */
export type SourceCapabilityTest = (src: Uint8Array, capability: string) => boolean;

/** Options for a {@link PacketFilter}. */
export interface PacketFilterOptions {
  /**
   * This node's addresses and advertised routes, as prefixes or addresses
   * (`"100.64.0.1/32"`, `"fd7a:115c:a1e0::1"`): inbound packets to anything
   * else are dropped. The netmap's `SelfNode.Addresses` is the usual value.
   */
  readonly localAddresses?: readonly string[];
  /**
   * Shields up: the rules are ignored (no new inbound connections). Only
   * the reason a dropped TCP SYN is reported with changes (TSMP `'S'`
   * instead of `'A'`, reference §5).
   */
  readonly shieldsUp?: boolean;
  /** Decides `cap:<name>` sources; without it they never match. */
  readonly srcHasCapability?: SourceCapabilityTest;
  /** Share the flow memory of an earlier filter, so replies keep passing across netmap updates. */
  readonly shareFlowsWith?: PacketFilter;
  /** Flows remembered (default 512). */
  readonly flowCacheSize?: number;
}

/** The result of {@link PacketFilter.fromRules}. */
export interface BuiltPacketFilter {
  /** The filter. */
  readonly filter: PacketFilter;
  /** Rule problems (entries skipped, or the whole list voided). */
  readonly errors: readonly string[];
}

/** Raised for a bad local address in {@link PacketFilterOptions.localAddresses}. */
export class PacketFilterError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "PacketFilterError";
  }
}

function anyContains(ranges: readonly IPRange[], buffer: Uint8Array, offset: number): boolean {
  for (let i = 0; i < ranges.length; i++) if (ranges[i].containsAt(buffer, offset)) return true;
  return false;
}

/**
 * An inbound/outbound packet filter built from the netmap's rules.
 *
 * @example
 * ```ts
 * const { filter } = PacketFilter.fromRules(netmap.packetFilter, {
 *   localAddresses: self.Addresses,
 * });
 * if (!filter.runIn(decryptedPacket).accept) return; // drop
 * ```
 */
export class PacketFilter {
  readonly #matches4: readonly FilterMatch[];
  readonly #matches6: readonly FilterMatch[];
  readonly #local4: readonly IPRange[];
  readonly #local6: readonly IPRange[];
  readonly #shieldsUp: boolean;
  readonly #srcHasCapability: SourceCapabilityTest | undefined;
  readonly #flows: FlowCache;
  readonly #packet = new FilterPacket();
  readonly #ruleCount: number;

  /**
   * A filter over compiled matches. Throws {@link PacketFilterError} for a
   * local address that does not parse.
   */
  constructor(matches: readonly FilterMatch[], options: PacketFilterOptions = {}) {
    this.#shieldsUp = options.shieldsUp === true;
    const effective = this.#shieldsUp ? [] : matches;
    this.#ruleCount = effective.length;
    this.#matches4 = matchesForFamily(effective, true);
    this.#matches6 = matchesForFamily(effective, false);
    const local4: IPRange[] = [], local6: IPRange[] = [];
    for (const text of options.localAddresses ?? []) {
      let ranges: readonly IPRange[];
      try {
        const entry = parseIPSetEntry(text);
        if (entry.cap !== undefined) throw new IPSetParseError(`not an address: ${text}`);
        ranges = entry.ranges;
      } catch (error) {
        if (error instanceof IPSetParseError) {
          throw new PacketFilterError(`local address: ${error.message}`);
        }
        throw error;
      }
      for (const range of ranges) (range.is4 ? local4 : local6).push(range);
    }
    this.#local4 = local4;
    this.#local6 = local6;
    this.#srcHasCapability = options.srcHasCapability;
    const shared = options.shareFlowsWith;
    this.#flows = shared ? shared.#flows : new FlowCache(options.flowCacheSize ?? FLOW_CACHE_SIZE);
  }

  /**
   * The filter before any netmap (Go's `NewAllowNone`): no rules and no
   * local addresses, so nothing inbound passes but keep-alives and fragments.
   */
  static allowNone(): PacketFilter {
    return new PacketFilter([]);
  }

  /**
   * The filter for a netmap (§6.5): its rules (null or empty: replies only)
   * and this node's addresses. Rule problems are returned, not thrown.
   */
  static fromRules(
    rules: readonly FilterRule[] | null | undefined,
    options: PacketFilterOptions = {},
  ): BuiltPacketFilter {
    const { matches, errors } = compileFilterRules(rules);
    return { filter: new PacketFilter(matches, options), errors };
  }

  /** Whether shields are up (rules ignored). */
  get shieldsUp(): boolean {
    return this.#shieldsUp;
  }

  /** Number of compiled rules in force. */
  get ruleCount(): number {
    return this.#ruleCount;
  }

  /** Number of outbound flows remembered. */
  get flowCount(): number {
    return this.#flows.size;
  }

  /** Judges a packet arriving from a peer (after WireGuard decryption). */
  runIn(packet: Uint8Array): FilterResult {
    const p = this.#packet.decode(packet);
    const early = this.#pre(p);
    if (early) return early;
    const v4 = p.ipVersion === 4;
    if (!anyContains(v4 ? this.#local4 : this.#local6, p.buffer, p.dstOffset)) return NOT_LOCAL;
    const matches = v4 ? this.#matches4 : this.#matches6;
    switch (p.protocol) {
      case IPProtocol.ICMPv4:
      case IPProtocol.ICMPv6:
        // Each family's own ICMP only; the other one is "another protocol".
        if ((p.protocol === IPProtocol.ICMPv4) !== v4) return this.#other(p, matches);
        if (isEchoReplyOrError(p)) return ICMP_RESPONSE;
        return this.#matchIPsOnly(p, matches) ? ICMP_ALLOWED : NO_RULE;
      case IPProtocol.TCP:
        if (!p.isTCPSyn) return TCP_NON_SYN;
        return this.#match(p, matches) ? TCP_ALLOWED : NO_RULE;
      case IPProtocol.UDP:
      case IPProtocol.SCTP:
        if (this.#flows.has(p)) return UDP_REPLY;
        return this.#match(p, matches) ? ALLOWED : NO_RULE;
      case IPProtocol.TSMP:
        return TSMP;
      default:
        return this.#other(p, matches);
    }
  }

  /**
   * Judges a packet we send to a peer: it passes unless malformed (the
   * `pre` checks), and UDP/SCTP flows are remembered for their replies.
   */
  runOut(packet: Uint8Array): FilterResult {
    const p = this.#packet.decode(packet);
    const early = this.#pre(p);
    if (early) return early;
    if (p.protocol === IPProtocol.UDP || p.protocol === IPProtocol.SCTP) {
      this.#flows.addReverseOf(p);
    }
    return OUTBOUND;
  }

  /**
   * Whether a new inbound connection would be allowed (Go's `Filter.Check`):
   * TCP is judged as a SYN, other protocols by their first packet. Addresses
   * as text; a bad address or mixed families is a drop.
   */
  check(src: string, dst: string, dstPort: number, protocol: number): FilterResult {
    const srcIP = parseIPAddress(src), dstIP = parseIPAddress(dst);
    if (!srcIP || !dstIP || srcIP.length !== dstIP.length) return UNKNOWN_PROTOCOL;
    return this.runIn(buildProbePacket(srcIP, dstIP, dstPort, protocol));
  }

  #pre(p: FilterPacket): FilterResult | null {
    if (p.buffer.length === 0) return KEEP_ALIVE;
    if (p.buffer.length < 20) return TOO_SHORT;
    if (p.protocol === IPProtocol.Unknown) return UNKNOWN_PROTOCOL;
    const dstClass = classifyDestination(p.buffer, p.dstOffset, p.ipVersion === 4);
    if (dstClass === MULTICAST_DST) return MULTICAST;
    if (dstClass === LINK_LOCAL_DST) return LINK_LOCAL;
    if (p.protocol === IPProtocol.Fragment) return FRAGMENT;
    return null;
  }

  #sourceMatches(match: FilterMatch, p: FilterPacket): boolean {
    if (anyContains(match.sources, p.buffer, p.srcOffset)) return true;
    if (this.#srcHasCapability && match.sourceCaps.length > 0) {
      const src = p.src();
      for (const cap of match.sourceCaps) if (this.#srcHasCapability(src, cap)) return true;
    }
    return false;
  }

  // Go's matches.match: protocol, source, and a destination with address and port.
  #match(p: FilterPacket, matches: readonly FilterMatch[]): boolean {
    for (const match of matches) {
      if (!match.protocols[p.protocol]) continue;
      if (!this.#sourceMatches(match, p)) continue;
      for (const dst of match.destinations) {
        if (!dst.range.containsAt(p.buffer, p.dstOffset)) continue;
        if (p.dstPort < dst.firstPort || p.dstPort > dst.lastPort) continue;
        return true;
      }
    }
    return false;
  }

  // Go's matches.matchIPsOnly: source and destination address; no protocol, no port.
  #matchIPsOnly(p: FilterPacket, matches: readonly FilterMatch[]): boolean {
    for (const match of matches) {
      if (!anyContains(match.sources, p.buffer, p.srcOffset)) continue;
      for (const dst of match.destinations) {
        if (dst.range.containsAt(p.buffer, p.dstOffset)) return true;
      }
    }
    if (this.#srcHasCapability) {
      const src = p.src();
      for (const match of matches) {
        for (const cap of match.sourceCaps) if (this.#srcHasCapability(src, cap)) return true;
      }
    }
    return false;
  }

  // Go's matchProtoAndIPsOnlyIfAllPorts, for protocols without ports.
  #other(p: FilterPacket, matches: readonly FilterMatch[]): FilterResult {
    for (const match of matches) {
      if (!match.protocols[p.protocol]) continue;
      if (!anyContains(match.sources, p.buffer, p.srcOffset)) continue;
      for (const dst of match.destinations) {
        if (dst.firstPort !== 0 || dst.lastPort !== 65535) continue;
        if (dst.range.containsAt(p.buffer, p.dstOffset)) return OTHER_ALLOWED;
      }
    }
    return NO_RULE;
  }
}

const OTHER_DST = 0, MULTICAST_DST = 1, LINK_LOCAL_DST = 2;

// Multicast or link-local unicast, read in place (as Go's netip classifiers,
// IPv4-mapped IPv6 included). 169.254.169.254, the cloud metadata and DNS
// address, is let through as tailscaled does (its `gcpDNSAddr`); only in its
// IPv4 form, as there.
function classifyDestination(b: Uint8Array, at: number, v4: boolean): number {
  let a = at;
  if (!v4) {
    if (b[at] === 0xff) return MULTICAST_DST;
    if (b[at] === 0xfe && (b[at + 1] & 0xc0) === 0x80) return LINK_LOCAL_DST;
    for (let i = 0; i < 10; i++) if (b[at + i] !== 0) return OTHER_DST;
    if (b[at + 10] !== 0xff || b[at + 11] !== 0xff) return OTHER_DST;
    a = at + 12;
  }
  if ((b[a] & 0xf0) === 0xe0) return MULTICAST_DST;
  if (b[a] === 169 && b[a + 1] === 254) {
    return v4 && b[a + 2] === 169 && b[a + 3] === 254 ? OTHER_DST : LINK_LOCAL_DST;
  }
  return OTHER_DST;
}

// ICMP echo replies (code 0) and errors are answers to our own traffic. The
// IPv4 parameter-problem type is RFC 792's 12; Go's table has 0x12 (18), a
// slip (reference §9 item 6), which we do not copy.
function isEchoReplyOrError(p: FilterPacket): boolean {
  const type = p.icmpType;
  if (type < 0) return false;
  if (p.protocol === IPProtocol.ICMPv4) {
    if (type === 0) return p.icmpCode === 0;
    return type === 3 || type === 11 || type === 12;
  }
  if (type === 129) return p.icmpCode === 0;
  return type === 1 || type === 2 || type === 3 || type === 4;
}

// The smallest well-formed packet that the filter reads as "the start of a
// new flow" from src to dst:port: a TCP SYN, a UDP datagram, an ICMP echo
// request, or a bare header for other protocols.
function buildProbePacket(
  src: Uint8Array,
  dst: Uint8Array,
  dstPort: number,
  protocol: number,
): Uint8Array {
  const v4 = src.length === 4;
  const header = v4 ? 20 : 40;
  const transport = protocol === IPProtocol.TCP ? 20 : protocol === IPProtocol.TSMP ? 7 : 8;
  const out = new Uint8Array(header + transport);
  if (v4) {
    out[0] = 0x45;
    out[2] = out.length >> 8;
    out[3] = out.length & 0xff;
    out[8] = 64;
    out[9] = protocol;
    out.set(src, 12);
    out.set(dst, 16);
  } else {
    out[0] = 0x60;
    out[4] = transport >> 8;
    out[5] = transport & 0xff;
    out[6] = protocol;
    out[7] = 64;
    out.set(src, 8);
    out.set(dst, 24);
  }
  const port = Math.max(0, Math.min(65535, Math.trunc(dstPort)));
  if (protocol === IPProtocol.TCP || protocol === IPProtocol.UDP || protocol === IPProtocol.SCTP) {
    out[header + 2] = port >> 8;
    out[header + 3] = port & 0xff;
    if (protocol === IPProtocol.TCP) {
      out[header + 12] = 5 << 4;
      out[header + 13] = 0x02; // SYN
    }
  } else if (protocol === IPProtocol.ICMPv4) {
    out[header] = 8; // echo request
  } else if (protocol === IPProtocol.ICMPv6) {
    out[header] = 128; // echo request
  }
  return out;
}
