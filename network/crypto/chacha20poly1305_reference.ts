/**
 * The @noble/ciphers ChaCha20-Poly1305 (RFC 8439), kept as the reference the
 * native path in `chacha20poly1305.ts` is tested against. Slower; not for
 * protocol use.
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { CHACHA20POLY1305_TAG_LENGTH, checkChachaKeyAndNonce } from "./chacha20poly1305.ts";

/** Reference `chachaSeal`: returns ciphertext || tag. */
export function chachaSealReference(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  associatedData?: Uint8Array,
): Uint8Array {
  checkChachaKeyAndNonce(key, nonce);
  return chacha20poly1305(key, nonce, associatedData).encrypt(plaintext);
}

/** Reference `chachaOpen`: the plaintext, or null when authentication fails. */
export function chachaOpenReference(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  associatedData?: Uint8Array,
): Uint8Array | null {
  checkChachaKeyAndNonce(key, nonce);
  if (sealed.length < CHACHA20POLY1305_TAG_LENGTH) return null;
  try {
    return chacha20poly1305(key, nonce, associatedData).decrypt(sealed);
  } catch {
    return null;
  }
}
