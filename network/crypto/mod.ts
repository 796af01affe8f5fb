/**
 * Citadel's crypto core: X25519, ChaCha20-Poly1305, XChaCha20-Poly1305, NaCl
 * box, BLAKE2s with HMAC, HKDF and the WireGuard KDFs, and Tailscale key types.
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
