/**
 * ICMP for IPv4 (RFC 792): echo request/reply, destination unreachable and
 * time exceeded parsed into typed views (other types kept generic), the
 * checksum over the whole message, and emitting into a caller's buffer.
 *
 * @module
 */
import { internetChecksum } from "./checksum.ts";
import { emitICMPMessage } from "./icmp_message.ts";
import { WireError } from "./wire_error.ts";

/** Length of the ICMP header: type, code, checksum and the 4-byte "rest of header". */
export const ICMPV4_HEADER_LENGTH = 8;

/** ICMPv4 message types this stack names (RFC 792). */
export const ICMPv4Type = {
  /** Echo reply. */
  EchoReply: 0,
  /** Destination unreachable. */
  DestinationUnreachable: 3,
  /** Redirect. */
  Redirect: 5,
  /** Echo request. */
  EchoRequest: 8,
  /** Time exceeded. */
  TimeExceeded: 11,
  /** Parameter problem. */
  ParameterProblem: 12,
} as const;

/** Destination-unreachable codes (RFC 792; 4 from RFC 1191, 9–13 from RFC 1812 §5.2.7.1). */
export const ICMPv4UnreachableCode = {
  /** Net unreachable. */
  Net: 0,
  /** Host unreachable. */
  Host: 1,
  /** Protocol unreachable. */
  Protocol: 2,
  /** Port unreachable. */
  Port: 3,
  /** Fragmentation needed and DF set; the next-hop MTU is given (RFC 1191). */
  FragmentationNeeded: 4,
  /** Communication administratively prohibited. */
  AdministrativelyProhibited: 13,
} as const;

/** Fields every ICMPv4 message has. */
export interface ICMPv4Common {
  /** Type byte. */
  readonly type: number;
  /** Code byte. */
  readonly code: number;
  /** Checksum as found. */
  readonly checksum: number;
}

/** Echo request (type 8) or reply (type 0). `data` is a subarray of the parsed bytes. */
export interface ICMPv4Echo extends ICMPv4Common {
  /** Which of the two. */
  readonly kind: "echo-request" | "echo-reply";
  /** Identifier. */
  readonly identifier: number;
  /** Sequence number. */
  readonly sequence: number;
  /** The data, echoed back unchanged. */
  readonly data: Uint8Array;
}

/** An error message quoting the offending datagram: unreachable (3) or time exceeded (11). */
export interface ICMPv4Error extends ICMPv4Common {
  /** Which error. */
  readonly kind: "destination-unreachable" | "time-exceeded";
  /** Next-hop MTU for "fragmentation needed" (RFC 1191), else 0. */
  readonly nextHopMTU: number;
  /** The quoted IP header and leading payload bytes of the datagram that caused it. */
  readonly original: Uint8Array;
}

/** Any other type, unparsed past the common header. */
export interface ICMPv4Other extends ICMPv4Common {
  /** Not one of the named kinds. */
  readonly kind: "other";
  /** The 4 "rest of header" bytes as a 32-bit number. */
  readonly restOfHeader: number;
  /** Everything after the 8-byte header. */
  readonly body: Uint8Array;
}

/** A parsed ICMPv4 message; `kind` tells which. */
export type ICMPv4Message = ICMPv4Echo | ICMPv4Error | ICMPv4Other;

/** Options for {@link parseICMPv4Message}. */
export interface ICMPv4ParseOptions {
  /** Reject a message whose checksum does not verify (default true). */
  verifyChecksum?: boolean;
}

/**
 * Parses an ICMPv4 message (an IPv4 packet's payload). Throws a
 * {@link WireError}: `truncated` or `bad-checksum`.
 *
 * @example
 * ```ts
 * const icmp = parseICMPv4Message(ip.payload);
 * if (icmp.kind === "echo-request") reply(icmp.identifier, icmp.sequence, icmp.data);
 * ```
 */
