/**
 * The filter's memory of our own outbound UDP/SCTP flows, so that replies to
 * them are admitted whatever the rules say (reference §6.4: "UDP / SCTP:
 * accept if the reverse tuple is in the flow cache"). A least-recently-used
 * set of 512 tuples, like tailscaled's `flowtrack.Cache` (`lruMax`).
 *
 * @module
 */

import type { FilterPacket } from "./filter_packet.ts";

/** Flows remembered by default (Go's `lruMax`). */
export const FLOW_CACHE_SIZE = 512;

// A tuple key: protocol, then the address and port bytes as char codes. Cheaper
// than formatting addresses, and unique because the lengths are fixed per family.
function tupleKey(
  protocol: number,
  buffer: Uint8Array,
  srcOffset: number,
  srcPort: number,
  dstOffset: number,
  dstPort: number,
  addressLength: number,
): string {
  let key = String.fromCharCode(protocol, addressLength, srcPort, dstPort);
  for (let i = 0; i < addressLength; i++) {
    key += String.fromCharCode(buffer[srcOffset + i], buffer[dstOffset + i]);
  }
  return key;
}

/** An LRU set of flow tuples (protocol, source ip:port, destination ip:port). */
export class FlowCache {
  readonly #max: number;
  readonly #entries = new Map<string, true>();

  /** A cache of at most `max` flows. */
  constructor(max: number = FLOW_CACHE_SIZE) {
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError("flow cache size must be a positive integer");
    }
    this.#max = max;
  }

  /** Number of flows held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Records the reverse of an outbound packet's tuple: the tuple its replies will carry. */
  addReverseOf(packet: FilterPacket): void {
    const key = tupleKey(
      packet.protocol,
      packet.buffer,
      packet.dstOffset,
      packet.dstPort,
      packet.srcOffset,
      packet.srcPort,
      packet.addressLength,
    );
    this.#entries.delete(key);
    this.#entries.set(key, true);
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value!;
      this.#entries.delete(oldest);
    }
  }

  /** Whether an inbound packet's tuple was recorded; a hit makes it the most recent. */
  has(packet: FilterPacket): boolean {
    const key = tupleKey(
      packet.protocol,
      packet.buffer,
      packet.srcOffset,
      packet.srcPort,
      packet.dstOffset,
      packet.dstPort,
      packet.addressLength,
    );
    if (!this.#entries.has(key)) return false;
    this.#entries.delete(key);
    this.#entries.set(key, true);
    return true;
  }

  /** Forgets every flow. */
  clear(): void {
    this.#entries.clear();
  }
}
