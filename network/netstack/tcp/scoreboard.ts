/**
 * The sender's retransmission queue and SACK scoreboard (RFC 6675 §3–4):
 * one record per segment sent and not yet cumulatively acknowledged, with
 * the flags RFC 6675 reasons about (SACKed, lost, retransmitted), and the
 * byte counts that give its `pipe` estimate without walking the queue:
 *
 *   pipe = outstanding − SACKed − lost + retransmitted-and-in-flight
 *
 * Loss marking follows RFC 6675's IsLost() by bytes: a segment is lost once
 * more than (DupThresh − 1)·SMSS bytes above it have been SACKed. Those
 * segments always form a prefix of the un-SACKed ones, so one index that
 * only moves forward marks them in amortised constant time. Without SACK,
 * the sender marks the head lost itself (NewReno, RFC 6582), and counts
 * duplicate ACKs as segments that left the network (as Linux does).
 *
 * Nothing here reads the wire: the queue grows only when we send, so its
 * length is bounded by the send buffer.
 *
 * @module
 */
import type { SackBlock } from "../wire/tcp.ts";
import { DUP_THRESH } from "./tcp_config.ts";
import { seqAdd, seqDiff, seqGE, seqGT, seqLE, seqLT } from "./seq.ts";

/** One segment in flight. */
export interface SentSegment {
  /** First sequence number. */
  seq: number;
  /** Data bytes. */
  len: number;
  /** Whether it carries our FIN (one more sequence number). */
  fin: boolean;
  /** When it was last sent (ms). */
  sentAt: number;
  /** Whether it has ever been retransmitted (Karn's rule). */
  everRetransmitted: boolean;
  /** Retransmitted since last marked lost, and so counted once more in pipe. */
  retransInFlight: boolean;
  /** Covered by a SACK block. */
  sacked: boolean;
  /** Considered lost (IsLost, a NewReno head, or an RTO). */
  lost: boolean;
}

function span(s: SentSegment): number {
  return s.len + (s.fin ? 1 : 0);
}

/** What one cumulative ACK removed. */
export interface AckResult {
  /** Sequence space acknowledged (data and FIN). */
  acked: number;
  /** Data bytes acknowledged (what the send buffer can drop). */
  dataAcked: number;
  /** Whether the FIN was acknowledged. */
  finAcked: boolean;
  /** Whether any acknowledged segment had been retransmitted. */
  retransmitted: boolean;
}

/** The queue of segments in flight and its SACK state. */
export class Scoreboard {
  #segs: SentSegment[] = [];
  #first = 0;
  #outstanding = 0;
  #sacked = 0;
  #lost = 0;
  #retrans = 0;
  #dupAckSacked = 0;
  /** Index of the first segment not yet judged lost by the byte rule. */
  #lossIndex = 0;
  /** SACKed bytes in [#first, #lossIndex). */
  #sackedBelowLossIndex = 0;
  /** Index from which to look for the next lost, un-retransmitted segment. */
  #rexmitIndex = 0;
  /** Whether any block has SACKed data since the queue was last empty. */
  #anySacked = false;

  /** Segments in flight. */
  get count(): number {
    return this.#segs.length - this.#first;
  }

  /** Sequence space in flight (FlightSize of RFC 5681). */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** SACKed bytes in flight. */
  get sackedBytes(): number {
    return this.#sacked;
  }

  /** Lost, un-SACKed bytes. */
  get lostBytes(): number {
    return this.#lost;
  }

  /** RFC 6675 §4 pipe: the sender's estimate of bytes still in the network. */
  get pipe(): number {
    const pipe = this.#outstanding - this.#sacked - this.#lost + this.#retrans - this.#dupAckSacked;
    return Math.max(0, pipe);
  }

  /** The oldest segment in flight. */
  get head(): SentSegment | undefined {
    return this.#segs[this.#first];
  }

  /** Appends a segment just sent for the first time. */
  push(seq: number, len: number, fin: boolean, now: number): SentSegment {
    const seg: SentSegment = {
      seq,
      len,
      fin,
      sentAt: now,
      everRetransmitted: false,
      retransInFlight: false,
      sacked: false,
      lost: false,
    };
    this.#segs.push(seg);
    this.#outstanding += span(seg);
    return seg;
  }

