/**
 * TSMP, the Tailscale Message Protocol (IP protocol 99, data-plane reference
 * §5), as far as the data plane answers it by itself: a Ping gets a Pong
 * carrying the same 8 bytes, and everything TSMP is kept from the packet
 * handler (disco-key advertisements are not acted on yet: disco keys come
 * from the netmap).
 *
 * @module
 */
import { ipAddressEquals } from "../filter/ip_address.ts";
import { onesComplementSum, writeChecksum } from "./ip_checksum.ts";

/** IP protocol number of TSMP (`ipproto.TSMP`). */
export const TSMP_PROTOCOL = 99;
/** TSMP type byte of a Ping request (`'p'`). */
export const TSMP_PING = 0x70;
/** TSMP type byte of a Pong (`'o'`). */
export const TSMP_PONG = 0x6f;
/** Opaque bytes a Ping carries and its Pong echoes. */
export const TSMP_PING_DATA_LENGTH = 8;

const TTL = 64;

/** Whether `packet` is an IPv4 or IPv6 packet of protocol 99 (TSMP, any type). */
export function isTSMPPacket(packet: Uint8Array): boolean {
  const version = packet.length > 0 ? packet[0] >> 4 : 0;
  if (version === 4) return packet.length >= 20 && packet[9] === TSMP_PROTOCOL;
  if (version === 6) return packet.length >= 40 && packet[6] === TSMP_PROTOCOL;
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
  const v4 = packet[0] >> 4 === 4;
  const headerLength = v4 ? (packet[0] & 0x0f) * 4 : 40;
  const end = v4 ? (packet[2] << 8) | packet[3] : 40 + ((packet[4] << 8) | packet[5]);
  if (headerLength < 20 || end > packet.length || end < headerLength + 1 + TSMP_PING_DATA_LENGTH) {
    return undefined;
  }
  if (packet[headerLength] !== TSMP_PING) return undefined;
  const source = v4 ? packet.subarray(12, 16) : packet.subarray(8, 24);
  const destination = v4 ? packet.subarray(16, 20) : packet.subarray(24, 40);
  if (!ours(destination, ourAddresses)) return undefined;

  const outHeader = v4 ? 20 : 40;
  const payloadLength = 1 + TSMP_PING_DATA_LENGTH + 2;
  const pong = new Uint8Array(outHeader + payloadLength);
  if (v4) {
    pong[0] = 0x45;
    pong[2] = pong.length >> 8;
    pong[3] = pong.length & 0xff;
    pong[4] = ~packet[4] & 0xff;
    pong[5] = ~packet[5] & 0xff;
    pong[8] = TTL;
    pong[9] = TSMP_PROTOCOL;
    pong.set(destination, 12);
    pong.set(source, 16);
    writeChecksum(pong, 10, onesComplementSum(pong.subarray(0, 20)));
  } else {
    const flow = (~(((packet[1] & 0x0f) << 16) | (packet[2] << 8) | packet[3])) & 0xfffff;
    pong[0] = 0x60;
    pong[1] = flow >> 16;
    pong[2] = (flow >> 8) & 0xff;
    pong[3] = flow & 0xff;
    pong[5] = payloadLength;
    pong[6] = TSMP_PROTOCOL;
    pong[7] = TTL;
    pong.set(destination, 8);
    pong.set(source, 24);
  }
  pong[outHeader] = TSMP_PONG;
  pong.set(
    packet.subarray(headerLength + 1, headerLength + 1 + TSMP_PING_DATA_LENGTH),
    outHeader + 1,
  );
  pong[outHeader + 9] = peerAPIPort >> 8;
  pong[outHeader + 10] = peerAPIPort & 0xff;
  return pong;
}

function ours(ip: Uint8Array, addresses: readonly Uint8Array[]): boolean {
  return addresses.some((a) => ipAddressEquals(a, ip));
}
