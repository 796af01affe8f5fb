/**
 * Building the IP packets this stack originates: one fresh buffer per
 * packet (the receiver of `send` owns it, and may seal it where it lies:
 * packet_room.ts), the IPv4 or IPv6 header written
 * by `wire/`, the transport bytes left for the caller at
 * {@link OutboundPacket.offset}.
 *
 * @module
 */
import { IPProtocol } from "../netaddr/ip_protocol.ts";
import { allocatePacketWithRoom } from "../packet_room.ts";
import { emitIPv4Header, IPV4_MIN_HEADER_LENGTH } from "./wire/ipv4.ts";
import { emitIPv6Header, IPV6_HEADER_LENGTH } from "./wire/ipv6.ts";
import { emitTCPSegment, tcpHeaderLength, type TCPSegmentFields } from "./wire/tcp.ts";
import { emitUDPDatagram, UDP_HEADER_LENGTH } from "./wire/udp.ts";

/** A packet with its IP header written and room for the transport bytes. */
export interface OutboundPacket {
  /** The whole packet. */
  packet: Uint8Array;
  /** Where the transport header starts. */
  offset: number;
}

/** IP header length for an address of this length (4 → 20, 16 → 40). */
export function ipHeaderLength(address: Uint8Array): number {
  return address.length === 4 ? IPV4_MIN_HEADER_LENGTH : IPV6_HEADER_LENGTH;
}

/**
 * A packet from `src` to `dst` (both 4 or both 16 bytes) for `protocol`
 * with `transportLength` bytes after the IP header. IPv4 packets carry DF
 * (this stack never fragments; MSS and UDP sizes keep packets within the
 * MTU) and the given identification.
 */
export function allocateIPPacket(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  transportLength: number,
  identification: number,
): OutboundPacket {
  const offset = ipHeaderLength(src);
  const packet = allocatePacketWithRoom(offset + transportLength);
  if (src.length === 4) {
    emitIPv4Header({
      src,
      dst,
      protocol,
      payloadLength: transportLength,
      identification: identification & 0xffff,
      dontFragment: true,
    }, packet);
  } else {
    emitIPv6Header({ src, dst, nextHeader: protocol, payloadLength: transportLength }, packet);
  }
  return { packet, offset };
}

/**
 * A TCP segment in an IP packet. `fill` copies `payloadLength` bytes of
 * data into the buffer at the offset it is given (so that data moves from
 * the send ring straight into the packet).
 */
export function buildTcpPacket(
  src: Uint8Array,
  dst: Uint8Array,
  fields: TCPSegmentFields,
  payloadLength: number,
  fill: ((target: Uint8Array) => void) | undefined,
  identification: number,
): Uint8Array {
  const header = tcpHeaderLength(fields);
  const { packet, offset } = allocateIPPacket(
    src,
    dst,
    IPProtocol.TCP,
    header + payloadLength,
    identification,
  );
  if (payloadLength > 0 && fill) {
    fill(packet.subarray(offset + header, offset + header + payloadLength));
  }
  emitTCPSegment({ ...fields, payload: undefined, payloadLength }, packet, src, dst, offset);
  return packet;
}

/** A UDP datagram in an IP packet. */
export function buildUdpPacket(
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
  identification: number,
): Uint8Array {
  const { packet, offset } = allocateIPPacket(
    src,
    dst,
    IPProtocol.UDP,
    UDP_HEADER_LENGTH + payload.length,
    identification,
  );
  emitUDPDatagram({ srcPort, dstPort, payload }, packet, src, dst, offset);
  return packet;
}
