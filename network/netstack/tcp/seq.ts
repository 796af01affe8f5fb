/**
 * Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4): every comparison
 * of sequence numbers goes through these, so that wrap-around is never a
 * special case elsewhere. Two numbers compare by the sign of their 32-bit
 * difference, which is meaningful while they lie within 2^31 of each other
 * (windows are at most 2^30, RFC 7323 §2.3).
 *
 * @module
 */

/** `a + n` modulo 2^32, as an unsigned number. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance `a − b` (negative when `a` lies before `b`). */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** Whether `a` lies before `b`. */
export function seqLT(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** Whether `a` lies before or at `b`. */
export function seqLE(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** Whether `a` lies after `b`. */
export function seqGT(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** Whether `a` lies at or after `b`. */
export function seqGE(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** The later of two sequence numbers. */
export function seqMax(a: number, b: number): number {
  return seqLT(a, b) ? b : a;
}

/** The earlier of two sequence numbers. */
export function seqMin(a: number, b: number): number {
  return seqLT(a, b) ? a : b;
}

/** Whether `lo ≤ x < hi` in sequence space. */
export function seqInRange(x: number, lo: number, hi: number): boolean {
  return seqLE(lo, x) && seqLT(x, hi);
}
