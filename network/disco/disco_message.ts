/**
 * The plaintext inside a disco box (data-plane reference §2.5): one byte of
 * message type, one byte of version (0), then the type's body. Receivers
 * ignore bytes past the body, so that newer senders can extend messages; the
 * parse rules here (what is "short", what parses as empty) are Tailscale's,
 * checked against vectors from `tailscale.com/disco` v1.102.5.
 *
 * Everything multi-byte is big-endian; IP addresses travel as 16 bytes with
 * IPv4 in IPv4-mapped form and come back unmapped.
 *
 * @module
 */

import { DiscoPublicKey, NodePublicKey } from "../crypto/keys.ts";
import { AddrPort } from "../netaddr/addr_port.ts";
import { ipAddressAs16, unmapIPAddress } from "../netaddr/ip_address.ts";

/** Disco message type bytes (reference §2.5 table; `ts: disco/disco.go`). */
export const DiscoMessageType = {
  /** Path probe, answered by a Pong. */
  Ping: 0x01,
  /** Answer to a Ping, carrying the source address the Ping came from. */
  Pong: 0x02,
  /** "Ping me back": the sender's endpoints, sent over DERP only. */
  CallMeMaybe: 0x03,
  /** Peer relay: first message of the bind handshake, client to relay. */
  BindUDPRelayEndpoint: 0x04,
  /** Peer relay: the relay's challenge. */
  BindUDPRelayEndpointChallenge: 0x05,
  /** Peer relay: the client's answer to the challenge. */
  BindUDPRelayEndpointAnswer: 0x06,
  /** Peer relay: a CallMeMaybe for a relayed path. */
  CallMeMaybeVia: 0x07,
  /** Peer relay: asks a relay server for an endpoint. */
  AllocateUDPRelayEndpointRequest: 0x08,
  /** Peer relay: the relay server's allocated endpoint. */
  AllocateUDPRelayEndpointResponse: 0x09,
} as const;

/** Length of a Ping/Pong transaction id (a STUN-style TxID). */
export const DISCO_TX_ID_LENGTH = 12;
/** Length of the type and version bytes before every body. */
export const DISCO_MESSAGE_HEADER_LENGTH = 2;
/** Length of a Ping body without padding: TxID and node key (Go's `PingLen`). */
export const DISCO_PING_LENGTH: number = DISCO_TX_ID_LENGTH + 32;
/** Length of a Pong body: TxID, 16-byte IP and port. */
export const DISCO_PONG_LENGTH: number = DISCO_TX_ID_LENGTH + 16 + 2;
/** Length of one endpoint on the wire: 16-byte IP and 2-byte port. */
export const DISCO_ENDPOINT_LENGTH = 18;
/** Length of the Challenge of the relay bind handshake. */
export const BIND_UDP_RELAY_CHALLENGE_LENGTH = 32;

const KEY_LENGTH = 32;
const BIND_COMMON_LENGTH = 4 + 4 + KEY_LENGTH + BIND_UDP_RELAY_CHALLENGE_LENGTH; // 72
const RELAY_ENDPOINT_FIXED_LENGTH = KEY_LENGTH * 3 + 8 + 4 + 8 + 8; // 124
const ALLOCATE_REQUEST_LENGTH = KEY_LENGTH * 2 + 4; // 68

/** A disco Ping: probes a path; the receiver answers with a Pong. */
export interface PingMessage {
  /** Discriminant. */
  readonly type: "ping";
  /** 12 random bytes, echoed in the Pong. */
  readonly txId: Uint8Array;
  /**
   * The sender's node (WireGuard) key, which ties the ping to one node; null
   * when absent (clients up to 1.16 send none).
   */
  readonly nodeKey: NodePublicKey | null;
  /** Zero bytes after the body, for path-MTU probes. */
  readonly padding: number;
}

/** A disco Pong: the answer to a Ping. */
export interface PongMessage {
  /** Discriminant. */
  readonly type: "pong";
  /** The Ping's TxID. */
  readonly txId: Uint8Array;
  /** The source address the Ping was seen from (`127.3.3.40:<region>` over DERP). */
  readonly src: AddrPort;
}

