/**
 * TSMP, the Tailscale Message Protocol (IP protocol 99; data-plane reference
 * §5, layouts as in `ts: net/packet/tsmp.go`): the message after the IP
 * header, parsed and emitted, plus whole TSMP packets with the IP header
 * Tailscale generates for them (TTL/hop limit 64, no options).
 *
 * @module
 */
import { IPProtocol } from "../../netaddr/ip_protocol.ts";
import { emitIPv4Header, IPV4_MIN_HEADER_LENGTH } from "./ipv4.ts";
import { emitIPv6Header, IPV6_HEADER_LENGTH } from "./ipv6.ts";
import { WireError } from "./wire_error.ts";

/** The type byte that starts every TSMP message. */
export const TSMPType = {
  /** `'!'`: a connection was rejected. */
  RejectedConnection: 0x21,
  /** `'p'`: ping request. */
  Ping: 0x70,
  /** `'o'`: pong reply. */
  Pong: 0x6f,
  /** `'a'`: disco public key advertisement. */
  DiscoKeyAdvertisement: 0x61,
} as const;

/** Why a connection was rejected (the reason byte of a rejection). */
export const TSMPRejectReason = {
  /** `'A'`: the packet filter (ACLs). */
  ACL: 0x41,
  /** `'S'`: shields up. */
  ShieldsUp: 0x53,
  /** `'F'`: IP forwarding disabled on the relaying node. */
  IPForwarding: 0x46,
  /** `'W'`: the target host's firewall. */
  HostFirewall: 0x57,
  /** `'T'`: unknown app-connector transit IP. */
  UnknownAppConnectorTransitIP: 0x54,
} as const;

/** Length of the opaque data a ping carries and its pong echoes. */
export const TSMP_PING_DATA_LENGTH = 8;
/** Length of a disco public key. */
export const TSMP_DISCO_KEY_LENGTH = 32;
/** The rejection flag bit meaning the connection may be broken rather than refused. */
export const TSMP_REJECT_FLAG_MAYBE_BROKEN = 0x01;

/**
 * A rejection: sent from the rejected flow's destination to its source. The
 * ports are the flow's, as the original sender saw them.
 */
export interface TSMPRejected {
  /** Which message. */
  kind: "rejected";
  /** IP protocol of the rejected flow. */
  protocol: number;
  /** Reason byte (`TSMPRejectReason`). */
  reason: number;
  /** The rejected flow's source port (the port of this packet's destination host). */
  srcPort: number;
  /** The rejected flow's destination port (the port of this packet's source host). */
  dstPort: number;
  /** The MaybeBroken flag (an optional eighth byte). */
  maybeBroken: boolean;
}

/** A TSMP ping: answered with a pong carrying the same data. */
export interface TSMPPing {
  /** Which message. */
  kind: "ping";
  /** 8 opaque bytes to echo. */
  data: Uint8Array;
}

/** A TSMP pong. */
export interface TSMPPong {
  /** Which message. */
  kind: "pong";
  /** The 8 bytes from the ping. */
  data: Uint8Array;
  /** The responder's peerAPI port for the pinged address; 0 if none or not sent. */
  peerAPIPort: number;
}

/** A disco public key advertisement (reference §5, capability version 144). */
export interface TSMPDiscoKeyAdvertisement {
  /** Which message. */
  kind: "disco-key";
  /** The sender's 32-byte disco public key (wrap in `DiscoPublicKey` to use it). */
  discoKey: Uint8Array;
}

/** Any TSMP message; `kind` tells which. */
export type TSMPMessage = TSMPRejected | TSMPPing | TSMPPong | TSMPDiscoKeyAdvertisement;

/**
 * Parses a TSMP message (the payload of an IP packet with protocol 99).
 * Byte arrays in the result are subarrays of `bytes`. As Tailscale does,
 * bytes past a message's layout are ignored. Throws a {@link WireError}:
 * `truncated`, or `unsupported` for an unknown type byte.
 *
 * @example
 * ```ts
 * const msg = parseTSMPMessage(ip.payload);
 * if (msg.kind === "ping") sendPong(msg.data);
 * ```
 */
export function parseTSMPMessage(bytes: Uint8Array): TSMPMessage {
  if (bytes.length === 0) throw new WireError("truncated", "empty TSMP message");
  const need = (n: number, what: string) => {
    if (bytes.length < n) {
      throw new WireError("truncated", `TSMP ${what} needs ${n} bytes, have ${bytes.length}`);
    }
  };
  switch (bytes[0]) {
    case TSMPType.RejectedConnection:
      need(7, "rejection");
      return {
        kind: "rejected",
        protocol: bytes[1],
        reason: bytes[2],
        srcPort: (bytes[3] << 8) | bytes[4],
        dstPort: (bytes[5] << 8) | bytes[6],
        maybeBroken: bytes.length > 7 && (bytes[7] & TSMP_REJECT_FLAG_MAYBE_BROKEN) !== 0,
      };
    case TSMPType.Ping:
      need(1 + TSMP_PING_DATA_LENGTH, "ping");
      return { kind: "ping", data: bytes.subarray(1, 9) };
    case TSMPType.Pong:
      need(1 + TSMP_PING_DATA_LENGTH, "pong");
      return {
        kind: "pong",
        data: bytes.subarray(1, 9),
        peerAPIPort: bytes.length >= 11 ? (bytes[9] << 8) | bytes[10] : 0,
      };
    case TSMPType.DiscoKeyAdvertisement:
      need(1 + TSMP_DISCO_KEY_LENGTH, "disco key advertisement");
      return { kind: "disco-key", discoKey: bytes.subarray(1, 33) };
    default:
      throw new WireError("unsupported", `TSMP type 0x${bytes[0].toString(16)}`);
  }
}

