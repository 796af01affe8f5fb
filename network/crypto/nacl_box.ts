/**
 * NaCl `crypto_box` (Curve25519, HSalsa20, XSalsa20-Poly1305), as disco
 * messages use it. The box key is HSalsa20(X25519(ours, theirs), zero nonce),
 * then XSalsa20-Poly1305 seals with the 24-byte nonce; the tag comes first
 * (NaCl's "easy" layout).
 */
import { hsalsa, xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { x25519 } from "./x25519.ts";

/** Nonce length of crypto_box (NaCl). */
export const BOX_NONCE_LENGTH = 24;
/** Authenticator length of crypto_box (NaCl). */
export const BOX_OVERHEAD = 16;

// "expand 32-byte k" as four little-endian words: the Salsa20 sigma constant.
const SIGMA32 = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

function u8to32(bytes: Uint8Array): Uint32Array {
  const copy = bytes.slice();
  return new Uint32Array(copy.buffer, copy.byteOffset, copy.length / 4);
}

/** `crypto_box_beforenm`: the shared key for one pair of box keys. */
export function boxBeforeNm(theirPublic: Uint8Array, myPrivate: Uint8Array): Uint8Array {
  const shared = x25519(myPrivate, theirPublic);
  const out = new Uint32Array(8);
  hsalsa(SIGMA32, u8to32(shared), new Uint32Array(4), out);
  return new Uint8Array(out.buffer);
}

/** Seals with a precomputed shared key; result is tag || ciphertext. */
export function boxSealAfterNm(
  sharedKey: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  return xsalsa20poly1305(sharedKey, nonce).encrypt(plaintext);
}

/** Opens with a precomputed shared key; null when authentication fails. */
export function boxOpenAfterNm(
  sharedKey: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | null {
  if (sealed.length < BOX_OVERHEAD) return null;
  try {
    return xsalsa20poly1305(sharedKey, nonce).decrypt(sealed);
  } catch {
    return null;
  }
}

/** `crypto_box_easy`: seals `plaintext` from us to them. */
export function boxSeal(
  plaintext: Uint8Array,
  nonce: Uint8Array,
  theirPublic: Uint8Array,
  myPrivate: Uint8Array,
): Uint8Array {
  return boxSealAfterNm(boxBeforeNm(theirPublic, myPrivate), nonce, plaintext);
}

/** `crypto_box_open_easy`: opens a box from them to us; null when forged. */
export function boxOpen(
  sealed: Uint8Array,
  nonce: Uint8Array,
  theirPublic: Uint8Array,
  myPrivate: Uint8Array,
): Uint8Array | null {
  return boxOpenAfterNm(boxBeforeNm(theirPublic, myPrivate), nonce, sealed);
}
