/**
 * The optional early payload a ts2021 server sends inside the Noise stream
 * before its HTTP/2 bytes (control protocol reference §6):
 * `FF FF FF 54 53`, a u32 big-endian length, then `EarlyNoise` JSON. The
 * first 9 plaintext bytes decide: with the magic they start the payload,
 * otherwise they are the first HTTP/2 frame header and are passed on.
 */
import { NoiseProtocolError } from "./ts2021_messages.ts";

/** The 5 magic bytes: three 0xFF and ASCII "TS" (§6). */
export const EARLY_PAYLOAD_MAGIC: Uint8Array = Uint8Array.of(0xff, 0xff, 0xff, 0x54, 0x53);
/** Magic plus the u32 length: as long as an HTTP/2 frame header (§6 `hdrLen`). */
export const EARLY_PAYLOAD_HEADER_LENGTH = 9;
/** Largest early payload accepted, as in the Go client (§13). */
export const MAX_EARLY_PAYLOAD_LENGTH = 10 * 1024 * 1024;

/** The `EarlyNoise` JSON object (tailcfg). */
export interface EarlyNoise {
  /** `chalpub:` key for proving node-key possession; no client uses it yet (§6). */
  nodeKeyChallenge?: string;
}

/**
 * Strips the early payload from the start of the plaintext stream. Feed it
 * every plaintext chunk in order; it returns what belongs to HTTP/2.
 *
 * @example
 * ```ts
 * const early = new EarlyPayloadReader();
 * const forHttp2 = early.push(chunk); // null while still inside the payload
 * ```
 */
export class EarlyPayloadReader {
  #header = new Uint8Array(EARLY_PAYLOAD_HEADER_LENGTH);
  #headerLength = 0;
  #body: Uint8Array | null = null;
  #bodyLength = 0;
  #done = false;
  #earlyNoise: EarlyNoise | null = null;

  /** Whether the sniffing is over (payload read, or found absent). */
  get done(): boolean {
    return this.#done;
  }

  /** The decoded payload, or null if none came (or not yet complete). */
  get earlyNoise(): EarlyNoise | null {
    return this.#earlyNoise;
  }

  /**
   * Consumes a plaintext chunk; returns the bytes to hand to HTTP/2 (null
   * when there are none yet). Throws {@link NoiseProtocolError} for an
   * oversized or undecodable payload.
   */
  push(chunk: Uint8Array): Uint8Array | null {
    if (this.#done) return chunk;
    let pos = 0;
    if (this.#body === null) {
      const take = Math.min(EARLY_PAYLOAD_HEADER_LENGTH - this.#headerLength, chunk.length);
      this.#header.set(chunk.subarray(0, take), this.#headerLength);
      this.#headerLength += take;
      pos = take;
      if (this.#headerLength < EARLY_PAYLOAD_HEADER_LENGTH) return null;
      if (!hasMagic(this.#header)) {
        this.#done = true;
        const out = new Uint8Array(EARLY_PAYLOAD_HEADER_LENGTH + chunk.length - pos);
        out.set(this.#header, 0);
        out.set(chunk.subarray(pos), EARLY_PAYLOAD_HEADER_LENGTH);
        return out;
      }
      const length = new DataView(this.#header.buffer).getUint32(5);
      if (length > MAX_EARLY_PAYLOAD_LENGTH) {
        throw new NoiseProtocolError(`early payload of ${length} bytes is too large`);
      }
      this.#body = new Uint8Array(length);
    }
    const body = this.#body;
    const take = Math.min(body.length - this.#bodyLength, chunk.length - pos);
    body.set(chunk.subarray(pos, pos + take), this.#bodyLength);
    this.#bodyLength += take;
    pos += take;
    if (this.#bodyLength < body.length) return null;
    this.#earlyNoise = decodeEarlyNoise(body);
    this.#done = true;
    return pos < chunk.length ? chunk.subarray(pos) : null;
  }
}

function hasMagic(header: Uint8Array): boolean {
  for (let i = 0; i < EARLY_PAYLOAD_MAGIC.length; i++) {
    if (header[i] !== EARLY_PAYLOAD_MAGIC[i]) return false;
  }
  return true;
}

function decodeEarlyNoise(body: Uint8Array): EarlyNoise {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new NoiseProtocolError("early payload is not valid JSON");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new NoiseProtocolError("early payload is not a JSON object");
  }
  const challenge = (value as Record<string, unknown>).nodeKeyChallenge;
  return typeof challenge === "string" ? { nodeKeyChallenge: challenge } : {};
}
