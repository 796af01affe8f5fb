/**
 * ICMP for IPv6 (RFC 4443): echo request/reply and the four error messages
 * parsed into typed views (neighbour discovery and the rest kept generic),
 * the checksum under the IPv6 pseudo-header (RFC 4443 §2.3, RFC 8200 §8.1),
 * and emitting into a caller's buffer.
 *
 * @module
 */
import { checksumAdd, checksumFinish, pseudoHeaderSum } from "./checksum.ts";
import { IPProtocol } from "../../netaddr/ip_protocol.ts";
import { emitICMPMessage, ICMP_HEADER_LENGTH } from "./icmp_message.ts";
import { WireError } from "./wire_error.ts";

/** Length of the ICMPv6 header: type, code, checksum and 4 type-specific bytes. */
export const ICMPV6_HEADER_LENGTH = 8;

/** ICMPv6 message types this stack names (RFC 4443 §2.1, RFC 4861 §4). */
export const ICMPv6Type = {
  /** Destination unreachable. */
  DestinationUnreachable: 1,
  /** Packet too big. */
  PacketTooBig: 2,
  /** Time exceeded. */
  TimeExceeded: 3,
  /** Parameter problem. */
  ParameterProblem: 4,
  /** Echo request. */
  EchoRequest: 128,
  /** Echo reply. */
  EchoReply: 129,
  /** Neighbor solicitation (RFC 4861). */
  NeighborSolicitation: 135,
  /** Neighbor advertisement (RFC 4861). */
  NeighborAdvertisement: 136,
} as const;

/** Destination-unreachable codes (RFC 4443 §3.1). */
export const ICMPv6UnreachableCode = {
  /** No route to destination. */
  NoRoute: 0,
  /** Communication administratively prohibited. */
  AdministrativelyProhibited: 1,
  /** Address unreachable. */
  Address: 3,
  /** Port unreachable. */
  Port: 4,
} as const;

/** Fields every ICMPv6 message has. */
export interface ICMPv6Common {
  /** Type byte. */
  readonly type: number;
  /** Code byte. */
  readonly code: number;
  /** Checksum as found. */
  readonly checksum: number;
}

/** Echo request (128) or reply (129). `data` is a subarray of the parsed bytes. */
export interface ICMPv6Echo extends ICMPv6Common {
  /** Which of the two. */
  readonly kind: "echo-request" | "echo-reply";
  /** Identifier. */
  readonly identifier: number;
  /** Sequence number. */
  readonly sequence: number;
  /** The data, echoed back unchanged. */
  readonly data: Uint8Array;
}

/** An error message (types 1–4) quoting as much of the offending packet as fit. */
export interface ICMPv6Error extends ICMPv6Common {
  /** Which error. */
  readonly kind:
    | "destination-unreachable"
    | "packet-too-big"
    | "time-exceeded"
    | "parameter-problem";
  /** MTU for packet-too-big, pointer for parameter-problem, else the unused field (0). */
  readonly value: number;
  /** The quoted start of the packet that caused it. */
  readonly original: Uint8Array;
}

/** Any other type (neighbour discovery, MLD, …), unparsed past the header. */
export interface ICMPv6Other extends ICMPv6Common {
  /** Not one of the named kinds. */
  readonly kind: "other";
  /** The 4 type-specific header bytes as a 32-bit number. */
  readonly restOfHeader: number;
  /** Everything after the 8-byte header. */
  readonly body: Uint8Array;
}

/** A parsed ICMPv6 message; `kind` tells which. */
export type ICMPv6Message = ICMPv6Echo | ICMPv6Error | ICMPv6Other;

const ERROR_KINDS = [
  "destination-unreachable",
  "packet-too-big",
  "time-exceeded",
  "parameter-problem",
] as const;

/**
 * Parses an ICMPv6 message (an IPv6 packet's upper-layer bytes). Throws a
 * {@link WireError} `truncated`. The checksum needs the addresses; check it
 * with {@link verifyICMPv6Checksum}.
 *
 * @example
 * ```ts
 * if (!verifyICMPv6Checksum(ip.src, ip.dst, ip.payload)) drop();
 * const icmp = parseICMPv6Message(ip.payload);
 * ```
 */
