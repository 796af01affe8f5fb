/**
 * The four WireGuard messages (whitepaper §5.4.2, §5.4.3, §5.4.6, §5.4.7) as
 * typed views over the datagram's bytes. Parsing copies nothing: every byte
 * field is a `subarray` of the input, so a caller that keeps a parsed message
 * past the datagram's lifetime must copy what it keeps. All integers are
 * little-endian; the type is one byte followed by three zero bytes, read as a
 * u32.
 */
import {
  AEAD_TAG_SIZE,
  COOKIE_SIZE,
  MAC_SIZE,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_COOKIE_REPLY_TYPE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_KEEPALIVE_SIZE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_TYPE,
  TAI64N_SIZE,
} from "./constants.ts";

/** Length of a Curve25519 public key as carried in handshakes. */
export const KEY_SIZE = 32;

/** Offset of MAC1 in a handshake initiation: everything before it is MAC1's input. */
export const INITIATION_MAC1_OFFSET = 116;
/** Offset of MAC2 in a handshake initiation: everything before it is MAC2's input. */
export const INITIATION_MAC2_OFFSET: number = INITIATION_MAC1_OFFSET + MAC_SIZE;
/** Offset of MAC1 in a handshake response. */
export const RESPONSE_MAC1_OFFSET = 60;
/** Offset of MAC2 in a handshake response. */
export const RESPONSE_MAC2_OFFSET: number = RESPONSE_MAC1_OFFSET + MAC_SIZE;
/** Length of the XChaCha20 nonce of a cookie reply. */
export const COOKIE_NONCE_SIZE = 24;

/** Thrown when bytes are not a well-formed WireGuard message of the expected kind. */
export class WireGuardMessageError extends Error {
  /** Builds the error; the message describes the defect, never the bytes. */
  constructor(message: string) {
    super(message);
    this.name = "WireGuardMessageError";
  }
}

/** A handshake initiation, type 1, 148 bytes (whitepaper §5.4.2). */
export interface InitiationMessage {
  /** The initiator's index for this handshake. */
  senderIndex: number;
  /** The initiator's ephemeral public key, 32 bytes. */
  ephemeral: Uint8Array;
  /** The initiator's static public key, sealed: 32 + 16 bytes. */
  encryptedStatic: Uint8Array;
  /** The TAI64N timestamp, sealed: 12 + 16 bytes. */
  encryptedTimestamp: Uint8Array;
  /** MAC1, 16 bytes. */
  mac1: Uint8Array;
  /** MAC2, 16 bytes (zeros when the initiator holds no cookie). */
  mac2: Uint8Array;
}

/** A handshake response, type 2, 92 bytes (whitepaper §5.4.3). */
export interface ResponseMessage {
  /** The responder's index for this session. */
  senderIndex: number;
  /** The initiator's index, copied from the initiation. */
  receiverIndex: number;
  /** The responder's ephemeral public key, 32 bytes. */
  ephemeral: Uint8Array;
  /** The sealed empty payload: a 16-byte tag. */
  encryptedNothing: Uint8Array;
  /** MAC1, 16 bytes. */
  mac1: Uint8Array;
  /** MAC2, 16 bytes. */
  mac2: Uint8Array;
}

/** A cookie reply, type 3, 64 bytes (whitepaper §5.4.7). */
export interface CookieReplyMessage {
  /** The sender index of the handshake message this answers. */
  receiverIndex: number;
  /** The XChaCha20-Poly1305 nonce, 24 bytes. */
  nonce: Uint8Array;
  /** The sealed cookie: 16 + 16 bytes. */
  encryptedCookie: Uint8Array;
}

/** A transport data message, type 4, at least 32 bytes (whitepaper §5.4.6). */
export interface TransportMessage {
  /** The receiver's index of the keypair that sealed the payload. */
  receiverIndex: number;
  /**
   * The counter (nonce), exact below 2^53. Larger counters lose low bits
   * here; {@link counterRejected} is computed from the exact 64 bits.
   */
  counter: number;
  /** Whether the counter is at or above REJECT_AFTER_MESSAGES (whitepaper §6.1). */
  counterRejected: boolean;
  /** Ciphertext and tag: the padded plaintext's length + 16 bytes. */
  sealed: Uint8Array;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The little-endian u32 at `offset` (which the caller has checked is in
 * range): for the per-datagram reads, where a DataView would be an
 * allocation per packet.
 */
export function readUint32LE(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) |
    (bytes[offset + 3] << 24)) >>> 0;
}

/**
 * The message type of a datagram (1 to 4), or 0 when it is shorter than 4
 * bytes or its first four bytes are not a known WireGuard type.
 */
