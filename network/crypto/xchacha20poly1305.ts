/**
 * XChaCha20-Poly1305 AEAD (draft-irtf-cfrg-xchacha-03), with @noble/ciphers
 * as the implementation (node:crypto has no XChaCha). WireGuard uses it to
 * seal cookie replies (whitepaper §5.4.7).
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";

/** Key length in bytes (draft-irtf-cfrg-xchacha-03 §2). */
export const XCHACHA20POLY1305_KEY_LENGTH = 32;
/** Nonce length in bytes (draft-irtf-cfrg-xchacha-03 §2). */
export const XCHACHA20POLY1305_NONCE_LENGTH = 24;
/** Authentication tag length in bytes, as in RFC 8439. */
export const XCHACHA20POLY1305_TAG_LENGTH = 16;

function checkKeyAndNonce(key: Uint8Array, nonce: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== XCHACHA20POLY1305_KEY_LENGTH) {
    throw new RangeError(`XChaCha20-Poly1305 key must be ${XCHACHA20POLY1305_KEY_LENGTH} bytes`);
  }
  if (!(nonce instanceof Uint8Array) || nonce.length !== XCHACHA20POLY1305_NONCE_LENGTH) {
    throw new RangeError(
      `XChaCha20-Poly1305 nonce must be ${XCHACHA20POLY1305_NONCE_LENGTH} bytes`,
    );
  }
}

/** Encrypts and authenticates `plaintext`; the result is ciphertext || tag. */
export function xchachaSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  associatedData?: Uint8Array,
): Uint8Array {
  checkKeyAndNonce(key, nonce);
  return xchacha20poly1305(key, nonce, associatedData).encrypt(plaintext);
}

/**
 * Checks and decrypts ciphertext || tag; returns null when authentication
 * fails. Throws a RangeError for a key or nonce of the wrong length.
 */
export function xchachaOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  associatedData?: Uint8Array,
): Uint8Array | null {
  checkKeyAndNonce(key, nonce);
  if (sealed.length < XCHACHA20POLY1305_TAG_LENGTH) return null;
  try {
    return xchacha20poly1305(key, nonce, associatedData).decrypt(sealed);
  } catch {
    return null;
  }
}