export function parseICMPv6Message(bytes: Uint8Array): ICMPv6Message {
  if (bytes.length < ICMPV6_HEADER_LENGTH) {
    throw new WireError("truncated", `ICMPv6 header needs 8 bytes, have ${bytes.length}`);
  }
  const type = bytes[0];
  const code = bytes[1];
  const checksum = (bytes[2] << 8) | bytes[3];
  const rest = ((bytes[4] << 24) | (bytes[5] << 16) | (bytes[6] << 8) | bytes[7]) >>> 0;
  if (type === ICMPv6Type.EchoRequest || type === ICMPv6Type.EchoReply) {
    return {
      kind: type === ICMPv6Type.EchoRequest ? "echo-request" : "echo-reply",
      type,
      code,
      checksum,
      identifier: rest >>> 16,
      sequence: rest & 0xffff,
      data: bytes.subarray(ICMPV6_HEADER_LENGTH),
    };
  }
  if (type >= ICMPv6Type.DestinationUnreachable && type <= ICMPv6Type.ParameterProblem) {
    return {
      kind: ERROR_KINDS[type - 1],
      type,
      code,
      checksum,
      value: rest,
      original: bytes.subarray(ICMPV6_HEADER_LENGTH),
    };
  }
  return {
    kind: "other",
    type,
    code,
    checksum,
    restOfHeader: rest,
    body: bytes.subarray(ICMPV6_HEADER_LENGTH),
  };
}

/** Whether the checksum of the ICMPv6 `message` verifies for these 16-byte addresses. */
export function verifyICMPv6Checksum(
  src: Uint8Array,
  dst: Uint8Array,
  message: Uint8Array,
): boolean {
  const sum = pseudoHeaderSum(src, dst, IPProtocol.ICMPv6, message.length);
  return checksumFinish(checksumAdd(sum, message)) === 0;
}

/** What {@link emitICMPv6Message} writes: any type, given its raw parts. */
export interface ICMPv6MessageFields {
  /** Type byte. */
  type: number;
  /** Code byte. */
  code: number;
  /** The 4 type-specific header bytes as a 32-bit number (default 0). */
  restOfHeader?: number;
  /**
   * The body, copied after the header. Omit it when the body already sits at
   * `buffer[offset + 8]` and give `bodyLength` instead.
   */
  body?: Uint8Array;
  /** Length of a body already in place (used when `body` is omitted). */
  bodyLength?: number;
}

/**
 * Writes an ICMPv6 message at `buffer[offset]` with its checksum under the
 * pseudo-header for the 16-byte `src`/`dst`, and returns its length. Throws a
 * {@link WireError} `buffer-too-small`.
 */
export function emitICMPv6Message(
  fields: ICMPv6MessageFields,
  buffer: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  offset = 0,
): number {
  if (src.length !== 16 || dst.length !== 16) {
    throw new WireError("bad-field", "ICMPv6 pseudo-header addresses must be 16 bytes");
  }
  const length = ICMP_HEADER_LENGTH + (fields.body?.length ?? fields.bodyLength ?? 0);
  const pseudo = pseudoHeaderSum(src, dst, IPProtocol.ICMPv6, length);
  return emitICMPMessage(fields, buffer, offset, pseudo, "ICMPv6");
}

/** What {@link emitICMPv6Echo} writes. */
export interface ICMPv6EchoFields {
  /** Request (128) or reply (129). */
  kind: "echo-request" | "echo-reply";
  /** Identifier. */
  identifier: number;
  /** Sequence number. */
  sequence: number;
  /** Data (default none). */
  data?: Uint8Array;
}

/**
 * Writes an echo request or reply at `buffer[offset]` and returns its length.
 *
 * @example
 * ```ts
 * const n = emitICMPv6Echo({ kind: "echo-reply", identifier, sequence, data }, buf, ours, peer, 40);
 * ```
 */
export function emitICMPv6Echo(
  fields: ICMPv6EchoFields,
  buffer: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  offset = 0,
): number {
  return emitICMPv6Message(
    {
      type: fields.kind === "echo-request" ? ICMPv6Type.EchoRequest : ICMPv6Type.EchoReply,
      code: 0,
      restOfHeader: ((fields.identifier & 0xffff) << 16 | (fields.sequence & 0xffff)) >>> 0,
      body: fields.data ?? new Uint8Array(0),
    },
    buffer,
    src,
    dst,
    offset,
  );
}

/**
 * Writes a destination-unreachable message quoting `original` (the caller
 * trims it so the whole reply stays within 1280 bytes, RFC 4443 §2.4 (c))
 * and returns its length.
 */
export function emitICMPv6DestinationUnreachable(
  fields: { code: number; original: Uint8Array },
  buffer: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  offset = 0,
): number {
  return emitICMPv6Message(
    { type: ICMPv6Type.DestinationUnreachable, code: fields.code, body: fields.original },
    buffer,
    src,
    dst,
    offset,
  );
}
