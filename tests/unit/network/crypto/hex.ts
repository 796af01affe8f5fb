/** Hex conversion for test vectors: whitespace in vector text is ignored. */

/** Bytes of a hex string; spaces and newlines are skipped. */
export function fromHex(text: string): Uint8Array {
  const hex = text.replace(/\s+/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error(`not hex: ${hex.slice(0, 20)}…`);
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Bytes 0, 1, 2, … (mod 256) of the given length, as the BLAKE2 KATs use. */
export function countingBytes(length: number, start = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}
