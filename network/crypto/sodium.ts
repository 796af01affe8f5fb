/**
 * libsodium's WebAssembly build (npm `libsodium`: the raw Emscripten module,
 * no wrappers), loaded once per thread when this module is first imported.
 * Only the exports Citadel calls are typed; pointers are offsets into
 * `HEAPU8`, which must be re-read after any allocation (memory may grow).
 * The build takes each 64-bit length as two 32-bit arguments, low then high.
 *
 * @module
 */
import loadLibsodium from "libsodium";

/** The exports of the libsodium module that Citadel uses. */
export interface Libsodium {
  /** The module's memory; replaced when it grows. */
  readonly HEAPU8: Uint8Array;
  _sodium_init(): number;
  _malloc(size: number): number;
  _free(pointer: number): void;
  _crypto_aead_chacha20poly1305_ietf_encrypt_detached(
    c: number,
    mac: number,
    maclenP: number,
    m: number,
    mlen: number,
    mlenHigh: number,
    ad: number,
    adlen: number,
    adlenHigh: number,
    nsec: number,
    npub: number,
    k: number,
  ): number;
  _crypto_aead_chacha20poly1305_ietf_decrypt_detached(
    m: number,
    nsec: number,
    c: number,
    clen: number,
    clenHigh: number,
    mac: number,
    ad: number,
    adlen: number,
    adlenHigh: number,
    npub: number,
    k: number,
  ): number;
}

async function load(): Promise<Libsodium> {
  const module = await (loadLibsodium as unknown as () => Promise<Libsodium>)();
  // 0: initialised now, 1: already; -1 is a failure to start its RNG.
  if (module._sodium_init() < 0) throw new Error("libsodium failed to initialise");
  return module;
}

/** The loaded module. */
export const sodium: Libsodium = await load();
