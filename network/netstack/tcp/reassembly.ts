/**
 * Which out-of-order ranges a receiver holds above RCV.NXT (RFC 9293
 * §3.10.7.4, "segment text"), and the SACK blocks that report them (RFC
 * 2018 §4). The bytes themselves wait in the receive ring at their offsets;
 * this list only says which are present. It holds at most `maxRanges`
 * disjoint ranges, so a peer sending one byte in every other position
 * cannot make it grow: a segment that would need one more range is refused
 * (the sender retransmits it later).
 *
 * @module
 */
import type { SackBlock } from "../wire/tcp.ts";
import { seqDiff, seqGT, seqLE, seqLT } from "./seq.ts";

interface Range {
  start: number;
  end: number;
  /** When the range last grew, for SACK block order (most recent first). */
  touched: number;
}

/** Out-of-order ranges above RCV.NXT, sorted by sequence number. */
export class Reassembly {
  readonly #maxRanges: number;
  #ranges: Range[] = [];
  #clock = 0;

  /** An empty list that keeps at most `maxRanges` ranges. */
  constructor(maxRanges: number) {
    this.#maxRanges = Math.max(1, maxRanges);
  }

  /** Number of disjoint ranges held. */
  get size(): number {
    return this.#ranges.length;
  }

  /** Bytes covered by the ranges. */
  get bytes(): number {
    let n = 0;
    for (const r of this.#ranges) n += seqDiff(r.end, r.start);
    return n;
  }

  /**
   * Records that [start, end) arrived (the caller has trimmed it to the
   * window, above RCV.NXT). Returns false, recording nothing, when that
   * would take more than `maxRanges` ranges.
   */
  add(start: number, end: number): boolean {
    if (!seqLT(start, end)) return true;
    const ranges = this.#ranges;
    // First range whose end reaches start (touching ranges merge).
    let i = 0;
    while (i < ranges.length && seqLT(ranges[i].end, start)) i++;
    let j = i;
    while (j < ranges.length && seqLE(ranges[j].start, end)) j++;
    const tick = ++this.#clock;
    if (i === j) {
      if (ranges.length >= this.#maxRanges) return false;
      ranges.splice(i, 0, { start, end, touched: tick });
      return true;
    }
    const merged = ranges[i];
    if (seqLT(start, merged.start)) merged.start = start;
    const last = ranges[j - 1];
    merged.end = seqGT(end, last.end) ? end : last.end;
    merged.touched = tick;
    if (j - i > 1) ranges.splice(i + 1, j - i - 1);
    return true;
  }

  /**
   * Removes the ranges that RCV.NXT has reached and returns how far past
   * `rcvNxt` the bytes now run contiguously (0 when the first range starts
   * later).
   */
  advance(rcvNxt: number): number {
    let next = rcvNxt;
    const ranges = this.#ranges;
    let drop = 0;
    while (drop < ranges.length && seqLE(ranges[drop].start, next)) {
      if (seqGT(ranges[drop].end, next)) next = ranges[drop].end;
      drop++;
    }
    if (drop > 0) ranges.splice(0, drop);
    return seqDiff(next, rcvNxt);
  }

  /**
   * Up to `max` SACK blocks, the most recently changed range first (RFC
   * 2018 §4: the first block reports the segment that triggered the ACK).
   */
  sackBlocks(max: number): SackBlock[] {
    if (this.#ranges.length === 0 || max <= 0) return [];
    return [...this.#ranges]
      .sort((a, b) => b.touched - a.touched)
      .slice(0, max)
      .map((r) => ({ left: r.start, right: r.end }));
  }

  /** Whether [start, end) lies wholly inside one held range. */
  covers(start: number, end: number): boolean {
    for (const r of this.#ranges) if (seqLE(r.start, start) && seqLE(end, r.end)) return true;
    return false;
  }

  /** Forgets every range. */
  clear(): void {
    this.#ranges = [];
  }
}
