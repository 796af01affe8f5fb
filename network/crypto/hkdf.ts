/**
 * HKDF (RFC 5869), and the Noise/WireGuard key-derivation functions built on
 * HMAC-BLAKE2s: KDF1, KDF2 and KDF3 (WireGuard whitepaper §5.4, Noise §4.3).
 */
import { hkdf as nobleHkdf } from "@noble/hashes/hkdf.js";
import { blake2s as nobleBlake2s } from "@noble/hashes/blake2.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { hmacBlake2s } from "./blake2s.ts";

/** Hashes HKDF can be used with here. */
export type HkdfHash = "sha256" | "blake2s";

/** RFC 5869 HKDF (extract then expand) to `length` bytes. */
export function hkdf(
  hash: HkdfHash,
  inputKeyMaterial: Uint8Array,
  salt: Uint8Array | undefined,
  info: Uint8Array | undefined,
  length: number,
): Uint8Array {
  return nobleHkdf(hash === "sha256" ? sha256 : nobleBlake2s, inputKeyMaterial, salt, info, length);
}

/**
 * The Noise HKDF (Noise §4.3) with HMAC-BLAKE2s: the chaining key is the
 * salt, the info is empty, and output i is HMAC(prk, output(i-1) || i).
 * Returns `count` 32-byte outputs (1 to 3).
 */
export function noiseKdf(
  chainingKey: Uint8Array,
  input: Uint8Array,
  count: 1 | 2 | 3,
): Uint8Array[] {
  const prk = hmacBlake2s(chainingKey, input);
  const outputs: Uint8Array[] = [];
  let previous: Uint8Array = new Uint8Array(0);
  for (let i = 1; i <= count; i++) {
    previous = hmacBlake2s(prk, [previous, Uint8Array.of(i)]);
    outputs.push(previous);
  }
  prk.fill(0);
  return outputs;
}

/** WireGuard `KDF1(key, input)` (whitepaper §5.4). */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  return noiseKdf(key, input, 1)[0];
}

/** WireGuard `KDF2(key, input)` (whitepaper §5.4). */
export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const [a, b] = noiseKdf(key, input, 2);
  return [a, b];
}

/** WireGuard `KDF3(key, input)` (whitepaper §5.4). */
export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const [a, b, c] = noiseKdf(key, input, 3);
  return [a, b, c];
}
