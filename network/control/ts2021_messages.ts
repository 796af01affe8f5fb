/**
 * Wire layouts of the ts2021 Noise channel (control protocol reference §4.3,
 * §4.4, §5): the 101-byte initiation, the 51-byte response, the error frame
 * and the transport record header. Parsing and serializing only; no crypto
 * and no I/O.
 */

/** Length of every frame header: type byte and a big-endian u16 length (§4.4, §5). */
export const HEADER_LENGTH = 3;
/** Largest frame on the wire, header included (§5 `maxMessageSize`). */
export const MAX_MESSAGE_SIZE = 4096;
/** Largest ciphertext in one transport frame, tag included (§5 `maxCiphertextSize`). */
export const MAX_CIPHERTEXT_SIZE: number = MAX_MESSAGE_SIZE - HEADER_LENGTH;
/** Largest plaintext in one transport frame (§5 `maxPlaintextSize`). */
export const MAX_PLAINTEXT_SIZE: number = MAX_CIPHERTEXT_SIZE - 16;

/** Message type of the client's handshake initiation (§4.3). */
export const MSG_TYPE_INITIATION = 0x01;
/** Message type of the server's handshake response (§4.4). */
export const MSG_TYPE_RESPONSE = 0x02;
/** Message type of a server's handshake refusal carrying a text (§4.4). */
export const MSG_TYPE_ERROR = 0x03;
/** Message type of a transport record (§5). */
export const MSG_TYPE_RECORD = 0x04;

/** Payload length announced by an initiation: e (32) + sealed s (48) + tag (16). */
export const INITIATION_PAYLOAD_LENGTH = 96;
/** Total initiation length: version (2) + header (3) + payload (96). */
export const INITIATION_LENGTH: number = 2 + HEADER_LENGTH + INITIATION_PAYLOAD_LENGTH;
/** Payload length announced by a response: e (32) + tag (16). */
export const RESPONSE_PAYLOAD_LENGTH = 48;
/** Total response length: header (3) + payload (48). */
export const RESPONSE_LENGTH: number = HEADER_LENGTH + RESPONSE_PAYLOAD_LENGTH;
/** Longest error text a server sends; the length field is a u16 (§4.4). */
export const MAX_ERROR_TEXT_LENGTH = 0xffff;

/** Thrown for malformed or unexpected Noise channel bytes. */
export class NoiseProtocolError extends Error {
  /** Makes the error with a description of the malformed bytes. */
  constructor(message: string) {
    super(message);
    this.name = "NoiseProtocolError";
  }
}

/** The parsed fields of a handshake initiation (§4.3). */
export interface TS2021Initiation {
  /** Protocol version the client claims (its capability version). */
  protocolVersion: number;
  /** Client ephemeral public key, 32 bytes in clear. */
  ephemeralPublic: Uint8Array;
  /** Client machine public key sealed under the `es` key: 32 bytes + 16-byte tag. */
  sealedMachineKey: Uint8Array;
  /** Tag over the empty payload under the `ss` key, 16 bytes. */
  payloadTag: Uint8Array;
}

/** The parsed fields of a handshake response (§4.4). */
export interface TS2021Response {
  /** Server ephemeral public key, 32 bytes in clear. */
  ephemeralPublic: Uint8Array;
  /** Tag over the empty payload under the `se` key, 16 bytes. */
  payloadTag: Uint8Array;
}

/** The type byte and length of a frame header. */
export interface FrameHeader {
  /** One of the `MSG_TYPE_*` values (unchecked). */
  type: number;
  /** Number of bytes that follow the header. */
  length: number;
}

function checkLength(bytes: Uint8Array, length: number, what: string): void {
  if (bytes.length !== length) {
    throw new NoiseProtocolError(`${what}: expected ${length} bytes, got ${bytes.length}`);
  }
}

/** Serializes an initiation into its 101-byte wire form (§4.3). */
export function serializeTS2021Initiation(message: TS2021Initiation): Uint8Array {
  const { protocolVersion } = message;
  if (!Number.isInteger(protocolVersion) || protocolVersion < 0 || protocolVersion > 0xffff) {
    throw new RangeError(`protocol version ${protocolVersion} does not fit in a u16`);
  }
  checkLength(message.ephemeralPublic, 32, "initiation ephemeral key");
  checkLength(message.sealedMachineKey, 48, "initiation sealed machine key");
  checkLength(message.payloadTag, 16, "initiation payload tag");
  const out = new Uint8Array(INITIATION_LENGTH);
  const view = new DataView(out.buffer);
  view.setUint16(0, protocolVersion);
  out[2] = MSG_TYPE_INITIATION;
  view.setUint16(3, INITIATION_PAYLOAD_LENGTH);
  out.set(message.ephemeralPublic, 5);
  out.set(message.sealedMachineKey, 37);
  out.set(message.payloadTag, 85);
  return out;
}

