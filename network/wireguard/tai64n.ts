/**
 * TAI64N timestamps, as WireGuard carries them in handshake initiations
 * (whitepaper §5.4.2): 8 bytes big-endian seconds since 1970 with the TAI64
 * label 2^62 + 10 added, then 4 bytes big-endian nanoseconds. The low 24 bits
 * of the nanoseconds are cleared, as wireguard-go does, so that the timestamp
 * does not reveal the sender's clock with more precision than ~16.8 ms.
 */
import { TAI64N_SIZE } from "./constants.ts";

// 2^62 + 10: the TAI64 label for 1970-01-01 00:00:10 TAI, i.e. Unix second 0.
const TAI64_BASE_HIGH = 0x40000000;
const TAI64_BASE_LOW = 10;
const WHITENER_MASK = 0x1000000 - 1;

/**
 * The TAI64N timestamp of `unixMilliseconds` (wall-clock time, e.g.
 * `clock.now()`), with sub-millisecond digits zero and the nanoseconds
 * whitened.
 */
export function tai64n(unixMilliseconds: number): Uint8Array {
  if (!Number.isFinite(unixMilliseconds) || unixMilliseconds < 0) {
    throw new RangeError("TAI64N time must be a non-negative number of milliseconds");
  }
  const seconds = Math.floor(unixMilliseconds / 1000);
  const nanos = Math.floor((unixMilliseconds - seconds * 1000) * 1e6);
  const out = new Uint8Array(TAI64N_SIZE);
  const v = new DataView(out.buffer);
  const low = TAI64_BASE_LOW + seconds;
  v.setUint32(0, TAI64_BASE_HIGH + Math.floor(low / 2 ** 32), false);
  v.setUint32(4, low >>> 0, false);
  v.setUint32(8, (nanos - (nanos & WHITENER_MASK)) >>> 0, false);
  return out;
}

/** Whether timestamp `a` is strictly later than `b` (a bytewise comparison). */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TAI64N_SIZE; i++) {
    if (a[i] !== b[i]) return a[i] > b[i];
  }
  return false;
}
