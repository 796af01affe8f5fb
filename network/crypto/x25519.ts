/**
 * X25519 Diffie-Hellman (RFC 7748), with @noble/curves as the implementation.
 */
import { x25519 as nobleX25519 } from "@noble/curves/ed25519.js";
import { type RandomSource, systemRandom } from "./random.ts";

/** Length in bytes of X25519 keys and shared secrets (RFC 7748 §5). */
export const X25519_KEY_LENGTH = 32;

/** Thrown when a Diffie-Hellman result is all zeros (a low-order peer key). */
export class WeakSharedSecretError extends Error {
  constructor() {
    super("X25519 produced an all-zero shared secret (low-order public key)");
    this.name = "WeakSharedSecretError";
  }
}

/**
 * Clamps a private scalar in place as RFC 7748 §5 requires, and as Tailscale
 * stores its keys: clear the low 3 bits, clear bit 255, set bit 254.
 */
export function clampPrivateKey(key: Uint8Array): Uint8Array {
  key[0] &= 248;
  key[31] = (key[31] & 127) | 64;
  return key;
}

/** Makes a new clamped X25519 private key. */
export function generatePrivateKey(random: RandomSource = systemRandom): Uint8Array {
  return clampPrivateKey(random(X25519_KEY_LENGTH));
}

/** The public key of `privateKey` (scalar multiplication by the base point 9). */
export function publicKeyFromPrivate(privateKey: Uint8Array): Uint8Array {
  return nobleX25519.getPublicKey(privateKey);
}

/**
 * The X25519 shared secret of our private key and their public key. Throws
 * {@link WeakSharedSecretError} when the result is all zeros, as Noise and
 * WireGuard require.
 */
export function x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = nobleX25519.getSharedSecret(privateKey, publicKey);
  } catch {
    // @noble rejects an all-zero result itself.
    throw new WeakSharedSecretError();
  }
  let acc = 0;
  for (const b of shared) acc |= b;
  if (acc === 0) throw new WeakSharedSecretError();
  return shared;
}