/** Parses a 101-byte initiation; throws {@link NoiseProtocolError} when malformed. */
export function parseTS2021Initiation(bytes: Uint8Array): TS2021Initiation {
  checkLength(bytes, INITIATION_LENGTH, "initiation");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[2] !== MSG_TYPE_INITIATION) {
    throw new NoiseProtocolError(`initiation: unexpected message type ${bytes[2]}`);
  }
  if (view.getUint16(3) !== INITIATION_PAYLOAD_LENGTH) {
    throw new NoiseProtocolError(`initiation: unexpected payload length ${view.getUint16(3)}`);
  }
  return {
    protocolVersion: view.getUint16(0),
    ephemeralPublic: bytes.slice(5, 37),
    sealedMachineKey: bytes.slice(37, 85),
    payloadTag: bytes.slice(85, 101),
  };
}

/** Serializes a response into its 51-byte wire form (§4.4). */
export function serializeTS2021Response(message: TS2021Response): Uint8Array {
  checkLength(message.ephemeralPublic, 32, "response ephemeral key");
  checkLength(message.payloadTag, 16, "response payload tag");
  const out = new Uint8Array(RESPONSE_LENGTH);
  writeFrameHeader(out, 0, MSG_TYPE_RESPONSE, RESPONSE_PAYLOAD_LENGTH);
  out.set(message.ephemeralPublic, 3);
  out.set(message.payloadTag, 35);
  return out;
}

/**
 * Parses a 51-byte response. A type-3 error frame here is reported by
 * {@link parseFrameHeader} callers first; this function only accepts type 2.
 */
export function parseTS2021Response(bytes: Uint8Array): TS2021Response {
  checkLength(bytes, RESPONSE_LENGTH, "response");
  const header = parseFrameHeader(bytes);
  if (header.type !== MSG_TYPE_RESPONSE) {
    throw new NoiseProtocolError(`response: unexpected message type ${header.type}`);
  }
  if (header.length !== RESPONSE_PAYLOAD_LENGTH) {
    throw new NoiseProtocolError(`response: unexpected payload length ${header.length}`);
  }
  return { ephemeralPublic: bytes.slice(3, 35), payloadTag: bytes.slice(35, 51) };
}

/** Serializes an error frame `[0x03][len u16 BE][text]`, truncating the text to 65535 bytes. */
export function serializeErrorFrame(text: string): Uint8Array {
  let body = new TextEncoder().encode(text);
  if (body.length > MAX_ERROR_TEXT_LENGTH) body = body.subarray(0, MAX_ERROR_TEXT_LENGTH);
  const out = new Uint8Array(HEADER_LENGTH + body.length);
  writeFrameHeader(out, 0, MSG_TYPE_ERROR, body.length);
  out.set(body, HEADER_LENGTH);
  return out;
}

/** Parses a complete error frame and returns its text (an unauthenticated hint). */
export function parseErrorFrame(bytes: Uint8Array): string {
  const header = parseFrameHeader(bytes);
  if (header.type !== MSG_TYPE_ERROR) {
    throw new NoiseProtocolError(`error frame: unexpected message type ${header.type}`);
  }
  checkLength(bytes, HEADER_LENGTH + header.length, "error frame");
  return new TextDecoder().decode(bytes.subarray(HEADER_LENGTH));
}

/** Reads the 3-byte header at `offset` of `bytes`. */
export function parseFrameHeader(bytes: Uint8Array, offset = 0): FrameHeader {
  if (bytes.length - offset < HEADER_LENGTH) {
    throw new NoiseProtocolError("frame header: fewer than 3 bytes");
  }
  return { type: bytes[offset], length: (bytes[offset + 1] << 8) | bytes[offset + 2] };
}

/** Writes a frame header `[type][length u16 BE]` into `out` at `offset`. */
export function writeFrameHeader(
  out: Uint8Array,
  offset: number,
  type: number,
  length: number,
): void {
  if (!Number.isInteger(length) || length < 0 || length > 0xffff) {
    throw new RangeError(`frame length ${length} does not fit in a u16`);
  }
  out[offset] = type;
  out[offset + 1] = length >>> 8;
  out[offset + 2] = length & 0xff;
}

/** Writes a transport record header `[0x04][length u16 BE]` (§5). */
export function writeRecordHeader(out: Uint8Array, offset: number, ciphertextLength: number): void {
  if (ciphertextLength > MAX_CIPHERTEXT_SIZE) {
    throw new RangeError(`record of ${ciphertextLength} bytes exceeds ${MAX_CIPHERTEXT_SIZE}`);
  }
  writeFrameHeader(out, offset, MSG_TYPE_RECORD, ciphertextLength);
}
