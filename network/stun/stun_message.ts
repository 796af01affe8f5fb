/**
 * The subset of STUN (RFC 5389) that Tailscale speaks (data-plane reference
 * §4): the 40-byte Binding Request with SOFTWARE `tailnode` and a
 * FINGERPRINT, the Binding Success Response with XOR-MAPPED-ADDRESS (or the
 * plain MAPPED-ADDRESS of old servers), and the quick test that tells STUN
 * apart from disco and WireGuard on a shared UDP socket. Parsing and
 * serializing only; no I/O. All integers are big-endian.
 *
 * @module
 */
import { crc32 } from "node:zlib";
import type { RandomSource } from "../crypto/random.ts";
import { formatUnmappedIPAddress, parseIPAddress } from "../netaddr/ip_address.ts";

/** The magic cookie in bytes 4–7 of every RFC 5389 message. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** Length of the message header: type, length, cookie, transaction ID. */
export const STUN_HEADER_LENGTH = 20;
/** Length of a transaction ID. */
export const STUN_TRANSACTION_ID_LENGTH = 12;
/** Message type of a Binding Request. */
export const STUN_BINDING_REQUEST = 0x0001;
/** Message type of a Binding Success Response. */
export const STUN_BINDING_SUCCESS = 0x0101;
/** MAPPED-ADDRESS attribute (RFC 5389 §15.1), not obfuscated. */
export const STUN_ATTR_MAPPED_ADDRESS = 0x0001;
/** XOR-MAPPED-ADDRESS attribute (RFC 5389 §15.2). */
export const STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020;
/** The pre-RFC number some servers still use for XOR-MAPPED-ADDRESS (§4.2). */
export const STUN_ATTR_XOR_MAPPED_ADDRESS_ALT = 0x8020;
/** SOFTWARE attribute (RFC 5389 §15.10). */
export const STUN_ATTR_SOFTWARE = 0x8022;
/** FINGERPRINT attribute (RFC 5389 §15.5). */
export const STUN_ATTR_FINGERPRINT = 0x8028;
/** XORed into the CRC-32 of a FINGERPRINT (RFC 5389 §15.5: "STUN"). */
export const STUN_FINGERPRINT_XOR = 0x5354554e;
/** SOFTWARE value Tailscale sends and derper insists on (§4.1). */
export const TAILSCALE_STUN_SOFTWARE = "tailnode";
/** Length of Tailscale's Binding Request (§4.1). */
export const STUN_BINDING_REQUEST_LENGTH = 40;

const FINGERPRINT_ATTR_LENGTH = 8;
const SOFTWARE_BYTES = new TextEncoder().encode(TAILSCALE_STUN_SOFTWARE);

/** Why a packet was not accepted as the STUN message expected. */
export type StunParseErrorKind =
  | "not-stun"
  | "not-binding-request"
  | "not-success-response"
  | "malformed-attributes"
  | "wrong-software"
  | "no-fingerprint"
  | "wrong-fingerprint"
  | "no-address";

/** Thrown when bytes are not the STUN message the caller asked to parse. */
export class StunParseError extends Error {
  /** What was wrong, for callers that branch on it. */
  readonly kind: StunParseErrorKind;
  /** Makes the error for one kind of failure. */
  constructor(kind: StunParseErrorKind, message: string) {
    super(message);
    this.name = "StunParseError";
    this.kind = kind;
  }
}

/** An address as a STUN server saw it. */
export interface StunMappedAddress {
  /** IP address in text form; an IPv4-mapped IPv6 address is given as IPv4. */
  ip: string;
  /** UDP port. */
  port: number;
  /** 4 or 6, after unmapping. */
  family: 4 | 6;
}

/** A parsed Binding Success Response. */
export interface StunBindingResponse {
  /** The transaction ID it answers (a copy). */
  transactionId: Uint8Array;
  /** Our address as the server saw it. */
  address: StunMappedAddress;
}

/**
 * A fresh transaction ID: 12 bytes from `random`.
 *
 * @example
 * ```ts
 * const txid = newTransactionId(systemRandom);
 * ```
 */
export function newTransactionId(random: RandomSource): Uint8Array {
  const id = random(STUN_TRANSACTION_ID_LENGTH);
  if (id.length !== STUN_TRANSACTION_ID_LENGTH) {
    throw new RangeError(`random source gave ${id.length} bytes, not 12`);
  }
  return id;
}

/** Whether two transaction IDs are equal. */
export function transactionIdEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * RFC 5389 §4 test as Tailscale's `stun.Is` makes it (§4.3): at least a
 * header, the two top bits of the first byte zero, and the magic cookie.
 */
export function isStunPacket(packet: Uint8Array): boolean {
  return packet.length >= STUN_HEADER_LENGTH && (packet[0] & 0xc0) === 0 &&
    packet[4] === 0x21 && packet[5] === 0x12 && packet[6] === 0xa4 && packet[7] === 0x42;
}

