/**
 * ChaCha20-Poly1305 AEAD (RFC 8439), computed by our own WebAssembly module
 * (wasm/chacha20poly1305, Rust; four ChaCha20 blocks per pass in WebAssembly
 * SIMD; `./dev wasm` rebuilds the embedded bytes and `./dev test` checks
 * that they are what the source builds to). A call copies its inputs into
 * the module's scratch region and the result back, and allocates nothing.
 * At MTU size it seals in a little over half the time of libsodium's
 * WebAssembly build, which is portable C without SIMD (about 2.8 vs 5.2 µs
 * per 1,280 bytes on this machine), and in a third of `node:crypto`'s, which
 * builds a stream object per packet. The @noble implementation stays in
 * `chacha20poly1305_reference.ts`; tests/unit/network/crypto/
 * chacha20poly1305_test.ts holds both to the RFC vectors and to each other
 * over 10,000 random inputs, which is what licenses this path.
 */
import { CHACHA20POLY1305_WASM_BASE64 } from "./chacha20poly1305_wasm.ts";

/** Key length in bytes (RFC 8439 §2.8). */
export const CHACHA20POLY1305_KEY_LENGTH = 32;
/** Nonce length in bytes (RFC 8439 §2.8). */
export const CHACHA20POLY1305_NONCE_LENGTH = 12;
/** Authentication tag length in bytes (RFC 8439 §2.8). */
export const CHACHA20POLY1305_TAG_LENGTH = 16;

/** Throws a RangeError unless `key` is 32 bytes and `nonce` 12 bytes. */
export function checkChachaKeyAndNonce(key: Uint8Array, nonce: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== CHACHA20POLY1305_KEY_LENGTH) {
    throw new RangeError(`ChaCha20-Poly1305 key must be ${CHACHA20POLY1305_KEY_LENGTH} bytes`);
  }
  if (!(nonce instanceof Uint8Array) || nonce.length !== CHACHA20POLY1305_NONCE_LENGTH) {
    throw new RangeError(
      `ChaCha20-Poly1305 nonce must be ${CHACHA20POLY1305_NONCE_LENGTH} bytes`,
    );
  }
}

/** The module's exports (wasm/chacha20poly1305/src/lib.rs). */
interface AeadModule {
  readonly memory: WebAssembly.Memory;
  scratch(): number;
  scratch_bytes(): number;
  /** Encrypts text in place and writes the tag; −1 when the lengths do not fit. */
  seal(adLength: number, textAt: number, textLength: number): number;
  /** Decrypts in place when the tag is authentic (0); −1 otherwise, text untouched. */
  open(adLength: number, textAt: number, textLength: number): number;
  /** Plain Poly1305 of whole blocks (tests only); −1 for a partial block. */
  mac(textAt: number, textLength: number): number;
}

function instantiate(): AeadModule {
  const bytes = Uint8Array.from(atob(CHACHA20POLY1305_WASM_BASE64), (c) => c.charCodeAt(0));
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), {})
    .exports as unknown as AeadModule;
}

const aead = instantiate();
/** Offsets in the scratch region (lib.rs): key, nonce, tag, then AD from 64 and the text. */
const KEY_AT = 0;
const NONCE_AT = 32;
const TAG_AT = 48;
const AD_AT = 64;
const scratchBase = aead.scratch();
const scratchBytes = aead.scratch_bytes();
// The module never grows its memory, so one view serves every call.
const scratch = new Uint8Array(aead.memory.buffer, scratchBase, scratchBytes);

/**
 * Where the text goes after `adLength` bytes of AD (16-aligned), checking
 * that both fit the scratch region: 128 KiB, twice the largest datagram.
 */
function textOffset(adLength: number, textLength: number): number {
  const at = (AD_AT + adLength + 15) & ~15;
  if (at + textLength > scratchBytes) {
    throw new RangeError(
      `ChaCha20-Poly1305 input of ${adLength + textLength} bytes exceeds ${scratchBytes - AD_AT}`,
    );
  }
  return at;
}

/**
 * Seals `plaintext` into `out` as ciphertext || tag and returns the number of
 * bytes written (`plaintext.length + 16`). `out` may be the same memory as
 * `plaintext` (in-place sealing) or a view into a larger packet buffer, so
 * that a caller can leave room for its own header. Throws a RangeError when
 * `out` is too small, or the AD and text together pass 128 KiB.
 */