/** A CallMeMaybe: the sender's endpoints, asking to be pinged on them. */
export interface CallMeMaybeMessage {
  /** Discriminant. */
  readonly type: "call-me-maybe";
  /** The sender's UDP endpoints; empty when the body was malformed. */
  readonly endpoints: readonly AddrPort[];
}

/** The 72-byte body shared by the three relay bind-handshake messages. */
export interface BindUDPRelayEndpointBody {
  /** Geneve VNI of the relayed path. */
  readonly vni: number;
  /** Handshake generation (u32). */
  readonly generation: number;
  /** Disco key of the other participant. */
  readonly remoteKey: DiscoPublicKey;
  /** 32 bytes: the relay's challenge (padding in the first message). */
  readonly challenge: Uint8Array;
}

/** Peer relay: bind request (client → relay). */
export interface BindUDPRelayEndpointMessage extends BindUDPRelayEndpointBody {
  /** Discriminant. */
  readonly type: "bind-udp-relay-endpoint";
}

/** Peer relay: bind challenge (relay → client). */
export interface BindUDPRelayEndpointChallengeMessage extends BindUDPRelayEndpointBody {
  /** Discriminant. */
  readonly type: "bind-udp-relay-endpoint-challenge";
}

/** Peer relay: bind answer (client → relay). */
export interface BindUDPRelayEndpointAnswerMessage extends BindUDPRelayEndpointBody {
  /** Discriminant. */
  readonly type: "bind-udp-relay-endpoint-answer";
}

/** A relay server's endpoint, carried by CallMeMaybeVia and the allocate response. */
export interface UDPRelayEndpointBody {
  /** The relay server's disco key. */
  readonly serverDisco: DiscoPublicKey;
  /** The two clients allowed to bind. */
  readonly clientDisco: readonly [DiscoPublicKey, DiscoPublicKey];
  /** Lamport clock value (u64). */
  readonly lamportId: bigint;
  /** Geneve VNI (u32). */
  readonly vni: number;
  /** How long the bind handshake may take, in nanoseconds (u64). */
  readonly bindLifetimeNs: bigint;
  /** How long the endpoint lives without traffic, in nanoseconds (u64). */
  readonly steadyStateLifetimeNs: bigint;
  /** The relay server's UDP endpoints. */
  readonly addrPorts: readonly AddrPort[];
}

/** Peer relay: CallMeMaybe for a relayed path (DERP only). */
export interface CallMeMaybeViaMessage extends UDPRelayEndpointBody {
  /** Discriminant. */
  readonly type: "call-me-maybe-via";
}

/** Peer relay: endpoint allocation request (DERP only). */
export interface AllocateUDPRelayEndpointRequestMessage {
  /** Discriminant. */
  readonly type: "allocate-udp-relay-endpoint-request";
  /** The two clients that may bind. */
  readonly clientDisco: readonly [DiscoPublicKey, DiscoPublicKey];
  /** Request generation (u32), echoed in the response. */
  readonly generation: number;
}

/** Peer relay: endpoint allocation response (DERP only). */
export interface AllocateUDPRelayEndpointResponseMessage extends UDPRelayEndpointBody {
  /** Discriminant. */
  readonly type: "allocate-udp-relay-endpoint-response";
  /** The request's generation. */
  readonly generation: number;
}

/** Any disco message. Types 4–9 belong to the optional peer-relay feature (§2.11). */
export type DiscoMessage =
  | PingMessage
  | PongMessage
  | CallMeMaybeMessage
  | BindUDPRelayEndpointMessage
  | BindUDPRelayEndpointChallengeMessage
  | BindUDPRelayEndpointAnswerMessage
  | CallMeMaybeViaMessage
  | AllocateUDPRelayEndpointRequestMessage
  | AllocateUDPRelayEndpointResponseMessage;

/** Raised for a payload that is not a disco message, or a message that cannot be encoded. */
export class DiscoMessageError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "DiscoMessageError";
  }
}

/** Whether a message belongs to the peer-relay feature, which Citadel does not run (§2.11). */
export function isPeerRelayMessage(message: DiscoMessage): boolean {
  return message.type !== "ping" && message.type !== "pong" && message.type !== "call-me-maybe";
}

function short(): DiscoMessageError {
  return new DiscoMessageError("short message");
}

function readEndpoint(view: Uint8Array, offset: number): AddrPort {
  const ip = unmapIPAddress(view.slice(offset, offset + 16));
  return new AddrPort(ip, (view[offset + 16] << 8) | view[offset + 17]);
}

