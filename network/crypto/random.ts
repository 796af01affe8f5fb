/**
 * A source of cryptographically secure random bytes. Injected wherever keys,
 * nonces or jitter are made, so that tests can run deterministically.
 */
export type RandomSource = (length: number) => Uint8Array;

/** The system's CSPRNG (WebCrypto `getRandomValues`). */
export const systemRandom: RandomSource = (length: number): Uint8Array => {
  const out = new Uint8Array(length);
  // getRandomValues fills at most 65536 bytes per call.
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + 65536)));
  }
  return out;
};