/**
 * The test magicsock applies to packets on its shared UDP socket (§2.2,
 * §4.3): {@link isStunPacket} and a second byte of 0x01, which holds for
 * Binding Requests and Success Responses but not for WireGuard messages
 * (type 1–4 then three zero bytes) or disco (`TS💬`).
 */
export function isStunOnSharedSocket(packet: Uint8Array): boolean {
  return isStunPacket(packet) && packet[1] === 0x01;
}

/** The FINGERPRINT value of `bytes`: CRC-32 (IEEE) XOR 0x5354554E (RFC 5389 §15.5). */
export function stunFingerprint(bytes: Uint8Array): number {
  return (crc32(bytes) ^ STUN_FINGERPRINT_XOR) >>> 0;
}

/**
 * Whether the message's last attribute is a FINGERPRINT that matches the
 * bytes before it. The header's length field must cover the whole packet.
 */
export function hasValidFingerprint(packet: Uint8Array): boolean {
  if (!isStunPacket(packet)) return false;
  const view = viewOf(packet);
  if (STUN_HEADER_LENGTH + view.getUint16(2) !== packet.length) return false;
  if (packet.length < STUN_HEADER_LENGTH + FINGERPRINT_ATTR_LENGTH) return false;
  const at = packet.length - FINGERPRINT_ATTR_LENGTH;
  if (view.getUint16(at) !== STUN_ATTR_FINGERPRINT || view.getUint16(at + 2) !== 4) return false;
  return view.getUint32(at + 4) === stunFingerprint(packet.subarray(0, at));
}

/**
 * Tailscale's Binding Request (§4.1): 40 bytes, SOFTWARE `tailnode`, then
 * FINGERPRINT over the first 32 bytes.
 *
 * @example
 * ```ts
 * const txid = newTransactionId(systemRandom);
 * await socket.send(bindingRequest(txid), { transport: "udp", hostname: "127.0.0.1", port });
 * ```
 */
export function bindingRequest(transactionId: Uint8Array): Uint8Array {
  checkTransactionId(transactionId);
  const out = new Uint8Array(STUN_BINDING_REQUEST_LENGTH);
  const view = viewOf(out);
  view.setUint16(0, STUN_BINDING_REQUEST);
  view.setUint16(2, STUN_BINDING_REQUEST_LENGTH - STUN_HEADER_LENGTH);
  view.setUint32(4, STUN_MAGIC_COOKIE);
  out.set(transactionId, 8);
  view.setUint16(20, STUN_ATTR_SOFTWARE);
  view.setUint16(22, SOFTWARE_BYTES.length);
  out.set(SOFTWARE_BYTES, 24);
  view.setUint16(32, STUN_ATTR_FINGERPRINT);
  view.setUint16(34, 4);
  view.setUint32(36, stunFingerprint(out.subarray(0, 32)));
  return out;
}

/**
 * Server side (for test responders): the transaction ID of a Binding
 * Request that derper would answer (§4.1): SOFTWARE `tailnode` among the
 * attributes and a valid FINGERPRINT last. Throws {@link StunParseError}.
 */
export function parseBindingRequest(packet: Uint8Array): Uint8Array {
  if (!isStunPacket(packet)) throw new StunParseError("not-stun", "not a STUN packet");
  const view = viewOf(packet);
  if (view.getUint16(0) !== STUN_BINDING_REQUEST) {
    throw new StunParseError("not-binding-request", "STUN message is not a Binding Request");
  }
  let softwareOK = false;
  let lastType = -1;
  let fingerprint: number | undefined;
  forEachAttribute(packet.subarray(STUN_HEADER_LENGTH), (type, value) => {
    lastType = type;
    if (type === STUN_ATTR_SOFTWARE && bytesEqual(value, SOFTWARE_BYTES)) softwareOK = true;
    if (type === STUN_ATTR_FINGERPRINT && value.length === 4) {
      fingerprint = viewOf(value).getUint32(0);
    }
  });
  if (!softwareOK) {
    throw new StunParseError("wrong-software", `Binding Request without SOFTWARE "tailnode"`);
  }
  if (lastType !== STUN_ATTR_FINGERPRINT) {
    throw new StunParseError("no-fingerprint", "Binding Request does not end in FINGERPRINT");
  }
  const signed = packet.subarray(0, packet.length - FINGERPRINT_ATTR_LENGTH);
  if (fingerprint !== stunFingerprint(signed)) {
    throw new StunParseError("wrong-fingerprint", "Binding Request FINGERPRINT does not match");
  }
  return packet.slice(8, STUN_HEADER_LENGTH);
}

/**
 * Server side (for test responders): a Binding Success Response holding
 * only XOR-MAPPED-ADDRESS, as derper writes it (§4.2). `address.ip` is IPv4
 * or IPv6 text.
 */
