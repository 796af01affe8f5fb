/**
 * BLAKE2s (RFC 7693) and HMAC-BLAKE2s, with @noble/hashes as the
 * implementation. Noise and WireGuard use both, per handshake rather than per
 * packet. node:crypto's `blake2s256` HMAC measured only ~15% faster on
 * 64-byte inputs and has no keyed or short-output BLAKE2s (WireGuard's MAC1
 * and MAC2), so one implementation serves all three.
 */
import { blake2s as nobleBlake2s } from "@noble/hashes/blake2.js";
import { hmac } from "@noble/hashes/hmac.js";

/** BLAKE2s-256 digest length in bytes. */
export const BLAKE2S_HASH_LENGTH = 32;

/** Options for {@link blake2s}. */
export interface Blake2sOptions {
  /** Key for keyed hashing (MAC mode), up to 32 bytes. */
  key?: Uint8Array;
  /** Digest length in bytes, 1 to 32; 32 by default. */
  outputLength?: number;
}

/** BLAKE2s over the concatenation of `parts`. */
export function blake2s(
  parts: Uint8Array | Uint8Array[],
  options: Blake2sOptions = {},
): Uint8Array {
  const h = nobleBlake2s.create({ key: options.key, dkLen: options.outputLength ?? 32 });
  for (const part of Array.isArray(parts) ? parts : [parts]) h.update(part);
  return h.digest();
}

/** HMAC (RFC 2104) with BLAKE2s-256 over the concatenation of `parts`. */
export function hmacBlake2s(key: Uint8Array, parts: Uint8Array | Uint8Array[]): Uint8Array {
  const h = hmac.create(nobleBlake2s, key);
  for (const part of Array.isArray(parts) ? parts : [parts]) h.update(part);
  return h.digest();
}
