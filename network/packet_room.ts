/**
 * Outbound IP packets built with room around them for their encapsulation,
 * so that WireGuard can seal one where it lies (its 16-byte header before,
 * padding and the 16-byte tag after) instead of allocating a datagram and
 * copying the packet in, as wireguard-go leaves MessageTransportHeaderSize
 * free in front of each packet. The netstack allocates such packets; the
 * WireGuard peer asks {@link takeRoom} before it writes around one, so
 * that a packet without the room (a reply built elsewhere, a copy staged for
 * a handshake) is never written past.
 *
 * @module
 */

/** Bytes free in front of a packet: a WireGuard transport header. */
export const PACKET_HEADROOM = 16;
/**
 * Bytes free behind a packet: padding to 16 (at most 15) and the AEAD tag
 * (16), so any transport message for the packet fits in its buffer.
 */
export const PACKET_TAILROOM = 32;

const withRoom = new WeakSet<ArrayBuffer>();

/**
 * A zeroed packet of `length` bytes with {@link PACKET_HEADROOM} and
 * {@link PACKET_TAILROOM} free around it in the same buffer.
 */
export function allocatePacketWithRoom(length: number): Uint8Array {
  const buffer = new ArrayBuffer(PACKET_HEADROOM + length + PACKET_TAILROOM);
  withRoom.add(buffer);
  return new Uint8Array(buffer, PACKET_HEADROOM, length);
}

/**
 * Whether `packet` came from {@link allocatePacketWithRoom} whole, so that
 * the room around it may be written (and the packet with it). True at most
 * once per packet: the caller takes the room.
 */
export function takeRoom(packet: Uint8Array): boolean {
  const buffer = packet.buffer as ArrayBuffer;
  if (
    packet.byteOffset !== PACKET_HEADROOM ||
    buffer.byteLength !== PACKET_HEADROOM + packet.length + PACKET_TAILROOM
  ) return false;
  return withRoom.delete(buffer);
}
