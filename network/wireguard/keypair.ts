/**
 * Transport keypairs and their rotation (whitepaper §5.4.5, §6.1; the
 * previous/current/next slots follow wireguard-go). A keypair holds the two
 * transport keys of one handshake, our send counter, the replay window of
 * received counters, and its creation time (monotonic milliseconds).
 */
import { REKEY_TIMEOUT } from "./constants.ts";
import { ReplayWindow } from "./replay_window.ts";
import type { TransportKeys } from "./noise_handshake.ts";

/** One session's keys and counters. */
export class Keypair {
  /** Key that seals what we send (secret). */
  readonly sendKey: Uint8Array;
  /** Key that opens what we receive (secret). */
  readonly receiveKey: Uint8Array;
  /** Our index: transport messages to us carry it. */
  readonly localIndex: number;
  /** The peer's index: our transport messages carry it. */
  readonly remoteIndex: number;
  /** Whether we initiated the handshake that made this keypair. */
  readonly isInitiator: boolean;
  /** When the keypair was derived, in monotonic milliseconds. */
  readonly created: number;
  /** The counter (nonce) of the next message we send. */
  sendCounter = 0;
  /** Counters already received. */
  readonly replayWindow: ReplayWindow = new ReplayWindow();

  /** Takes ownership of the transport keys of a finished handshake, made at `now`. */
  constructor(keys: TransportKeys, now: number) {
    this.sendKey = keys.sendKey;
    this.receiveKey = keys.receiveKey;
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
    this.isInitiator = keys.isInitiator;
    this.created = now;
  }

  /** Overwrites the keys with zeros; the keypair is unusable afterwards. */
  zero(): void {
    this.sendKey.fill(0);
    this.receiveKey.fill(0);
  }
}

/**
 * The three keypair slots of a peer. `current` sends; `previous` still
 * receives what was in flight; `next` is a responder's new keypair that
 * waits for the initiator's first transport message (key confirmation,
 * whitepaper §5.4.6) before it may send.
 */
export class Keypairs {
  /** The keypair before `current`, kept to open late packets. */
  previous: Keypair | undefined;
  /** The keypair we send with. */
  current: Keypair | undefined;
  /** A responder's unconfirmed keypair. */
  next: Keypair | undefined;

  /**
   * Installs a new keypair and returns those it displaces, for the caller to
   * free their indices and zero them. An initiator's keypair is confirmed by
   * the response and becomes `current` at once; a responder's waits in
   * `next`.
   *
   * An initiator's install keeps for late packets the `next` keypair over
   * `current`, as wireguard-go does, but only while `next` is younger than
   * REKEY_TIMEOUT. An initiator sends on its keypair as soon as our response
   * arrives, so a `next` that old was never confirmed and never will be (its
   * handshake crossed ours and the peer forgot it), while the peer may still
   * be sending on `current` until it confirms the new one: wireguard-go's
   * rule dropped those packets (tests/unit/network/wireguard/rekey_under_traffic_test.ts,
   * seed 580154043, lost one at the first rekey after such a crossing).
   */
  install(keypair: Keypair): Keypair[] {
    const dropped: Keypair[] = [];
    if (keypair.isInitiator) {
      if (this.next !== undefined && keypair.created - this.next.created >= REKEY_TIMEOUT) {
        dropped.push(this.next);
        this.next = undefined;
      }
      if (this.next !== undefined) {
        // An unconfirmed keypair is newer than current: keep it for in-flight packets.
        if (this.current) dropped.push(this.current);
        if (this.previous) dropped.push(this.previous);
        this.previous = this.next;
        this.next = undefined;
      } else {
        if (this.previous) dropped.push(this.previous);
        this.previous = this.current;
      }
      this.current = keypair;
    } else {
      if (this.next) dropped.push(this.next);
      if (this.previous) dropped.push(this.previous);
      this.next = keypair;
      this.previous = undefined;
    }
    return dropped;
  }

  /**
   * Called with the keypair a transport message authenticated under. When it
   * is `next`, it becomes `current` (key confirmation); returns the keypair
   * this displaced, or `undefined`, and whether a rotation happened.
   */
  confirm(keypair: Keypair): { rotated: boolean; dropped: Keypair | undefined } {
    if (this.next !== keypair) return { rotated: false, dropped: undefined };
    const dropped = this.previous;
    this.previous = this.current;
    this.current = keypair;
    this.next = undefined;
    return { rotated: true, dropped };
  }

  /**
   * Stops sending on `current`: it becomes `previous` (late packets from the
   * peer still open with it). Returns the keypair that made room, if any.
   */
  retireCurrent(): Keypair | undefined {
    if (this.current === undefined) return undefined;
    const dropped = this.previous;
    this.previous = this.current;
    this.current = undefined;
    return dropped;
  }

  /** Empties every slot and returns the keypairs that were held. */
  clear(): Keypair[] {
    const all = [this.previous, this.current, this.next].filter((k): k is Keypair =>
      k !== undefined
    );
    this.previous = this.current = this.next = undefined;
    return all;
  }
}
