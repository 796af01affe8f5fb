/**
 * TSMP, the Tailscale Message Protocol (IP protocol 99, data-plane reference
 * §5), as far as the data plane answers it by itself: a Ping gets a Pong
 * carrying the same 8 bytes, and everything TSMP is kept from the packet
 * handler (disco-key advertisements are not acted on yet: disco keys come
 * from the netmap).
 *
 * @module
 */
import { ipAddressEquals } from "../netaddr/ip_address.ts";
import { parseIPPacket } from "./wire/ip_packet.ts";
import { IPProtocol } from "../netaddr/ip_protocol.ts";
import { emitTSMPPacket, parseTSMPMessage, tsmpMessageLength } from "./wire/tsmp.ts";

/** Whether `packet` is an IPv4 or IPv6 packet of protocol 99 (TSMP, any type). */
export function isTSMPPacket(packet: Uint8Array): boolean {
  const version = packet.length > 0 ? packet[0] >> 4 : 0;
  if (version === 4) return packet.length >= 20 && packet[9] === IPProtocol.TSMP;
  if (version === 6) return packet.length >= 40 && packet[6] === IPProtocol.TSMP;
  return false;
}

/**
 * The Pong to `packet` when it is a TSMP Ping to one of `ourAddresses`;
 * `undefined` otherwise. As tailscaled writes it (§5): addresses swapped,
 * TTL/hop limit 64, the IPv4 ID (IPv6 flow label) complemented, payload
 * `'o'` ‖ the Ping's 8 bytes ‖ our peerAPI port (2 bytes, 0 for none).
 *
 * @example
 * ```ts
 * const pong = tsmpPong(packet, [parseIPAddress("100.64.0.1")!]);
 * ```
 */
export function tsmpPong(
  packet: Uint8Array,
  ourAddresses: readonly Uint8Array[],
  peerAPIPort = 0,
): Uint8Array | undefined {
  if (!isTSMPPacket(packet)) return undefined;
  let ip;
  let message;
  try {
    ip = parseIPPacket(packet);
    if (ip.protocol !== IPProtocol.TSMP || ip.isFragment) return undefined;
    message = parseTSMPMessage(ip.payload);
  } catch {
    return undefined; // Malformed: nothing to answer.
  }
  if (message.kind !== "ping" || !ours(ip.dst, ourAddresses)) return undefined;
  const pong = { kind: "pong" as const, data: message.data, peerAPIPort };
  // tailscaled complements the Ping's IPv4 ID (IPv6 flow label) for its Pong.
  const identification = ip.version === 4 ? ~ip.identification & 0xffff : ~ip.flowLabel & 0xfffff;
  const out = new Uint8Array((ip.version === 4 ? 20 : 40) + tsmpMessageLength(pong));
  emitTSMPPacket(pong, { src: ip.dst, dst: ip.src, identification }, out);
  return out;
}

function ours(ip: Uint8Array, addresses: readonly Uint8Array[]): boolean {
  return addresses.some((a) => ipAddressEquals(a, ip));
}
