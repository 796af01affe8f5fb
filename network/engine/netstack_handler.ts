/**
 * The TCP/UDP stack as the pipeline's local handler, behind the packet
 * filter: TCP and UDP segments for our addresses, and the ICMP errors that
 * may concern them, go to the {@link NetStack}; ICMP echo stays with the
 * engine's echo responder and pinger (they sit before this handler), and
 * anything else falls through to the handlers after it.
 *
 * @module
 */
import { IPProtocol } from "../netaddr/ip_protocol.ts";
import type { NetStack } from "../netstack/netstack.ts";
import type { LocalHandler } from "./packet_pipeline.ts";

/** ICMPv4 types that are not errors (echo request 8, reply 0). */
const ICMPV4_ECHO = new Set([0, 8]);
/** ICMPv6 error messages are types 0–127 (RFC 4443 §2.1). */
const ICMPV6_FIRST_INFORMATIONAL = 128;

/** IPv6 extension headers (RFC 8200 §4) that may stand before TCP or UDP. */
const IPV6_EXTENSION_HEADERS = new Set<number>([
  IPProtocol.HopByHop,
  IPProtocol.IPv6Routing,
  IPProtocol.IPv6Fragment,
  IPProtocol.IPv6DestinationOptions,
  IPProtocol.AH,
]);

/** The upper-layer protocol of an IPv4/IPv6 packet and its offset, without walking extension headers. */
function transport(packet: Uint8Array): { protocol: number; offset: number } | undefined {
  const version = packet.length > 0 ? packet[0] >> 4 : 0;
  if (version === 4 && packet.length >= 20) {
    return { protocol: packet[9], offset: (packet[0] & 0x0f) * 4 };
  }
  if (version === 6 && packet.length >= 40) return { protocol: packet[6], offset: 40 };
  return undefined;
}

/**
 * A local handler giving the stack what is its.
 *
 * @example
 * ```ts
 * pipeline.addLocalHandler(netstackHandler(stack));
 * ```
 */
export function netstackHandler(stack: NetStack): LocalHandler {
  return (packet) => {
    const t = transport(packet);
    if (!t) return false;
    const { protocol, offset } = t;
    let mine = protocol === IPProtocol.TCP || protocol === IPProtocol.UDP;
    if (protocol === IPProtocol.ICMPv4 && packet.length > offset) {
      mine = !ICMPV4_ECHO.has(packet[offset]);
    } else if (protocol === IPProtocol.ICMPv6 && packet.length > offset) {
      mine = packet[offset] < ICMPV6_FIRST_INFORMATIONAL;
    }
    // IPv6 extension headers before the upper layer are the stack's to walk.
    if ((packet[0] >> 4) === 6 && IPV6_EXTENSION_HEADERS.has(protocol)) mine = true;
    return mine && stack.deliver(packet);
  };
}