export function parseICMPv4Message(
  bytes: Uint8Array,
  options: ICMPv4ParseOptions = {},
): ICMPv4Message {
  if (bytes.length < ICMPV4_HEADER_LENGTH) {
    throw new WireError("truncated", `ICMPv4 header needs 8 bytes, have ${bytes.length}`);
  }
  if (options.verifyChecksum !== false && internetChecksum(bytes) !== 0) {
    throw new WireError("bad-checksum", "ICMPv4 checksum does not verify");
  }
  const type = bytes[0];
  const code = bytes[1];
  const checksum = (bytes[2] << 8) | bytes[3];
  switch (type) {
    case ICMPv4Type.EchoRequest:
    case ICMPv4Type.EchoReply:
      return {
        kind: type === ICMPv4Type.EchoRequest ? "echo-request" : "echo-reply",
        type,
        code,
        checksum,
        identifier: (bytes[4] << 8) | bytes[5],
        sequence: (bytes[6] << 8) | bytes[7],
        data: bytes.subarray(ICMPV4_HEADER_LENGTH),
      };
    case ICMPv4Type.DestinationUnreachable:
    case ICMPv4Type.TimeExceeded:
      return {
        kind: type === ICMPv4Type.TimeExceeded ? "time-exceeded" : "destination-unreachable",
        type,
        code,
        checksum,
        nextHopMTU: type === ICMPv4Type.DestinationUnreachable &&
            code === ICMPv4UnreachableCode.FragmentationNeeded
          ? (bytes[6] << 8) | bytes[7]
          : 0,
        original: bytes.subarray(ICMPV4_HEADER_LENGTH),
      };
    default:
      return {
        kind: "other",
        type,
        code,
        checksum,
        restOfHeader: ((bytes[4] << 24) | (bytes[5] << 16) | (bytes[6] << 8) | bytes[7]) >>> 0,
        body: bytes.subarray(ICMPV4_HEADER_LENGTH),
      };
  }
}

/** What {@link emitICMPv4Message} writes: any type, given its raw parts. */
export interface ICMPv4MessageFields {
  /** Type byte. */
  type: number;
  /** Code byte. */
  code: number;
  /** The 4 "rest of header" bytes as a 32-bit number (default 0). */
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
 * Writes an ICMPv4 message at `buffer[offset]` with its checksum and returns
 * its length. Throws a {@link WireError} `buffer-too-small`.
 */
export function emitICMPv4Message(
  fields: ICMPv4MessageFields,
  buffer: Uint8Array,
  offset = 0,
): number {
  return emitICMPMessage(fields, buffer, offset, 0, "ICMPv4");
}

/** What {@link emitICMPv4Echo} writes. */
export interface ICMPv4EchoFields {
  /** Request (type 8) or reply (type 0). */
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
 * const n = emitICMPv4Echo({ kind: "echo-reply", identifier, sequence, data }, buf, 20);
 * ```
 */
export function emitICMPv4Echo(fields: ICMPv4EchoFields, buffer: Uint8Array, offset = 0): number {
  return emitICMPv4Message(
    {
      type: fields.kind === "echo-request" ? ICMPv4Type.EchoRequest : ICMPv4Type.EchoReply,
      code: 0,
      restOfHeader: ((fields.identifier & 0xffff) << 16 | (fields.sequence & 0xffff)) >>> 0,
      body: fields.data ?? new Uint8Array(0),
    },
    buffer,
    offset,
  );
}

/**
 * Writes a destination-unreachable message quoting `original` (the caller
 * chooses how much: RFC 792 asks for the IP header and 8 bytes of payload)
 * and returns its length. `nextHopMTU` is for code 4 (RFC 1191).
 */
export function emitICMPv4DestinationUnreachable(
  fields: { code: number; original: Uint8Array; nextHopMTU?: number },
  buffer: Uint8Array,
  offset = 0,
): number {
  return emitICMPv4Message(
    {
      type: ICMPv4Type.DestinationUnreachable,
      code: fields.code,
      restOfHeader: (fields.nextHopMTU ?? 0) & 0xffff,
      body: fields.original,
    },
    buffer,
    offset,
  );
}
