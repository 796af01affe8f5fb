/**
 * An IP packet of either version, as the netstack receives it from the
 * WireGuard device: the version nibble picks the parser.
 *
 * @module
 */
import { type IPv4Packet, type IPv4ParseOptions, parseIPv4Packet } from "./ipv4.ts";
import { type IPv6Packet, parseIPv6Packet } from "./ipv6.ts";
import { WireError } from "./wire_error.ts";

/** A parsed IPv4 or IPv6 packet; `version` tells which. */
export type IPPacket = IPv4Packet | IPv6Packet;

/**
 * Parses an IPv4 or IPv6 packet by its version nibble. Both views share
 * `src`, `dst`, `protocol` (the upper layer), `payload` and `isFragment`.
 * Throws a {@link WireError}. `allowTruncated` applies to both versions.
 *
 * @example
 * ```ts
 * const ip = parseIPPacket(bytes);
 * console.log(ip.version, ip.protocol, ip.payload.length);
 * ```
 */
export function parseIPPacket(bytes: Uint8Array, options: IPv4ParseOptions = {}): IPPacket {
  if (bytes.length === 0) throw new WireError("truncated", "empty packet");
  const version = bytes[0] >> 4;
  if (version === 4) return parseIPv4Packet(bytes, options);
  if (version === 6) return parseIPv6Packet(bytes, options);
  throw new WireError("bad-version", `IP version ${version}`);
}

/**
 * The source (`which` = "source") or destination address of an IPv4 or IPv6
 * packet, as a view into it (no copy); `undefined` when the packet is too
 * short or not IP. For the per-packet paths that need only an address.
 *
 * @example
 * ```ts
 * const dst = ipPacketAddress(packet, "destination");
 * ```
 */
export function ipPacketAddress(
  packet: Uint8Array,
  which: "source" | "destination",
): Uint8Array | undefined {
  const version = packet.length > 0 ? packet[0] >> 4 : 0;
  if (version === 4 && packet.length >= 20) {
    return which === "source" ? packet.subarray(12, 16) : packet.subarray(16, 20);
  }
  if (version === 6 && packet.length >= 40) {
    return which === "source" ? packet.subarray(8, 24) : packet.subarray(24, 40);
  }
  return undefined;
}
