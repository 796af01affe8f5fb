/**
 * ICMP echo pings of our own (RFC 792, RFC 4443 §4.1): building the request
 * and matching replies to the pings waiting for them. The data plane answers
 * echo requests addressed to us by itself, so every echo reply it hands up
 * is one to a request of ours; replies are matched by peer address,
 * identifier and sequence number, and anything else goes on to the packet
 * handler.
 *
 * @module
 */
import type { RandomSource } from "../crypto/random.ts";
import { ipAddressEquals } from "../netaddr/ip_address.ts";
import { emitICMPv4Echo, parseICMPv4Message } from "../netstack/wire/icmpv4.ts";
import {
  emitICMPv6Echo,
  parseICMPv6Message,
  verifyICMPv6Checksum,
} from "../netstack/wire/icmpv6.ts";
import { parseIPPacket } from "../netstack/wire/ip_packet.ts";
import { IPProtocol } from "../netaddr/ip_protocol.ts";
import { ICMP_HEADER_LENGTH } from "../netstack/wire/icmp_message.ts";
import { emitIPv4Header, IPV4_MIN_HEADER_LENGTH } from "../netstack/wire/ipv4.ts";
import { emitIPv6Header, IPV6_HEADER_LENGTH } from "../netstack/wire/ipv6.ts";

/** Payload carried by each request, so that a reply proves more than a header made it. */
const ECHO_DATA_LENGTH = 16;

/** The identity of one echo request: who it went to and its identifier/sequence pair. */
export interface EchoKey {
  /** The peer address (4 or 16 bytes). */
  readonly peer: Uint8Array;
  /** ICMP identifier. */
  readonly identifier: number;
  /** ICMP sequence number. */
  readonly sequence: number;
}

/**
 * An echo request from `source` to `destination` (both 4-byte or both
 * 16-byte), with a random identifier, sequence number and data.
 *
 * @example
 * ```ts
 * const { packet, key } = buildEchoRequest(ourIP, peerIP, systemRandom);
 * sock.sendPacket(packet);
 * ```
 */
export function buildEchoRequest(
  source: Uint8Array,
  destination: Uint8Array,
  random: RandomSource,
): { packet: Uint8Array; key: EchoKey } {
  const ids = random(4);
  const identifier = (ids[0] << 8) | ids[1];
  const sequence = (ids[2] << 8) | ids[3];
  const data = random(ECHO_DATA_LENGTH);
  const icmpLength = ICMP_HEADER_LENGTH + data.length;
  const echo = { kind: "echo-request" as const, identifier, sequence, data };
  let packet: Uint8Array;
  if (destination.length === 4) {
    packet = new Uint8Array(IPV4_MIN_HEADER_LENGTH + icmpLength);
    emitIPv4Header(
      { src: source, dst: destination, protocol: IPProtocol.ICMPv4, payloadLength: icmpLength },
      packet,
    );
    emitICMPv4Echo(echo, packet, IPV4_MIN_HEADER_LENGTH);
  } else {
    packet = new Uint8Array(IPV6_HEADER_LENGTH + icmpLength);
    emitIPv6Header(
      { src: source, dst: destination, nextHeader: IPProtocol.ICMPv6, payloadLength: icmpLength },
      packet,
    );
    emitICMPv6Echo(echo, packet, source, destination, IPV6_HEADER_LENGTH);
  }
  return { packet, key: { peer: destination, identifier, sequence } };
}

/** The echo-reply identity of `packet`, or undefined when it is not a well-formed echo reply. */
export function echoReplyKey(packet: Uint8Array): EchoKey | undefined {
  try {
    const ip = parseIPPacket(packet);
    if (ip.isFragment) return undefined;
    if (ip.version === 4 && ip.protocol === IPProtocol.ICMPv4) {
      const icmp = parseICMPv4Message(ip.payload);
      if (icmp.kind !== "echo-reply") return undefined;
      return { peer: ip.src, identifier: icmp.identifier, sequence: icmp.sequence };
    }
    if (ip.version === 6 && ip.protocol === IPProtocol.ICMPv6) {
      if (!verifyICMPv6Checksum(ip.src, ip.dst, ip.payload)) return undefined;
      const icmp = parseICMPv6Message(ip.payload);
      if (icmp.kind !== "echo-reply") return undefined;
      return { peer: ip.src, identifier: icmp.identifier, sequence: icmp.sequence };
    }
  } catch {
    // Not a packet we can read: not ours either.
  }
  return undefined;
}

/**
 * The pings waiting for their replies.
 *
 * @example
 * ```ts
 * const waiting = new EchoWaiters();
 * const reply = waiting.wait(key); // settles when take() sees the reply
 * onPacket = (p) => waiting.take(p) || userHandler(p);
 * ```
 */
export class EchoWaiters {
  readonly #waiting: { key: EchoKey; resolve: () => void }[] = [];

  /** Settles when the reply for `key` is taken; `cancel` forgets it. */
  wait(key: EchoKey): { replied: Promise<void>; cancel: () => void } {
    let resolve!: () => void;
    const replied = new Promise<void>((r) => resolve = r);
    const entry = { key, resolve };
    this.#waiting.push(entry);
    const cancel = () => {
      const at = this.#waiting.indexOf(entry);
      if (at >= 0) this.#waiting.splice(at, 1);
    };
    return { replied, cancel };
  }

  /** Whether `packet` answered a waiting ping (which it then settles). */
  take(packet: Uint8Array): boolean {
    if (this.#waiting.length === 0) return false;
    const key = echoReplyKey(packet);
    if (!key) return false;
    const at = this.#waiting.findIndex((w) =>
      w.key.identifier === key.identifier && w.key.sequence === key.sequence &&
      ipAddressEquals(w.key.peer, key.peer)
    );
    if (at < 0) return false;
    const [entry] = this.#waiting.splice(at, 1);
    entry.resolve();
    return true;
  }
}
