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
 * Packets are carved one after another out of shared slabs, as Node's
 * Buffer pool does: a view on a slab costs less than half of a new
 * ArrayBuffer, and the garbage collector tracks one buffer per slab, not one
 * per packet. A slot is never reused, so a packet starts zeroed; a slab is
 * freed when no packet on it is referenced any more.
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

/** Bytes of one slab: about 24 MTU-sized packets, or hundreds of ACKs. */
const SLAB_BYTES = 32 * 1024;
/** Slots start at multiples of this, so that a slot's start indexes its room table. */
const SLOT_ALIGN = 16;
/** Packets whose slot would pass this get a buffer of their own. */
const LARGEST_SLAB_SLOT = SLAB_BYTES / 4;

/**
 * Per buffer, by slot start / {@link SLOT_ALIGN}: the length + 1 of the
 * packet whose room is still free there, 0 when none is. Only the exact view
 * that was handed out matches, and only until its room is taken.
 */
const roomTables = new WeakMap<ArrayBuffer, Uint16Array | Int32Array>();

let slab = new Uint8Array(0);
let slabTable = new Uint16Array(0);
let slabUsed = 0;

/**
 * A zeroed packet of `length` bytes with {@link PACKET_HEADROOM} and
 * {@link PACKET_TAILROOM} free around it in the same buffer.
 */
export function allocatePacketWithRoom(length: number): Uint8Array {
  const slot = (PACKET_HEADROOM + length + PACKET_TAILROOM + SLOT_ALIGN - 1) & ~(SLOT_ALIGN - 1);
  if (slot > LARGEST_SLAB_SLOT) {
    const buffer = new ArrayBuffer(PACKET_HEADROOM + length + PACKET_TAILROOM);
    const table = new Int32Array(1);
    table[0] = length + 1;
    roomTables.set(buffer, table);
    return new Uint8Array(buffer, PACKET_HEADROOM, length);
  }
  if (slabUsed + slot > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    slabTable = new Uint16Array(SLAB_BYTES / SLOT_ALIGN);
    roomTables.set(slab.buffer, slabTable);
    slabUsed = 0;
  }
  const start = slabUsed + PACKET_HEADROOM;
  slabTable[slabUsed / SLOT_ALIGN] = length + 1;
  slabUsed += slot;
  return slab.subarray(start, start + length);
}

/**
 * Whether `packet` came from {@link allocatePacketWithRoom} whole, so that
 * the room around it may be written (and the packet with it). True at most
 * once per packet: the caller takes the room.
 */
export function takeRoom(packet: Uint8Array): boolean {
  const table = roomTables.get(packet.buffer as ArrayBuffer);
  if (table === undefined) return false;
  const start = packet.byteOffset - PACKET_HEADROOM;
  if (start < 0 || start % SLOT_ALIGN !== 0) return false;
  const index = start / SLOT_ALIGN;
  if (index >= table.length || table[index] !== packet.length + 1) return false;
  table[index] = 0;
  return true;
}
