/**
 * IP protocol / IPv6 next-header numbers (IANA "Assigned Internet Protocol
 * Numbers") that the wire formats and the packet filter name, plus the two
 * markers Tailscale's `types/ipproto` adds for its packet decoder: `Unknown`
 * (shares 0 with Hop-by-Hop, as there) and `Fragment`.
 *
 * @module
 */

/** Protocol numbers carried in the IPv4 protocol field and IPv6 next-header chain. */
export const IPProtocol = {
  /** Decoder marker: not an IP packet we understand, or a malformed one (`ipproto.Unknown`). */
  Unknown: 0,
  /** IPv6 Hop-by-Hop Options (RFC 8200 §4.3). */
  HopByHop: 0,
  /** ICMP for IPv4 (RFC 792). */
  ICMPv4: 1,
  /** IGMP (RFC 3376). */
  IGMP: 2,
  /** TCP (RFC 9293). */
  TCP: 6,
  /** UDP (RFC 768). */
  UDP: 17,
  /** IPv6 Routing header (RFC 8200 §4.4). */
  IPv6Routing: 43,
  /** IPv6 Fragment header (RFC 8200 §4.5). */
  IPv6Fragment: 44,
  /** Encapsulating Security Payload (RFC 4303): opaque, cannot be walked past. */
  ESP: 50,
  /** Authentication Header (RFC 4302): length counted in 4-byte units. */
  AH: 51,
  /** ICMP for IPv6 (RFC 4443). */
  ICMPv6: 58,
  /** IPv6 "No Next Header" (RFC 8200 §4.7). */
  IPv6NoNextHeader: 59,
  /** IPv6 Destination Options (RFC 8200 §4.6). */
  IPv6DestinationOptions: 60,
  /** Tailscale Message Protocol (data-plane reference §5). */
  TSMP: 99,
  /** Mobility header (RFC 6275). */
  MobilityHeader: 135,
  /** Host Identity Protocol (RFC 7401). */
  HIP: 139,
  /** SCTP (RFC 9260). */
  SCTP: 132,
  /** Shim6 (RFC 5533). */
  Shim6: 140,
  /** Decoder marker, not a real number: a non-first fragment (`ipproto.Fragment`). */
  Fragment: 0xff,
} as const;