export function messageType(datagram: Uint8Array): number {
  if (datagram.length < 4) return 0;
  const type = readUint32LE(datagram, 0);
  return type >= MESSAGE_INITIATION_TYPE && type <= MESSAGE_TRANSPORT_TYPE ? type : 0;
}

function expect(bytes: Uint8Array, type: number, size: number, what: string): DataView {
  if (!(bytes instanceof Uint8Array)) throw new WireGuardMessageError(`${what}: not bytes`);
  if (bytes.length !== size) {
    throw new WireGuardMessageError(`${what}: ${bytes.length} bytes, expected ${size}`);
  }
  const v = view(bytes);
  if (v.getUint32(0, true) !== type) throw new WireGuardMessageError(`${what}: wrong message type`);
  return v;
}

function field(bytes: Uint8Array, offset: number, length: number): Uint8Array {
  return bytes.subarray(offset, offset + length);
}

function checkField(value: Uint8Array, length: number, what: string): void {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new WireGuardMessageError(`${what} must be ${length} bytes`);
  }
}

function checkIndex(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new WireGuardMessageError(`${what} must be a u32`);
  }
}

function output(out: Uint8Array | undefined, size: number, what: string): Uint8Array {
  if (out === undefined) return new Uint8Array(size);
  if (out.length !== size) throw new WireGuardMessageError(`${what}: output must be ${size} bytes`);
  return out;
}

/** Parses a handshake initiation; throws {@link WireGuardMessageError}. */
export function parseInitiation(bytes: Uint8Array): InitiationMessage {
  const v = expect(bytes, MESSAGE_INITIATION_TYPE, MESSAGE_INITIATION_SIZE, "initiation");
  return {
    senderIndex: v.getUint32(4, true),
    ephemeral: field(bytes, 8, KEY_SIZE),
    encryptedStatic: field(bytes, 40, KEY_SIZE + AEAD_TAG_SIZE),
    encryptedTimestamp: field(bytes, 88, TAI64N_SIZE + AEAD_TAG_SIZE),
    mac1: field(bytes, INITIATION_MAC1_OFFSET, MAC_SIZE),
    mac2: field(bytes, INITIATION_MAC2_OFFSET, MAC_SIZE),
  };
}

/**
 * Serializes a handshake initiation into `out` (148 bytes, made when absent)
 * and returns it. Throws {@link WireGuardMessageError} for a field of the
 * wrong length.
 */
export function serializeInitiation(message: InitiationMessage, out?: Uint8Array): Uint8Array {
  checkIndex(message.senderIndex, "sender index");
  checkField(message.ephemeral, KEY_SIZE, "ephemeral");
  checkField(message.encryptedStatic, KEY_SIZE + AEAD_TAG_SIZE, "encrypted static");
  checkField(message.encryptedTimestamp, TAI64N_SIZE + AEAD_TAG_SIZE, "encrypted timestamp");
  checkField(message.mac1, MAC_SIZE, "mac1");
  checkField(message.mac2, MAC_SIZE, "mac2");
  const bytes = output(out, MESSAGE_INITIATION_SIZE, "initiation");
  const v = view(bytes);
  v.setUint32(0, MESSAGE_INITIATION_TYPE, true);
  v.setUint32(4, message.senderIndex, true);
  bytes.set(message.ephemeral, 8);
  bytes.set(message.encryptedStatic, 40);
  bytes.set(message.encryptedTimestamp, 88);
  bytes.set(message.mac1, INITIATION_MAC1_OFFSET);
  bytes.set(message.mac2, INITIATION_MAC2_OFFSET);
  return bytes;
}

/** Parses a handshake response; throws {@link WireGuardMessageError}. */
export function parseResponse(bytes: Uint8Array): ResponseMessage {
  const v = expect(bytes, MESSAGE_RESPONSE_TYPE, MESSAGE_RESPONSE_SIZE, "response");
  return {
    senderIndex: v.getUint32(4, true),
    receiverIndex: v.getUint32(8, true),
    ephemeral: field(bytes, 12, KEY_SIZE),
    encryptedNothing: field(bytes, 44, AEAD_TAG_SIZE),
    mac1: field(bytes, RESPONSE_MAC1_OFFSET, MAC_SIZE),
    mac2: field(bytes, RESPONSE_MAC2_OFFSET, MAC_SIZE),
  };
}

