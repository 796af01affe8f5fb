/**
 * Micro-benchmarks of network/crypto: the native paths against their @noble
 * references. Run with `deno bench --allow-all bench/crypto_bench.ts`.
 */
import { chachaOpen, chachaSeal, chachaSealInto } from "../network/crypto/chacha20poly1305.ts";
import {
  chachaOpenReference,
  chachaSealReference,
} from "../network/crypto/chacha20poly1305_reference.ts";
import { publicKeyFromPrivate, x25519 } from "../network/crypto/x25519.ts";
import {
  publicKeyFromPrivateReference,
  x25519Reference,
} from "../network/crypto/x25519_reference.ts";
import { blake2s, hmacBlake2s } from "../network/crypto/blake2s.ts";
import { boxOpenAfterNm, boxSealAfterNm } from "../network/crypto/nacl_box.ts";
import { kdf2 } from "../network/crypto/hkdf.ts";

const key = crypto.getRandomValues(new Uint8Array(32));
const nonce = new Uint8Array(12);
const privateKey = crypto.getRandomValues(new Uint8Array(32));
const peerPublic = publicKeyFromPrivate(crypto.getRandomValues(new Uint8Array(32)));

for (const size of [64, 1420]) {
  const plaintext = crypto.getRandomValues(new Uint8Array(size));
  const sealed = chachaSeal(key, nonce, plaintext);
  const out = new Uint8Array(16 + size + 16);
  const group = `chacha20poly1305 seal ${size} B`;
  Deno.bench(`native ${size} B`, { group, baseline: true }, () => {
    chachaSeal(key, nonce, plaintext);
  });
  Deno.bench(`native into ${size} B`, { group }, () => {
    chachaSealInto(out.subarray(16), key, nonce, plaintext);
  });
  Deno.bench(`reference ${size} B`, { group }, () => {
    chachaSealReference(key, nonce, plaintext);
  });
  const openGroup = `chacha20poly1305 open ${size} B`;
  Deno.bench(`native open ${size} B`, { group: openGroup, baseline: true }, () => {
    chachaOpen(key, nonce, sealed);
  });
  Deno.bench(`reference open ${size} B`, { group: openGroup }, () => {
    chachaOpenReference(key, nonce, sealed);
  });
}

Deno.bench("native x25519", { group: "x25519", baseline: true }, () => {
  x25519(privateKey, peerPublic);
});
Deno.bench("reference x25519", { group: "x25519" }, () => {
  x25519Reference(privateKey, peerPublic);
});
Deno.bench("native public key", { group: "x25519 public key", baseline: true }, () => {
  publicKeyFromPrivate(privateKey);
});
Deno.bench("reference public key", { group: "x25519 public key" }, () => {
  publicKeyFromPrivateReference(privateKey);
});

const message = crypto.getRandomValues(new Uint8Array(64));
Deno.bench("blake2s 64 B", () => {
  blake2s(message);
});
Deno.bench("hmacBlake2s 64 B", () => {
  hmacBlake2s(key, message);
});
Deno.bench("kdf2", () => {
  kdf2(key, message);
});

const boxNonce = new Uint8Array(24);
const boxed = boxSealAfterNm(key, boxNonce, message);
Deno.bench("nacl box seal 64 B (precomputed key)", () => {
  boxSealAfterNm(key, boxNonce, message);
});
Deno.bench("nacl box open 64 B (precomputed key)", () => {
  boxOpenAfterNm(key, boxNonce, boxed);
});
