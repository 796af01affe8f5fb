/**
 * Citadel's crypto core: X25519, ChaCha20-Poly1305, XChaCha20-Poly1305, NaCl
 * box, BLAKE2s with HMAC, HKDF and the WireGuard KDFs, and Tailscale key types.
 *
 * X25519 and ChaCha20-Poly1305 run on the runtime's native `node:crypto`;
 * the rest on @noble. The @noble versions of the two native primitives live
 * in `x25519_reference.ts` and `chacha20poly1305_reference.ts`, deliberately
 * not exported here: they exist so that tests can hold the native paths to
 * them, not for protocol code.
 *
 * @module
 */
export * from "./random.ts";
export * from "./x25519.ts";
export * from "./chacha20poly1305.ts";
export * from "./xchacha20poly1305.ts";
export * from "./nacl_box.ts";
export * from "./blake2s.ts";
export * from "./hkdf.ts";
export * from "./keys.ts";
