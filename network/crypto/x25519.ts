/**
 * X25519 Diffie-Hellman (RFC 7748), computed by the runtime's native
 * `node:crypto` (6x the key agreements per second of @noble/curves, and
 * synchronous, which the Noise and WireGuard handshakes need; WebCrypto's
 * X25519 is faster too but only offers a Promise). The @noble implementation
 * stays in `x25519_reference.ts`; tests/unit/network/crypto/x25519_test.ts
 * holds both to the RFC vectors and to each other over random inputs, which
 * is what licenses this path.
 */
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from "node:crypto";
import { type RandomSource, systemRandom } from "./random.ts";

/** Length in bytes of X25519 keys and shared secrets (RFC 7748 §5). */
export const X25519_KEY_LENGTH = 32;

/**
 * Thrown when a Diffie-Hellman result is all zeros, which happens exactly when
 * the peer's public key is a point of small order (RFC 7748 §6.1). Noise and
 * WireGuard must abort then: the "shared" secret would be known to anyone.
 */
export class WeakSharedSecretError extends Error {
  /** Builds the error; it carries no key material. */
  constructor() {
    super("X25519 produced an all-zero shared secret (low-order public key)");
    this.name = "WeakSharedSecretError";
  }
}

/**
 * Clamps a private scalar in place as RFC 7748 §5 requires, and as Tailscale
 * stores its keys: clear the low 3 bits, clear bit 255, set bit 254.
 * Returns the same array.
 */
export function clampPrivateKey(key: Uint8Array): Uint8Array {
  key[0] &= 248;
  key[31] = (key[31] & 127) | 64;
  return key;
}

/** Makes a new clamped X25519 private key from `random`. */
export function generatePrivateKey(random: RandomSource = systemRandom): Uint8Array {
  return clampPrivateKey(random(X25519_KEY_LENGTH));
}

/** Throws a RangeError unless `bytes` is a 32-byte X25519 key. */
export function checkX25519KeyLength(bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== X25519_KEY_LENGTH) {
    throw new RangeError(`X25519 ${what} must be ${X25519_KEY_LENGTH} bytes`);
  }
}

// RFC 8410 §7 and §4: the DER prefixes of a PKCS#8 private key and of a
// SubjectPublicKeyInfo for the OID 1.3.101.110 (X25519); the raw 32 bytes follow.
const PKCS8_PREFIX = hexBytes("302e020100300506032b656e04220420");
const SPKI_PREFIX = hexBytes("302a300506032b656e032100");

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!, (pair) => parseInt(pair, 16));
}

function derKey(prefix: Uint8Array, raw: Uint8Array): Uint8Array {
  const der = new Uint8Array(prefix.length + X25519_KEY_LENGTH);
  der.set(prefix);
  der.set(raw, prefix.length);
  return der;
}

// The DER copy of a private key is wiped as soon as it has been imported.
function importPrivate(privateKey: Uint8Array): KeyObject {
  const der = derKey(PKCS8_PREFIX, privateKey);
  try {
    return createPrivateKey({ key: der as unknown as Buffer, format: "der", type: "pkcs8" });
  } finally {
    der.fill(0);
  }
}

function importPublic(publicKey: Uint8Array): KeyObject {
  const der = derKey(SPKI_PREFIX, publicKey);
  return createPublicKey({ key: der as unknown as Buffer, format: "der", type: "spki" });
}

/**
 * The public key of `privateKey`: the scalar, clamped (RFC 7748 §5), times
 * the base point u = 9.
 */
export function publicKeyFromPrivate(privateKey: Uint8Array): Uint8Array {
  checkX25519KeyLength(privateKey, "private key");
  const spki = createPublicKey(importPrivate(privateKey)).export({ format: "der", type: "spki" });
  return new Uint8Array(spki.subarray(spki.length - X25519_KEY_LENGTH));
}

/**
 * The X25519 shared secret of our private key and their public key (RFC 7748
 * §5: the scalar is clamped, the top bit of u is ignored, non-canonical u is
 * reduced). Throws {@link WeakSharedSecretError} when the result is all
 * zeros, as Noise (§12.1) and WireGuard require, and a RangeError when either
 * key is not 32 bytes.
 */
export function x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkX25519KeyLength(privateKey, "private key");
  checkX25519KeyLength(publicKey, "public key");
  let shared: Uint8Array;
  try {
    const secret = diffieHellman({
      privateKey: importPrivate(privateKey),
      publicKey: importPublic(publicKey),
    });
    shared = new Uint8Array(secret);
    secret.fill(0);
  } catch {
    // With two well-formed 32-byte keys (every 32-byte string is a valid u),
    // the only way derivation fails is the all-zero check.
    throw new WeakSharedSecretError();
  }
  let acc = 0;
  for (const b of shared) acc |= b;
  if (acc === 0) throw new WeakSharedSecretError();
  return shared;
}