export function bindingResponse(
  transactionId: Uint8Array,
  address: { ip: string; port: number },
): Uint8Array {
  checkTransactionId(transactionId);
  const ip = parseIPAddress(address.ip);
  if (!ip) throw new TypeError(`not an IP address: ${JSON.stringify(address.ip)}`);
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 0xffff) {
    throw new RangeError(`not a port: ${address.port}`);
  }
  const valueLength = 4 + ip.length;
  const out = new Uint8Array(STUN_HEADER_LENGTH + 4 + valueLength);
  const view = viewOf(out);
  view.setUint16(0, STUN_BINDING_SUCCESS);
  view.setUint16(2, 4 + valueLength);
  view.setUint32(4, STUN_MAGIC_COOKIE);
  out.set(transactionId, 8);
  view.setUint16(20, STUN_ATTR_XOR_MAPPED_ADDRESS);
  view.setUint16(22, valueLength);
  out[25] = ip.length === 4 ? 1 : 2;
  view.setUint16(26, address.port ^ (STUN_MAGIC_COOKIE >>> 16));
  // RFC 5389 §15.2: the address is XORed with the cookie, then (IPv6) the transaction ID.
  for (let i = 0; i < ip.length; i++) out[28 + i] = ip[i] ^ out[4 + i];
  return out;
}

/**
 * Parses a Binding Success Response (§4.2): XOR-MAPPED-ADDRESS under
 * 0x0020 or 0x8020, else MAPPED-ADDRESS; bytes past the header's length
 * are ignored. The caller matches `transactionId` against its request.
 * Throws {@link StunParseError}.
 *
 * @example
 * ```ts
 * const { transactionId, address } = parseBindingResponse(packet);
 * if (transactionIdEquals(transactionId, txid)) console.log(`${address.ip}:${address.port}`);
 * ```
 */
export function parseBindingResponse(packet: Uint8Array): StunBindingResponse {
  if (!isStunPacket(packet)) throw new StunParseError("not-stun", "not a STUN packet");
  const view = viewOf(packet);
  if (view.getUint16(0) !== STUN_BINDING_SUCCESS) {
    throw new StunParseError("not-success-response", "STUN message is not a Binding Success");
  }
  const transactionId = packet.slice(8, STUN_HEADER_LENGTH);
  const attributesLength = view.getUint16(2);
  if (STUN_HEADER_LENGTH + attributesLength > packet.length) {
    throw new StunParseError("malformed-attributes", "STUN length field exceeds the packet");
  }
  let xorAddress: StunMappedAddress | undefined;
  let plainAddress: StunMappedAddress | undefined;
  const attributes = packet.subarray(STUN_HEADER_LENGTH, STUN_HEADER_LENGTH + attributesLength);
  forEachAttribute(attributes, (type, value) => {
    if (type === STUN_ATTR_XOR_MAPPED_ADDRESS || type === STUN_ATTR_XOR_MAPPED_ADDRESS_ALT) {
      xorAddress = readAddress(value, packet.subarray(4, STUN_HEADER_LENGTH));
    } else if (type === STUN_ATTR_MAPPED_ADDRESS) {
      plainAddress = readAddress(value, undefined);
    }
  });
  const address = xorAddress ?? plainAddress;
  if (!address) {
    throw new StunParseError("no-address", "Binding Success carries no mapped address");
  }
  return { transactionId, address };
}

/** Reads a (XOR-)MAPPED-ADDRESS value; `mask` is cookie ‖ transaction ID for the XOR form. */
function readAddress(value: Uint8Array, mask: Uint8Array | undefined): StunMappedAddress {
  if (value.length < 4) {
    throw new StunParseError("malformed-attributes", "mapped address attribute too short");
  }
  const family = value[1];
  const length = family === 1 ? 4 : family === 2 ? 16 : 0;
  if (length === 0 || value.length < 4 + length) {
    throw new StunParseError("malformed-attributes", `bad mapped address family ${family}`);
  }
  let port = (value[2] << 8) | value[3];
  const ip = value.slice(4, 4 + length);
  if (mask) {
    port ^= STUN_MAGIC_COOKIE >>> 16;
    for (let i = 0; i < length; i++) ip[i] ^= mask[i];
  }
  const text = formatUnmappedIPAddress(ip);
  return { ip: text, port, family: text.includes(":") ? 6 : 4 };
}

/** Walks TLV attributes with 4-byte padding (RFC 5389 §15); throws on a cut attribute. */
function forEachAttribute(
  attributes: Uint8Array,
  visit: (type: number, value: Uint8Array) => void,
): void {
  const view = viewOf(attributes);
  let offset = 0;
  while (offset < attributes.length) {
    if (attributes.length - offset < 4) {
      throw new StunParseError("malformed-attributes", "STUN attribute header cut short");
    }
    const type = view.getUint16(offset);
    const length = view.getUint16(offset + 2);
    const padded = (length + 3) & ~3;
    offset += 4;
    if (padded > attributes.length - offset) {
      throw new StunParseError("malformed-attributes", "STUN attribute value cut short");
    }
    visit(type, attributes.subarray(offset, offset + length));
    offset += padded;
  }
}

function checkTransactionId(transactionId: Uint8Array): void {
  if (!(transactionId instanceof Uint8Array) || transactionId.length !== 12) {
    throw new RangeError("a STUN transaction ID has 12 bytes");
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return transactionIdEquals(a, b);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
