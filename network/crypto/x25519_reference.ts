/**
 * The @noble/curves X25519, kept as the reference the native path in
 * `x25519.ts` is tested against. Slower; not for protocol use.
 */
import { x25519 as nobleX25519 } from "@noble/curves/ed25519.js";
import { checkX25519KeyLength, WeakSharedSecretError } from "./x25519.ts";

/** Reference `publicKeyFromPrivate`: @noble/curves' base-point multiplication. */
export function publicKeyFromPrivateReference(privateKey: Uint8Array): Uint8Array {
  checkX25519KeyLength(privateKey, "private key");
  return nobleX25519.getPublicKey(privateKey);
}

/**
 * Reference `x25519`: @noble/curves' ladder. Throws
 * {@link WeakSharedSecretError} for low-order public keys, which @noble
 * rejects before the ladder runs.
 */
export function x25519Reference(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkX25519KeyLength(privateKey, "private key");
  checkX25519KeyLength(publicKey, "public key");
  let shared: Uint8Array;
  try {
    shared = nobleX25519.getSharedSecret(privateKey, publicKey);
  } catch {
    throw new WeakSharedSecretError();
  }
  let acc = 0;
  for (const b of shared) acc |= b;
  if (acc === 0) throw new WeakSharedSecretError();
  return shared;
}