export function chachaSealInto(
  out: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  associatedData?: Uint8Array,
): number {
  checkChachaKeyAndNonce(key, nonce);
  const length = plaintext.length;
  const total = length + CHACHA20POLY1305_TAG_LENGTH;
  if (out.length < total) throw new RangeError(`output needs ${total} bytes, has ${out.length}`);
  const ad = associatedData?.length ?? 0;
  const textAt = textOffset(ad, length);
  scratch.set(key, KEY_AT);
  scratch.set(nonce, NONCE_AT);
  if (ad > 0) scratch.set(associatedData!, AD_AT);
  scratch.set(plaintext, textAt);
  aead.seal(ad, textAt, length);
  // Copies out before the key is wiped: `out` may alias `plaintext`, which is already in scratch.
  out.set(scratch.subarray(textAt, textAt + length), 0);
  out.set(scratch.subarray(TAG_AT, TAG_AT + CHACHA20POLY1305_TAG_LENGTH), length);
  scratch.fill(0, KEY_AT, KEY_AT + CHACHA20POLY1305_KEY_LENGTH);
  return total;
}

/**
 * Checks `sealed` (ciphertext || tag) and, only when it is authentic, writes
 * the plaintext into `out` and returns its length. Returns -1 when
 * authentication fails or `sealed` is shorter than a tag; `out` is then left
 * untouched. `out` may be the same memory as `sealed` (in-place opening).
 * Throws a RangeError when `out` is too small, or the AD and text together
 * pass 128 KiB.
 */
export function chachaOpenInto(
  out: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  associatedData?: Uint8Array,
): number {
  checkChachaKeyAndNonce(key, nonce);
  if (sealed.length < CHACHA20POLY1305_TAG_LENGTH) return -1;
  const length = sealed.length - CHACHA20POLY1305_TAG_LENGTH;
  if (out.length < length) throw new RangeError(`output needs ${length} bytes, has ${out.length}`);
  const ad = associatedData?.length ?? 0;
  const textAt = textOffset(ad, length);
  scratch.set(key, KEY_AT);
  scratch.set(nonce, NONCE_AT);
  if (ad > 0) scratch.set(associatedData!, AD_AT);
  scratch.set(sealed.subarray(0, length), textAt);
  scratch.set(sealed.subarray(length), TAG_AT);
  // The module checks the tag before it decrypts: a forgery writes nothing.
  const result = aead.open(ad, textAt, length);
  scratch.fill(0, KEY_AT, KEY_AT + CHACHA20POLY1305_KEY_LENGTH);
  if (result !== 0) return -1;
  out.set(scratch.subarray(textAt, textAt + length), 0);
  return length;
}

/**
 * Plain Poly1305 (RFC 8439 §2.5) of `message`, a whole number of 16-byte
 * blocks, by the module's own Poly1305: for tests of its edge cases, not for
 * protocol use.
 */
export function poly1305WholeBlocks(key: Uint8Array, message: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new RangeError("Poly1305 key must be 32 bytes");
  const textAt = textOffset(0, message.length);
  scratch.set(key, KEY_AT);
  scratch.set(message, textAt);
  const result = aead.mac(textAt, message.length);
  scratch.fill(0, KEY_AT, KEY_AT + 32);
  if (result !== 0) throw new RangeError("Poly1305 here takes whole 16-byte blocks");
  return scratch.slice(TAG_AT, TAG_AT + 16);
}

/** Encrypts and authenticates `plaintext`; the result is ciphertext || tag. */
export function chachaSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  associatedData?: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(plaintext.length + CHACHA20POLY1305_TAG_LENGTH);
  chachaSealInto(out, key, nonce, plaintext, associatedData);
  return out;
}

/** Checks and decrypts ciphertext || tag; returns null when authentication fails. */
export function chachaOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  associatedData?: Uint8Array,
): Uint8Array | null {
  if (sealed.length < CHACHA20POLY1305_TAG_LENGTH) {
    checkChachaKeyAndNonce(key, nonce);
    return null;
  }
  const out = new Uint8Array(sealed.length - CHACHA20POLY1305_TAG_LENGTH);
  return chachaOpenInto(out, key, nonce, sealed, associatedData) < 0 ? null : out;
}
