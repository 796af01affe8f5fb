/**
 * NaCl `crypto_box` (Curve25519, HSalsa20, XSalsa20-Poly1305), as disco
 * messages use it. The box key is HSalsa20(X25519(ours, theirs), zero nonce);
 * XSalsa20-Poly1305 then seals with the 24-byte nonce, and the tag comes
 * first (libsodium's "easy" layout, which is also what Go's
 * `nacl/box.Seal` emits). node:crypto has no XSalsa20, so @noble/ciphers
 * does the work.
 */
import { hsalsa, xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { WeakSharedSecretError, x25519 } from "./x25519.ts";

/** Nonce length of crypto_box (NaCl). */
export const BOX_NONCE_LENGTH = 24;
/** Authenticator length of crypto_box (NaCl): sealed = plaintext + 16 bytes. */
export const BOX_OVERHEAD = 16;
/** Length of the precomputed shared key from {@link boxBeforeNm}. */
export const BOX_SHARED_KEY_LENGTH = 32;

// @noble's hsalsa reads words in the host's byte order (and swaps them on
// big-endian hosts), so every input is a Uint32Array view over bytes,
// sigma included: "expand 32-byte k" (Salsa20 §9).
const SIGMA = wordsOf(new TextEncoder().encode("expand 32-byte k"));
const ZERO_NONCE_PREFIX = new Uint32Array(4);

function wordsOf(bytes: Uint8Array): Uint32Array {
  const copy = bytes.slice();
  return new Uint32Array(copy.buffer, copy.byteOffset, copy.length / 4);
}

function checkLength(bytes: Uint8Array, length: number, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new RangeError(`crypto_box ${what} must be ${length} bytes`);
  }
}

/**
 * `crypto_box_beforenm`: the shared key for one pair of box keys. Throws
 * {@link WeakSharedSecretError} when their public key has low order.
 */
export function boxBeforeNm(theirPublic: Uint8Array, myPrivate: Uint8Array): Uint8Array {
  const shared = wordsOf(x25519(myPrivate, theirPublic));
  const out = new Uint32Array(8);
  hsalsa(SIGMA, shared, ZERO_NONCE_PREFIX, out);
  shared.fill(0);
  return new Uint8Array(out.buffer);
}

/** `crypto_box_easy_afternm`: seals with a precomputed key; result is tag || ciphertext. */
export function boxSealAfterNm(
  sharedKey: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  checkLength(sharedKey, BOX_SHARED_KEY_LENGTH, "shared key");
  checkLength(nonce, BOX_NONCE_LENGTH, "nonce");
  return xsalsa20poly1305(sharedKey, nonce).encrypt(plaintext);
}

/**
 * `crypto_box_open_easy_afternm`: opens tag || ciphertext with a precomputed
 * key; null when authentication fails.
 */
export function boxOpenAfterNm(
  sharedKey: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | null {
  checkLength(sharedKey, BOX_SHARED_KEY_LENGTH, "shared key");
  checkLength(nonce, BOX_NONCE_LENGTH, "nonce");
  if (sealed.length < BOX_OVERHEAD) return null;
  try {
    return xsalsa20poly1305(sharedKey, nonce).decrypt(sealed);
  } catch {
    return null;
  }
}

/**
 * `crypto_box_easy`: seals `plaintext` from us to them. Throws
 * {@link WeakSharedSecretError} when their public key has low order.
 */
export function boxSeal(
  plaintext: Uint8Array,
  nonce: Uint8Array,
  theirPublic: Uint8Array,
  myPrivate: Uint8Array,
): Uint8Array {
  return boxSealAfterNm(boxBeforeNm(theirPublic, myPrivate), nonce, plaintext);
}

/**
 * `crypto_box_open_easy`: opens a box from them to us. Returns null when it
 * is forged, and also when their public key has low order: such a box proves
 * nothing, since anyone can compute its key.
 */
export function boxOpen(
  sealed: Uint8Array,
  nonce: Uint8Array,
  theirPublic: Uint8Array,
  myPrivate: Uint8Array,
): Uint8Array | null {
  let sharedKey: Uint8Array;
  try {
    sharedKey = boxBeforeNm(theirPublic, myPrivate);
  } catch (error) {
    if (error instanceof WeakSharedSecretError) return null;
    throw error;
  }
  return boxOpenAfterNm(sharedKey, nonce, sealed);
}
