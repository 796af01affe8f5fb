/**
 * XChaCha20-Poly1305 AEAD (draft-irtf-cfrg-xchacha), with @noble/ciphers.
 * WireGuard uses it to seal cookie replies.
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";

/** Nonce length in bytes (draft-irtf-cfrg-xchacha §2). */
export const XCHACHA20POLY1305_NONCE_LENGTH = 24;

/** Encrypts and authenticates `plaintext`; the result is ciphertext || tag. */
export function xchachaSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  associatedData?: Uint8Array,
): Uint8Array {
  return xchacha20poly1305(key, nonce, associatedData).encrypt(plaintext);
}

/** Checks and decrypts ciphertext || tag; returns null when authentication fails. */
export function xchachaOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  associatedData?: Uint8Array,
): Uint8Array | null {
  if (sealed.length < 16) return null;
  try {
    return xchacha20poly1305(key, nonce, associatedData).decrypt(sealed);
  } catch {
    return null;
  }
}