function writeEndpoint(out: Uint8Array, offset: number, endpoint: AddrPort): void {
  out.set(ipAddressAs16(endpoint.ip), offset);
  out[offset + 16] = endpoint.port >> 8;
  out[offset + 17] = endpoint.port & 0xff;
}

function readEndpoints(body: Uint8Array, offset: number): AddrPort[] {
  const out: AddrPort[] = [];
  for (let at = offset; at < body.length; at += DISCO_ENDPOINT_LENGTH) {
    out.push(readEndpoint(body, at));
  }
  return out;
}

function readBindCommon(body: Uint8Array): BindUDPRelayEndpointBody {
  if (body.length < BIND_COMMON_LENGTH) throw short();
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return {
    vni: view.getUint32(0),
    generation: view.getUint32(4),
    remoteKey: new DiscoPublicKey(body.subarray(8, 40)),
    challenge: body.slice(40, 72),
  };
}

function zeroKey(): DiscoPublicKey {
  return DiscoPublicKey.zero();
}

function emptyRelayEndpoint(): UDPRelayEndpointBody {
  return {
    serverDisco: zeroKey(),
    clientDisco: [zeroKey(), zeroKey()],
    lamportId: 0n,
    vni: 0,
    bindLifetimeNs: 0n,
    steadyStateLifetimeNs: 0n,
    addrPorts: [],
  };
}

// Go's UDPRelayEndpoint.decode: at least one endpoint, and whole endpoints only.
function readRelayEndpoint(body: Uint8Array): UDPRelayEndpointBody {
  const rest = body.length - RELAY_ENDPOINT_FIXED_LENGTH;
  if (rest < DISCO_ENDPOINT_LENGTH || rest % DISCO_ENDPOINT_LENGTH !== 0) throw short();
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return {
    serverDisco: new DiscoPublicKey(body.subarray(0, 32)),
    clientDisco: [
      new DiscoPublicKey(body.subarray(32, 64)),
      new DiscoPublicKey(body.subarray(64, 96)),
    ],
    lamportId: view.getBigUint64(96),
    vni: view.getUint32(104),
    bindLifetimeNs: view.getBigUint64(108),
    steadyStateLifetimeNs: view.getBigUint64(116),
    addrPorts: readEndpoints(body, RELAY_ENDPOINT_FIXED_LENGTH),
  };
}

/**
 * Parses a decrypted disco payload. Throws {@link DiscoMessageError} ("short
 * message", "unknown message type 0x..") exactly where Go's `disco.Parse`
 * returns an error; a malformed CallMeMaybe, and relay messages of a version
 * other than 0, parse as empty messages, as in Go. Never throws anything else.
 *
 * @example
 * ```ts
 * const msg = parseDiscoMessage(payload);
 * if (msg.type === "ping") reply(msg.txId);
 * ```
 */
