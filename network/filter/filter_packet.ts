/**
 * Just enough of an IPv4/IPv6 packet for the packet filter: version,
 * protocol, source and destination addresses, ports, TCP flags and the ICMP
 * type and code. Modelled on the rules of Tailscale's `packet.Parsed.Decode`
 * (`ts: net/packet/packet.go`), so that the filter sees what tailscaled's
 * filter sees: a truncated or inconsistent header makes the protocol
 * "unknown" (dropped), and a non-first fragment is protocol "fragment"
 * (accepted, the first fragment having been judged).
 *
 * This is not the netstack's wire format; it decodes in place into a
 * reusable {@link FilterPacket}, copying nothing.
 *
 * @module
 */
import { IPProtocol } from "../netaddr/ip_protocol.ts";

/** TCP flag bits (RFC 9293 §3.1). */
export const TCPFlag = {
  /** FIN. */
  FIN: 0x01,
  /** SYN. */
  SYN: 0x02,
  /** RST. */
  RST: 0x04,
  /** PSH. */
  PSH: 0x08,
  /** ACK. */
  ACK: 0x10,
} as const;

const IPV4_HEADER_LENGTH = 20;
const IPV6_HEADER_LENGTH = 40;
const IPV6_FRAGMENT_HEADER = 44;
const IPV6_FRAGMENT_HEADER_LENGTH = 8;
// Non-first fragments must start past the largest IPv4 header plus a basic
// TCP header (in 8-byte units), or they could overwrite a judged header.
const MIN_FRAGMENT_BLOCKS = (60 + 20) / 8;
const TCP_HEADER_LENGTH = 20;
const UDP_HEADER_LENGTH = 8;
const ICMP_HEADER_LENGTH = 4;
const IGMP_HEADER_LENGTH = 8;
const SCTP_HEADER_LENGTH = 12;
/** The shortest TSMP message (a rejection, reference §5). */
const MIN_TSMP_LENGTH = 7;

const EMPTY = new Uint8Array(0);

/**
 * The filter's view of one packet. Decode into one instance over and over:
 * fields are overwritten, and addresses are read in place from `buffer`.
 *
 * @example
 * ```ts
 * const packet = new FilterPacket();
 * packet.decode(bytes);
 * if (packet.protocol === IPProtocol.TCP && packet.isTCPSyn) { ... }
 * ```
 */
export class FilterPacket {
  /** The bytes decoded last. */
  buffer: Uint8Array = EMPTY;
  /** 4, 6, or 0 when not an IP packet. */
  ipVersion: 0 | 4 | 6 = 0;
  /** IP protocol ({@link IPProtocol}); `Unknown` when malformed, `Fragment` for non-first fragments. */
  protocol: number = IPProtocol.Unknown;
  /** Offset of the source address in `buffer`. */
  srcOffset = 0;
  /** Offset of the destination address in `buffer`. */
  dstOffset = 0;
  /** Address length: 4 (IPv4) or 16 (IPv6); 0 when not IP. */
  addressLength = 0;
  /** Source port (TCP, UDP, SCTP); 0 otherwise. */
  srcPort = 0;
  /** Destination port (TCP, UDP, SCTP); 0 otherwise. */
  dstPort = 0;
  /** TCP flags byte; 0 for other protocols. */
  tcpFlags = 0;
  /** Offset of the transport header in `buffer`. */
  transportOffset = 0;

  /** Decodes `bytes` (not copied) and returns this packet. Never throws. */
  decode(bytes: Uint8Array): this {
    this.buffer = bytes;
    this.ipVersion = 0;
    this.protocol = IPProtocol.Unknown;
    this.srcOffset = this.dstOffset = this.addressLength = 0;
    this.srcPort =
      this.dstPort =
      this.tcpFlags =
      this.transportOffset =
        0;
    if (bytes.length < 1) return this;
    const version = bytes[0] >> 4;
    if (version === 4) this.#decode4(bytes);
    else if (version === 6) this.#decode6(bytes);
    return this;
  }

  /** The source address (a copy, 4 or 16 bytes). */
  src(): Uint8Array {
    return this.buffer.slice(this.srcOffset, this.srcOffset + this.addressLength);
  }

  /** The destination address (a copy, 4 or 16 bytes). */
  dst(): Uint8Array {
    return this.buffer.slice(this.dstOffset, this.dstOffset + this.addressLength);
  }

  /** A TCP packet with SYN set and ACK clear: the start of a new connection. */
  get isTCPSyn(): boolean {
    return this.protocol === IPProtocol.TCP &&
      (this.tcpFlags & (TCPFlag.SYN | TCPFlag.ACK)) === TCPFlag.SYN;
  }

  /** The ICMP type byte, or -1 when this is no ICMP packet with a full 8-byte header. */
  get icmpType(): number {
    if (this.protocol !== IPProtocol.ICMPv4 && this.protocol !== IPProtocol.ICMPv6) return -1;
    if (this.buffer.length < this.transportOffset + 8) return -1;
    return this.buffer[this.transportOffset];
  }