/** Serializes a handshake response into `out` (92 bytes, made when absent) and returns it. */
export function serializeResponse(message: ResponseMessage, out?: Uint8Array): Uint8Array {
  checkIndex(message.senderIndex, "sender index");
  checkIndex(message.receiverIndex, "receiver index");
  checkField(message.ephemeral, KEY_SIZE, "ephemeral");
  checkField(message.encryptedNothing, AEAD_TAG_SIZE, "encrypted nothing");
  checkField(message.mac1, MAC_SIZE, "mac1");
  checkField(message.mac2, MAC_SIZE, "mac2");
  const bytes = output(out, MESSAGE_RESPONSE_SIZE, "response");
  const v = view(bytes);
  v.setUint32(0, MESSAGE_RESPONSE_TYPE, true);
  v.setUint32(4, message.senderIndex, true);
  v.setUint32(8, message.receiverIndex, true);
  bytes.set(message.ephemeral, 12);
  bytes.set(message.encryptedNothing, 44);
  bytes.set(message.mac1, RESPONSE_MAC1_OFFSET);
  bytes.set(message.mac2, RESPONSE_MAC2_OFFSET);
  return bytes;
}

/** Parses a cookie reply; throws {@link WireGuardMessageError}. */
export function parseCookieReply(bytes: Uint8Array): CookieReplyMessage {
  const v = expect(bytes, MESSAGE_COOKIE_REPLY_TYPE, MESSAGE_COOKIE_REPLY_SIZE, "cookie reply");
  return {
    receiverIndex: v.getUint32(4, true),
    nonce: field(bytes, 8, COOKIE_NONCE_SIZE),
    encryptedCookie: field(bytes, 32, COOKIE_SIZE + AEAD_TAG_SIZE),
  };
}

/** Serializes a cookie reply into `out` (64 bytes, made when absent) and returns it. */
export function serializeCookieReply(message: CookieReplyMessage, out?: Uint8Array): Uint8Array {
  checkIndex(message.receiverIndex, "receiver index");
  checkField(message.nonce, COOKIE_NONCE_SIZE, "nonce");
  checkField(message.encryptedCookie, COOKIE_SIZE + AEAD_TAG_SIZE, "encrypted cookie");
  const bytes = output(out, MESSAGE_COOKIE_REPLY_SIZE, "cookie reply");
  const v = view(bytes);
  v.setUint32(0, MESSAGE_COOKIE_REPLY_TYPE, true);
  v.setUint32(4, message.receiverIndex, true);
  bytes.set(message.nonce, 8);
  bytes.set(message.encryptedCookie, 32);
  return bytes;
}

/** Parses a transport data message's header; throws {@link WireGuardMessageError}. */
export function parseTransport(bytes: Uint8Array): TransportMessage {
  if (!(bytes instanceof Uint8Array)) throw new WireGuardMessageError("transport: not bytes");
  if (bytes.length < MESSAGE_KEEPALIVE_SIZE) {
    throw new WireGuardMessageError(
      `transport: ${bytes.length} bytes, expected at least ${MESSAGE_KEEPALIVE_SIZE}`,
    );
  }
  const v = view(bytes);
  if (v.getUint32(0, true) !== MESSAGE_TRANSPORT_TYPE) {
    throw new WireGuardMessageError("transport: wrong message type");
  }
  const low = v.getUint32(8, true);
  const high = v.getUint32(12, true);
  return {
    receiverIndex: v.getUint32(4, true),
    counter: high * 2 ** 32 + low,
    counterRejected: counterIsRejected(high, low),
    sealed: bytes.subarray(MESSAGE_TRANSPORT_HEADER_SIZE),
  };
}

/**
 * Whether the 64-bit counter `high·2^32 + low` is at or above
 * REJECT_AFTER_MESSAGES = 2^64 − 2^13 − 1, computed exactly.
 */
export function counterIsRejected(high: number, low: number): boolean {
  return high === 0xffffffff && low >= 0xffffdfff;
}

/**
 * Writes a transport header (type, receiver index, counter) into the first 16
 * bytes of `out`. The counter must be a safe integer.
 */
export function writeTransportHeader(
  out: Uint8Array,
  receiverIndex: number,
  counter: number,
): void {
  if (out.length < MESSAGE_TRANSPORT_HEADER_SIZE) {
    throw new WireGuardMessageError("transport: output shorter than a header");
  }
  checkIndex(receiverIndex, "receiver index");
  if (!Number.isSafeInteger(counter) || counter < 0) {
    throw new WireGuardMessageError("transport counter must be a safe non-negative integer");
  }
  const v = view(out);
  v.setUint32(0, MESSAGE_TRANSPORT_TYPE, true);
  v.setUint32(4, receiverIndex, true);
  v.setUint32(8, counter >>> 0, true);
  v.setUint32(12, Math.floor(counter / 2 ** 32), true);
}