export function parseDiscoMessage(payload: Uint8Array): DiscoMessage {
  if (!(payload instanceof Uint8Array) || payload.length < DISCO_MESSAGE_HEADER_LENGTH) {
    throw short();
  }
  const type = payload[0];
  const version = payload[1];
  const body = payload.subarray(DISCO_MESSAGE_HEADER_LENGTH);
  switch (type) {
    case DiscoMessageType.Ping: {
      if (body.length < DISCO_TX_ID_LENGTH) throw short();
      const hasKey = body.length >= DISCO_PING_LENGTH;
      return {
        type: "ping",
        txId: body.slice(0, DISCO_TX_ID_LENGTH),
        nodeKey: hasKey
          ? new NodePublicKey(body.subarray(DISCO_TX_ID_LENGTH, DISCO_PING_LENGTH))
          : null,
        padding: body.length - (hasKey ? DISCO_PING_LENGTH : DISCO_TX_ID_LENGTH),
      };
    }
    case DiscoMessageType.Pong:
      if (body.length < DISCO_PONG_LENGTH) throw short();
      return {
        type: "pong",
        txId: body.slice(0, DISCO_TX_ID_LENGTH),
        src: readEndpoint(body, DISCO_TX_ID_LENGTH),
      };
    case DiscoMessageType.CallMeMaybe: {
      const valid = version === 0 && body.length > 0 && body.length % DISCO_ENDPOINT_LENGTH === 0;
      return { type: "call-me-maybe", endpoints: valid ? readEndpoints(body, 0) : [] };
    }
    case DiscoMessageType.BindUDPRelayEndpoint:
      return { type: "bind-udp-relay-endpoint", ...readBindCommon(body) };
    case DiscoMessageType.BindUDPRelayEndpointChallenge:
      return { type: "bind-udp-relay-endpoint-challenge", ...readBindCommon(body) };
    case DiscoMessageType.BindUDPRelayEndpointAnswer:
      return { type: "bind-udp-relay-endpoint-answer", ...readBindCommon(body) };
    case DiscoMessageType.CallMeMaybeVia:
      if (version !== 0) return { type: "call-me-maybe-via", ...emptyRelayEndpoint() };
      return { type: "call-me-maybe-via", ...readRelayEndpoint(body) };
    case DiscoMessageType.AllocateUDPRelayEndpointRequest: {
      if (version !== 0) {
        return {
          type: "allocate-udp-relay-endpoint-request",
          clientDisco: [zeroKey(), zeroKey()],
          generation: 0,
        };
      }
      if (body.length < ALLOCATE_REQUEST_LENGTH) throw short();
      return {
        type: "allocate-udp-relay-endpoint-request",
        clientDisco: [
          new DiscoPublicKey(body.subarray(0, 32)),
          new DiscoPublicKey(body.subarray(32, 64)),
        ],
        generation: new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(64),
      };
    }
    case DiscoMessageType.AllocateUDPRelayEndpointResponse: {
      if (version !== 0) {
        return {
          type: "allocate-udp-relay-endpoint-response",
          generation: 0,
          ...emptyRelayEndpoint(),
        };
      }
      if (body.length < 4) throw short();
      const generation = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0);
      return {
        type: "allocate-udp-relay-endpoint-response",
        generation,
        ...readRelayEndpoint(body.subarray(4)),
      };
    }
    default:
      throw new DiscoMessageError(`unknown message type 0x${type.toString(16).padStart(2, "0")}`);
  }
}

function checkTxId(txId: Uint8Array): void {
  if (!(txId instanceof Uint8Array) || txId.length !== DISCO_TX_ID_LENGTH) {
    throw new DiscoMessageError(`a TxID is ${DISCO_TX_ID_LENGTH} bytes`);
  }
}

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new DiscoMessageError(`${what} must be a u32`);
  }
}

function checkU64(value: bigint, what: string): void {
  if (typeof value !== "bigint" || value < 0n || value > 0xffffffffffffffffn) {
    throw new DiscoMessageError(`${what} must be a u64`);
  }
}

function header(type: number, bodyLength: number): Uint8Array {
  const out = new Uint8Array(DISCO_MESSAGE_HEADER_LENGTH + bodyLength);
  out[0] = type;
  return out;
}

function writeBindCommon(type: number, m: BindUDPRelayEndpointBody): Uint8Array {
  checkU32(m.vni, "VNI");
  checkU32(m.generation, "generation");
  if (
    !(m.challenge instanceof Uint8Array) || m.challenge.length !== BIND_UDP_RELAY_CHALLENGE_LENGTH
  ) {
    throw new DiscoMessageError(`a challenge is ${BIND_UDP_RELAY_CHALLENGE_LENGTH} bytes`);
  }
  const out = header(type, BIND_COMMON_LENGTH);
  const view = new DataView(out.buffer);
  view.setUint32(2, m.vni);
  view.setUint32(6, m.generation);
  out.set(m.remoteKey.bytes, 10);
  out.set(m.challenge, 42);
  return out;
}

function writeRelayEndpoint(out: Uint8Array, offset: number, m: UDPRelayEndpointBody): void {
  checkU64(m.lamportId, "LamportID");
  checkU32(m.vni, "VNI");
  checkU64(m.bindLifetimeNs, "BindLifetime");
  checkU64(m.steadyStateLifetimeNs, "SteadyStateLifetime");
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out.set(m.serverDisco.bytes, offset);
  out.set(m.clientDisco[0].bytes, offset + 32);
  out.set(m.clientDisco[1].bytes, offset + 64);
  view.setBigUint64(offset + 96, m.lamportId);
  view.setUint32(offset + 104, m.vni);
  view.setBigUint64(offset + 108, m.bindLifetimeNs);
  view.setBigUint64(offset + 116, m.steadyStateLifetimeNs);
  m.addrPorts.forEach((ep, i) =>
    writeEndpoint(out, offset + RELAY_ENDPOINT_FIXED_LENGTH + i * DISCO_ENDPOINT_LENGTH, ep)
  );
}