  /** The ICMP code byte, or -1 like {@link FilterPacket.icmpType}. */
  get icmpCode(): number {
    if (this.icmpType < 0) return -1;
    return this.buffer[this.transportOffset + 1];
  }

  #unknown(): void {
    this.protocol = IPProtocol.Unknown;
  }

  #decode4(b: Uint8Array): void {
    if (b.length < IPV4_HEADER_LENGTH) return;
    this.ipVersion = 4;
    this.protocol = b[9];
    const totalLength = (b[2] << 8) | b[3];
    if (b.length < totalLength) return this.#unknown();
    this.addressLength = 4;
    this.srcOffset = 12;
    this.dstOffset = 16;
    const headerLength = (b[0] & 0x0f) << 2;
    // Go does not check for IHL < 5; such a header overlaps its own fields.
    if (headerLength < IPV4_HEADER_LENGTH || headerLength > totalLength) return this.#unknown();
    this.transportOffset = headerLength;
    const fragment = (b[6] << 8) | b[7];
    const moreFragments = (fragment & 0x2000) !== 0;
    const fragmentOffset = fragment & 0x1fff;
    if (fragmentOffset !== 0) {
      this.protocol = fragmentOffset < MIN_FRAGMENT_BLOCKS
        ? IPProtocol.Unknown
        : IPProtocol.Fragment;
      return;
    }
    if (this.protocol === IPProtocol.TSMP && moreFragments) return this.#unknown();
    if (this.protocol === IPProtocol.Fragment) return this.#unknown();
    this.#decodeTransport(b);
  }

  #decode6(b: Uint8Array): void {
    if (b.length < IPV6_HEADER_LENGTH) return;
    this.ipVersion = 6;
    this.protocol = b[6];
    const length = ((b[4] << 8) | b[5]) + IPV6_HEADER_LENGTH;
    if (b.length < length) return this.#unknown();
    this.addressLength = 16;
    this.srcOffset = 8;
    this.dstOffset = 24;
    this.transportOffset = IPV6_HEADER_LENGTH;
    if (this.protocol === IPV6_FRAGMENT_HEADER) {
      if (b.length < IPV6_HEADER_LENGTH + IPV6_FRAGMENT_HEADER_LENGTH) return this.#unknown();
      const next = b[IPV6_HEADER_LENGTH];
      const fragmentOffset = ((b[IPV6_HEADER_LENGTH + 2] << 8) | b[IPV6_HEADER_LENGTH + 3]) >> 3;
      this.transportOffset += IPV6_FRAGMENT_HEADER_LENGTH;
      if (fragmentOffset !== 0) {
        this.protocol = fragmentOffset < MIN_FRAGMENT_BLOCKS
          ? IPProtocol.Unknown
          : IPProtocol.Fragment;
        return;
      }
      this.protocol = next;
    }
    if (this.protocol === IPProtocol.Fragment) return this.#unknown();
    this.#decodeTransport(b);
  }

  #decodeTransport(b: Uint8Array): void {
    const available = b.length - this.transportOffset;
    const at = this.transportOffset;
    switch (this.protocol) {
      case IPProtocol.ICMPv4:
        // ICMPv6 inside IPv4 or ICMPv4 inside IPv6 decode like any other
        // protocol, as in Go: only the family's own ICMP gets ICMP rules.
        if (this.ipVersion === 4 && available < ICMP_HEADER_LENGTH) this.#unknown();
        return;
      case IPProtocol.ICMPv6:
        if (this.ipVersion === 6 && available < ICMP_HEADER_LENGTH) this.#unknown();
        return;
      case IPProtocol.IGMP:
        if (this.ipVersion === 4 && available < IGMP_HEADER_LENGTH) this.#unknown();
        return;
      case IPProtocol.TCP:
        if (available < TCP_HEADER_LENGTH) return this.#unknown();
        this.srcPort = (b[at] << 8) | b[at + 1];
        this.dstPort = (b[at + 2] << 8) | b[at + 3];
        this.tcpFlags = b[at + 13];
        return;
      case IPProtocol.UDP:
        if (available < UDP_HEADER_LENGTH) return this.#unknown();
        this.srcPort = (b[at] << 8) | b[at + 1];
        this.dstPort = (b[at + 2] << 8) | b[at + 3];
        return;
      case IPProtocol.SCTP:
        if (available < SCTP_HEADER_LENGTH) return this.#unknown();
        this.srcPort = (b[at] << 8) | b[at + 1];
        this.dstPort = (b[at + 2] << 8) | b[at + 3];
        return;
      case IPProtocol.TSMP:
        if (available < MIN_TSMP_LENGTH) this.#unknown();
        return;
    }
  }
}