  /** Removes what the cumulative ACK `ack` covers; a segment covered in part is trimmed. */
  ackTo(ack: number): AckResult {
    const result: AckResult = { acked: 0, dataAcked: 0, finAcked: false, retransmitted: false };
    const segs = this.#segs;
    while (this.#first < segs.length) {
      const seg = segs[this.#first];
      const end = seqAdd(seg.seq, span(seg));
      if (seqLE(end, ack)) {
        this.#remove(seg, span(seg));
        result.acked += span(seg);
        result.dataAcked += seg.len;
        result.finAcked ||= seg.fin;
        result.retransmitted ||= seg.everRetransmitted;
        this.#first++;
        if (this.#lossIndex < this.#first) {
          this.#lossIndex = this.#first;
          this.#sackedBelowLossIndex = 0;
        } else if (seg.sacked) this.#sackedBelowLossIndex -= span(seg);
        continue;
      }
      if (seqGT(ack, seg.seq)) {
        const d = Math.min(seqDiff(ack, seg.seq), seg.len);
        this.#remove(seg, d);
        if (seg.sacked && this.#first < this.#lossIndex) this.#sackedBelowLossIndex -= d;
        seg.seq = seqAdd(seg.seq, d);
        seg.len -= d;
        result.acked += d;
        result.dataAcked += d;
        result.retransmitted ||= seg.everRetransmitted;
      }
      break;
    }
    if (this.#rexmitIndex < this.#first) this.#rexmitIndex = this.#first;
    // Duplicate-ACK credit cannot outlive the data it stood for.
    this.#dupAckSacked = Math.max(
      0,
      Math.min(this.#dupAckSacked - result.acked, this.#outstanding),
    );
    this.#compact();
    return result;
  }

  /**
   * Marks the segments wholly inside `blocks` as SACKed (RFC 2018 §5.1);
   * blocks outside (una, nxt] are ignored. Returns whether new data was SACKed.
   */
  applySack(blocks: readonly SackBlock[], una: number, nxt: number): boolean {
    let changed = false;
    for (const block of blocks) {
      const right = block.right;
      let left = block.left;
      if (!seqLT(left, right) || seqLE(right, una) || seqGT(right, nxt)) continue;
      if (seqLT(left, una)) left = una;
      for (let i = this.#indexOf(left); i < this.#segs.length; i++) {
        const seg = this.#segs[i];
        if (seqGT(seqAdd(seg.seq, span(seg)), right)) break;
        if (seg.sacked || seqLT(seg.seq, left)) continue;
        seg.sacked = true;
        this.#sacked += span(seg);
        if (seg.lost) this.#lost -= span(seg);
        if (seg.retransInFlight) this.#retrans -= span(seg);
        seg.lost = false;
        seg.retransInFlight = false;
        if (i < this.#lossIndex) this.#sackedBelowLossIndex += span(seg);
        changed = true;
      }
    }
    if (changed) this.#anySacked = true;
    return changed;
  }

  /**
   * RFC 6675 IsLost() by bytes: marks every un-SACKed segment with more
   * than (DupThresh − 1)·`mss` SACKed bytes above it. Returns whether any
   * segment became lost.
   */
  markLostBySack(mss: number, dupThresh = DUP_THRESH): boolean {
    if (!this.#anySacked) return false;
    const threshold = (dupThresh - 1) * mss;
    let marked = false;
    while (this.#lossIndex < this.#segs.length) {
      const seg = this.#segs[this.#lossIndex];
      const above = this.#sacked - this.#sackedBelowLossIndex - (seg.sacked ? span(seg) : 0);
      if (above <= threshold) break;
      if (!seg.sacked && !seg.lost && !seg.retransInFlight) {
        seg.lost = true;
        this.#lost += span(seg);
        marked = true;
      }
      if (seg.sacked) this.#sackedBelowLossIndex += span(seg);
      this.#lossIndex++;
    }
    return marked;
  }

  /** Whether the oldest segment is judged lost (RFC 6675 §5's IsLost(HighACK + 1)). */
  headIsLost(): boolean {
    const head = this.head;
    return head !== undefined && head.lost;
  }

  /** Marks the oldest un-SACKed segment lost (fast retransmit; NewReno partial ACK). */
  markHeadLost(): void {
    for (let i = this.#first; i < this.#segs.length; i++) {
      const seg = this.#segs[i];
      if (seg.sacked) continue;
      if (seg.retransInFlight) {
        seg.retransInFlight = false;
        this.#retrans -= span(seg);
      }
      if (!seg.lost) {
        seg.lost = true;
        this.#lost += span(seg);
      }
      if (i < this.#rexmitIndex) this.#rexmitIndex = i;
      return;
    }
  }

  /**
   * The retransmission timer expired: every un-SACKed segment is lost and
   * none is in flight as a retransmission any more (RFC 6675 §5.1).
   */
  markAllLost(): void {
    this.#lost = 0;
    this.#retrans = 0;
    this.#dupAckSacked = 0;
    for (let i = this.#first; i < this.#segs.length; i++) {
      const seg = this.#segs[i];
      seg.retransInFlight = false;
      seg.lost = !seg.sacked;
      if (seg.lost) this.#lost += span(seg);
    }
    this.#rexmitIndex = this.#first;
  }

  /**
   * A recovery turned out spurious: nothing is lost after all. Lost marks
   * and retransmission credit are dropped; the byte rule starts over.
   */
  clearLost(): void {
    for (let i = this.#first; i < this.#segs.length; i++) {
      const seg = this.#segs[i];
      seg.lost = false;
      seg.retransInFlight = false;
    }
    this.#lost = 0;
    this.#retrans = 0;
    this.#dupAckSacked = 0;
    this.#lossIndex = this.#first;
    this.#sackedBelowLossIndex = 0;
    this.#rexmitIndex = this.#first;
  }

  /** The first lost segment not yet retransmitted (RFC 6675 NextSeg() rule 1). */
  nextLost(): SentSegment | undefined {
    const segs = this.#segs;
    while (this.#rexmitIndex < segs.length) {
      const seg = segs[this.#rexmitIndex];
      if (seg.lost && !seg.retransInFlight) return seg;
      if (!seg.lost && !seg.sacked && !seg.retransInFlight) return undefined;
      this.#rexmitIndex++;
    }
    return undefined;
  }

  /** Records that `seg` was retransmitted now. */
  noteRetransmitted(seg: SentSegment, now: number): void {
    seg.sentAt = now;
    seg.everRetransmitted = true;
    if (!seg.retransInFlight) {
      seg.retransInFlight = true;
      this.#retrans += span(seg);
    }
  }

  /** Without SACK, a duplicate ACK stands for one segment that left the network. */
  noteDuplicateAck(mss: number): void {
    this.#dupAckSacked = Math.min(this.#dupAckSacked + mss, this.#outstanding);
  }

  /** Forgets the duplicate-ACK credit (recovery ended). */
  clearDuplicateAckCredit(): void {
    this.#dupAckSacked = 0;
  }

  /** The segment holding sequence number `seq`, if it is in flight. */
  find(seq: number): SentSegment | undefined {
    const i = this.#indexOf(seq);
    const seg = this.#segs[i];
    return seg && seqLE(seg.seq, seq) && seqLT(seq, seqAdd(seg.seq, span(seg))) ? seg : undefined;
  }

  /** Drops everything (connection closed). */
  clear(): void {
    this.#segs = [];
    this.#first = 0;
    this.#outstanding =
      this.#sacked =
      this.#lost =
      this.#retrans =
      this.#dupAckSacked =
        0;
    this.#lossIndex = this.#sackedBelowLossIndex = this.#rexmitIndex = 0;
    this.#anySacked = false;
  }

  #remove(seg: SentSegment, bytes: number): void {
    this.#outstanding -= bytes;
    if (seg.sacked) this.#sacked -= bytes;
    else if (seg.lost) this.#lost -= bytes;
    if (seg.retransInFlight) this.#retrans -= bytes;
  }

  // Index of the first segment whose end lies after `seq` (binary search; segments are in order).
  #indexOf(seq: number): number {
    let lo = this.#first, hi = this.#segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const seg = this.#segs[mid];
      if (seqLE(seqAdd(seg.seq, span(seg)), seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #compact(): void {
    if (this.#first === this.#segs.length) {
      this.#segs = [];
      this.#lossIndex = this.#rexmitIndex = this.#first = 0;
      this.#sackedBelowLossIndex = 0;
      this.#anySacked = false;
      return;
    }
    if (this.#first < 1024 || this.#first * 2 < this.#segs.length) return;
    const n = this.#first;
    this.#segs.splice(0, n);
    this.#first = 0;
    this.#lossIndex -= n;
    this.#rexmitIndex -= n;
  }
}

/** Whether `ack` acknowledges everything up to and including `seq`. */
export function acknowledges(ack: number, seq: number): boolean {
  return seqGE(ack, seqAdd(seq, 1));
}