/**
 * Encodes a message as the plaintext of a disco box, byte for byte as Go's
 * `AppendMarshal` (a Ping whose node key is null or all zero omits the key).
 * Throws {@link DiscoMessageError} for fields out of range.
 */
export function marshalDiscoMessage(message: DiscoMessage): Uint8Array {
  switch (message.type) {
    case "ping": {
      checkTxId(message.txId);
      const padding = message.padding;
      if (!Number.isInteger(padding) || padding < 0 || padding > 65535) {
        throw new DiscoMessageError("ping padding must be 0–65535 bytes");
      }
      const hasKey = message.nodeKey !== null && !message.nodeKey.isZero();
      const out = header(
        DiscoMessageType.Ping,
        (hasKey ? DISCO_PING_LENGTH : DISCO_TX_ID_LENGTH) + padding,
      );
      out.set(message.txId, 2);
      if (hasKey) out.set(message.nodeKey!.bytes, 2 + DISCO_TX_ID_LENGTH);
      return out;
    }
    case "pong": {
      checkTxId(message.txId);
      const out = header(DiscoMessageType.Pong, DISCO_PONG_LENGTH);
      out.set(message.txId, 2);
      writeEndpoint(out, 2 + DISCO_TX_ID_LENGTH, message.src);
      return out;
    }
    case "call-me-maybe": {
      const out = header(
        DiscoMessageType.CallMeMaybe,
        DISCO_ENDPOINT_LENGTH * message.endpoints.length,
      );
      message.endpoints.forEach((ep, i) => writeEndpoint(out, 2 + i * DISCO_ENDPOINT_LENGTH, ep));
      return out;
    }
    case "bind-udp-relay-endpoint":
      return writeBindCommon(DiscoMessageType.BindUDPRelayEndpoint, message);
    case "bind-udp-relay-endpoint-challenge":
      return writeBindCommon(DiscoMessageType.BindUDPRelayEndpointChallenge, message);
    case "bind-udp-relay-endpoint-answer":
      return writeBindCommon(DiscoMessageType.BindUDPRelayEndpointAnswer, message);
    case "call-me-maybe-via": {
      const out = header(
        DiscoMessageType.CallMeMaybeVia,
        RELAY_ENDPOINT_FIXED_LENGTH + DISCO_ENDPOINT_LENGTH * message.addrPorts.length,
      );
      writeRelayEndpoint(out, 2, message);
      return out;
    }
    case "allocate-udp-relay-endpoint-request": {
      checkU32(message.generation, "generation");
      const out = header(DiscoMessageType.AllocateUDPRelayEndpointRequest, ALLOCATE_REQUEST_LENGTH);
      out.set(message.clientDisco[0].bytes, 2);
      out.set(message.clientDisco[1].bytes, 34);
      new DataView(out.buffer).setUint32(66, message.generation);
      return out;
    }
    case "allocate-udp-relay-endpoint-response": {
      checkU32(message.generation, "generation");
      const out = header(
        DiscoMessageType.AllocateUDPRelayEndpointResponse,
        4 + RELAY_ENDPOINT_FIXED_LENGTH + DISCO_ENDPOINT_LENGTH * message.addrPorts.length,
      );
      new DataView(out.buffer).setUint32(2, message.generation);
      writeRelayEndpoint(out, 6, message);
      return out;
    }
    default:
      throw new DiscoMessageError(`unknown message type ${(message as { type: unknown }).type}`);
  }
}

/** A short description for logs (`ping tx=a0a1a2a3a4a5 padding=0`), no keys. */
export function discoMessageSummary(message: DiscoMessage): string {
  const tx = (id: Uint8Array) =>
    Array.from(id.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
  switch (message.type) {
    case "ping":
      return `ping tx=${tx(message.txId)} padding=${message.padding}`;
    case "pong":
      return `pong tx=${tx(message.txId)}`;
    default:
      return message.type;
  }
}
