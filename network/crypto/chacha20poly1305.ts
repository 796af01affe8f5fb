/**
 * ChaCha20-Poly1305 AEAD (RFC 8439), with @noble/ciphers as the implementation.
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";

/** Key length in bytes (RFC 8439 §2.8). */
export const CHACHA20POLY1305_KEY_LENGTH = 32;
/** Nonce length in bytes (RFC 8439 §2.8). */
export const CHACHA20POLY1305_NONCE_LENGTH = 12;
/** Authentication tag length in bytes (RFC 8439 §2.8). */
export const CHACHA20POLY1305_TAG_LENGTH = 16;

/** Encrypts and authenticates `plaintext`; the result is ciphertext || tag. */
export function chachaSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  associatedData?: Uint8Array,
): Uint8Array {
  return chacha20poly1305(key, nonce, associatedData).encrypt(plaintext);
}

/** Checks and decrypts ciphertext || tag; returns null when authentication fails. */
export function chachaOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  associatedData?: Uint8Array,
): Uint8Array | null {
  if (sealed.length < CHACHA20POLY1305_TAG_LENGTH) return null;
  try {
    return chacha20poly1305(key, nonce, associatedData).decrypt(sealed);
  } catch {
    return null;
  }
}