/** Bytes {@link emitTSMPMessage} writes for `message`. */
export function tsmpMessageLength(message: TSMPMessage): number {
  switch (message.kind) {
    case "rejected":
      return message.maybeBroken ? 8 : 7;
    case "ping":
      return 9;
    case "pong":
      return 11;
    case "disco-key":
      return 33;
  }
}

/**
 * Writes a TSMP message at `buffer[offset]` and returns its length. A pong
 * always carries the peerAPI port (11 bytes, as Tailscale sends it); a
 * rejection carries the flags byte only when a flag is set. Throws a
 * {@link WireError} (`buffer-too-small`, `bad-field`).
 */
export function emitTSMPMessage(message: TSMPMessage, buffer: Uint8Array, offset = 0): number {
  const length = tsmpMessageLength(message);
  if (buffer.length - offset < length) {
    throw new WireError("buffer-too-small", `TSMP message needs ${length} bytes`);
  }
  const m = buffer.subarray(offset, offset + length);
  switch (message.kind) {
    case "rejected":
      m[0] = TSMPType.RejectedConnection;
      m[1] = message.protocol & 0xff;
      m[2] = message.reason & 0xff;
      m[3] = (message.srcPort >> 8) & 0xff;
      m[4] = message.srcPort & 0xff;
      m[5] = (message.dstPort >> 8) & 0xff;
      m[6] = message.dstPort & 0xff;
      if (message.maybeBroken) m[7] = TSMP_REJECT_FLAG_MAYBE_BROKEN;
      break;
    case "ping":
    case "pong":
      if (message.data.length !== TSMP_PING_DATA_LENGTH) {
        throw new WireError("bad-field", `TSMP ${message.kind} data must be 8 bytes`);
      }
      m[0] = message.kind === "ping" ? TSMPType.Ping : TSMPType.Pong;
      m.set(message.data, 1);
      if (message.kind === "pong") {
        m[9] = (message.peerAPIPort >> 8) & 0xff;
        m[10] = message.peerAPIPort & 0xff;
      }
      break;
    case "disco-key":
      if (message.discoKey.length !== TSMP_DISCO_KEY_LENGTH) {
        throw new WireError("bad-field", "TSMP disco key must be 32 bytes");
      }
      m[0] = TSMPType.DiscoKeyAdvertisement;
      m.set(message.discoKey, 1);
      break;
  }
  return length;
}

/** Addressing for {@link emitTSMPPacket}. */
export interface TSMPPacketAddressing {
  /** Source address: 4 bytes gives an IPv4 packet, 16 an IPv6 one. */
  src: Uint8Array;
  /** Destination address, same family. */
  dst: Uint8Array;
  /** IPv4 identification; for IPv6 its low 20 bits become the flow label (default 0). */
  identification?: number;
}

/**
 * Writes a whole TSMP packet (IP header as Tailscale generates it, then the
 * message) at `buffer[offset]` and returns its length.
 *
 * @example
 * ```ts
 * // Answer a ping: swap the addresses, echo the data.
 * const n = emitTSMPPacket(
 *   { kind: "pong", data: ping.data, peerAPIPort: 0 },
 *   { src: ip.dst, dst: ip.src },
 *   buf,
 * );
 * ```
 */
export function emitTSMPPacket(
  message: TSMPMessage,
  addressing: TSMPPacketAddressing,
  buffer: Uint8Array,
  offset = 0,
): number {
  const payloadLength = tsmpMessageLength(message);
  const id = addressing.identification ?? 0;
  let headerLength: number;
  if (addressing.src.length === 4) {
    if (buffer.length - offset < IPV4_MIN_HEADER_LENGTH + payloadLength) {
      throw new WireError("buffer-too-small", "TSMP packet does not fit");
    }
    headerLength = emitIPv4Header(
      {
        src: addressing.src,
        dst: addressing.dst,
        protocol: IPProtocol.TSMP,
        payloadLength,
        identification: id,
      },
      buffer,
      offset,
    );
  } else {
    if (buffer.length - offset < IPV6_HEADER_LENGTH + payloadLength) {
      throw new WireError("buffer-too-small", "TSMP packet does not fit");
    }
    headerLength = emitIPv6Header(
      {
        src: addressing.src,
        dst: addressing.dst,
        nextHeader: IPProtocol.TSMP,
        payloadLength,
        flowLabel: id & 0xfffff,
      },
      buffer,
      offset,
    );
  }
  return headerLength + emitTSMPMessage(message, buffer, offset + headerLength);
}
