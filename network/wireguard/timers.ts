/**
 * Every time-driven rule of a WireGuard peer, in one place (whitepaper §6;
 * the event hooks and their effects follow wireguard-go's timers.go). The
 * peer reports events (`dataSent`, `handshakeInitiated`, …) with the
 * current monotonic time, asks {@link PeerTimers.expireNext} which timer has
 * fired, and asks the predicates here whether a keypair may still send or
 * receive and whether it is time to rekey. Nothing here reads a clock or
 * sets a real timer: the owner calls `expireNext(now)` at
 * {@link PeerTimers.nextDeadline}, so tests run in virtual time.
 */
import type { RandomSource } from "../crypto/random.ts";
import {
  KEEPALIVE_TIMEOUT,
  MAX_TIMER_HANDSHAKES,
  REJECT_AFTER_MESSAGES,
  REJECT_AFTER_TIME,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX_MS,
} from "./constants.ts";
import type { Keypair } from "./keypair.ts";

/**
 * What a fired timer asks the peer to do:
 * - `retransmitHandshake`: send a new initiation (a retry, whitepaper §6.4);
 * - `giveUpHandshake`: REKEY_ATTEMPT_TIME passed without a response: drop staged packets;
 * - `sendKeepalive`: data arrived and we sent nothing for KEEPALIVE_TIMEOUT (§6.5);
 * - `newHandshake`: we sent data and heard nothing for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (§6.5);
 * - `zeroKeyMaterial`: no new session for 3 × REJECT_AFTER_TIME: erase all keys (§6.3);
 * - `persistentKeepalive`: the configured persistent keepalive interval passed.
 */
export type TimerAction =
  | "retransmitHandshake"
  | "giveUpHandshake"
  | "sendKeepalive"
  | "newHandshake"
  | "zeroKeyMaterial"
  | "persistentKeepalive";

const SEND_LIMIT = Number(REJECT_AFTER_MESSAGES);

/** Whether `keypair` may seal another message at `now` (whitepaper §6.1). */
export function keypairCanSend(keypair: Keypair | undefined, now: number): keypair is Keypair {
  return keypair !== undefined && keypair.sendCounter < SEND_LIMIT &&
    now - keypair.created < REJECT_AFTER_TIME;
}

/** Whether a message that arrived under `keypair` at `now` is too late (whitepaper §6.1). */
export function keypairExpiredForReceiving(keypair: Keypair, now: number): boolean {
  return now - keypair.created > REJECT_AFTER_TIME;
}

/** The timer state of one peer. Times are monotonic milliseconds. */
export class PeerTimers {
  readonly #random: RandomSource;
  readonly #persistentKeepaliveInterval: number;
  #retransmitHandshake: number | undefined;
  #sendKeepalive: number | undefined;
  #newHandshake: number | undefined;
  #zeroKeyMaterial: number | undefined;
  #persistentKeepalive: number | undefined;
  #handshakeAttempts = 0;
  #needAnotherKeepalive = false;
  #rearmKeepalive = false;
  #sentLastMinuteHandshake = false;
  #lastSentHandshake = -Infinity;
  #lastHandshakeCompleted: number | undefined;

  /**
   * Timers drawing jitter from `random`; `persistentKeepaliveInterval` in ms,
   * 0 (Tailscale's setting) for none.
   */
  constructor(random: RandomSource, persistentKeepaliveInterval = 0) {
    this.#random = random;
    this.#persistentKeepaliveInterval = persistentKeepaliveInterval;
  }

  #jitter(): number {
    const bytes = this.#random(2);
    return ((bytes[0] << 8) | bytes[1]) % REKEY_TIMEOUT_JITTER_MAX_MS;
  }

  /** Initiations sent for the current handshake beyond the first. */
  get handshakeAttempts(): number {
    return this.#handshakeAttempts;
  }

  /** When the last handshake completed, or `undefined`. */
  get lastHandshakeCompleted(): number | undefined {
    return this.#lastHandshakeCompleted;
  }

  /** After an authenticated non-empty transport message is sent. */
  dataSent(now: number): void {
    if (this.#newHandshake === undefined) {
      this.#newHandshake = now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + this.#jitter();
    }
  }

  /** After an authenticated non-empty transport message is received. */
  dataReceived(now: number): void {
    if (this.#sendKeepalive === undefined) this.#sendKeepalive = now + KEEPALIVE_TIMEOUT;
    else this.#needAnotherKeepalive = true;
  }

  /** After any authenticated message is sent: handshake, keepalive or data. */
  anyAuthenticatedPacketSent(): void {
    this.#sendKeepalive = undefined;
  }

  /** After any authenticated message is received: handshake, keepalive or data. */
  anyAuthenticatedPacketReceived(): void {
    this.#newHandshake = undefined;
  }

  /** Before any authenticated message is sent or after one is received. */
  anyAuthenticatedPacketTraversal(now: number): void {
    if (this.#persistentKeepaliveInterval > 0) {
      this.#persistentKeepalive = now + this.#persistentKeepaliveInterval;
    }
  }

  /** After an initiation is sent. */
  handshakeInitiated(now: number): void {
    this.#retransmitHandshake = now + REKEY_TIMEOUT + this.#jitter();
  }

  /** After a response is consumed, or a responder's keypair is confirmed. */
  handshakeComplete(now: number): void {
    this.#retransmitHandshake = undefined;
    this.#handshakeAttempts = 0;
    this.#sentLastMinuteHandshake = false;
    this.#lastHandshakeCompleted = now;
  }

  /** After transport keys are derived (either role). */
  sessionDerived(now: number): void {
    this.#zeroKeyMaterial = now + REJECT_AFTER_TIME * 3;
  }

  /** After a response is sent: it counts as a handshake message for the throttle. */
  handshakeResponseSent(now: number): void {
    this.#lastSentHandshake = now;
  }

  /**
   * Whether an initiation may be sent now: at most one per REKEY_TIMEOUT
   * (whitepaper §6.2). A fresh attempt (not a retry) resets the attempt
   * count. When it returns true the send is recorded.
   */
  mayInitiate(now: number, isRetry: boolean): boolean {
    if (!isRetry) this.#handshakeAttempts = 0;
    if (now - this.#lastSentHandshake < REKEY_TIMEOUT) return false;
    this.#lastSentHandshake = now;
    return true;
  }

  /**
   * Whether to start a handshake after sending under `keypair` (whitepaper
   * §6.2): after REKEY_AFTER_MESSAGES messages, or, when we initiated it,
   * once it is older than REKEY_AFTER_TIME.
   */
  shouldRekeyAfterSend(keypair: Keypair | undefined, now: number): boolean {
    return keypair !== undefined && (keypair.sendCounter > REKEY_AFTER_MESSAGES ||
      (keypair.isInitiator && now - keypair.created > REKEY_AFTER_TIME));
  }

  /**
   * Whether to start a handshake after receiving under `keypair` (whitepaper
   * §6.2): once per session, when we initiated it and it is older than
   * REJECT_AFTER_TIME − KEEPALIVE_TIMEOUT − REKEY_TIMEOUT, so that a quiet
   * sender still rekeys before the keypair dies.
   */
  shouldRekeyAfterReceive(keypair: Keypair | undefined, now: number): boolean {
    if (this.#sentLastMinuteHandshake || keypair === undefined || !keypair.isInitiator) {
      return false;
    }
    if (now - keypair.created <= REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT) {
      return false;
    }
    this.#sentLastMinuteHandshake = true;
    return true;
  }

  /** The earliest armed deadline, or `undefined` when no timer is armed. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (
      const t of [
        this.#retransmitHandshake,
        this.#sendKeepalive,
        this.#newHandshake,
        this.#zeroKeyMaterial,
        this.#persistentKeepalive,
      ]
    ) {
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    return next;
  }

  /**
   * Fires the earliest timer whose deadline is at or before `now`, applies
   * its effect on the timer state, and returns what the peer must do; returns
   * `undefined` when none is due. Call it until it returns `undefined`, doing
   * each action before the next call.
   */
  expireNext(now: number): TimerAction | undefined {
    if (this.#rearmKeepalive) {
      // Re-armed only after the keepalive went out, since sending disarms this timer.
      this.#rearmKeepalive = false;
      this.#sendKeepalive = now + KEEPALIVE_TIMEOUT;
    }
    const next = this.nextDeadline();
    if (next === undefined || next > now) return undefined;
    if (this.#retransmitHandshake === next) {
      this.#retransmitHandshake = undefined;
      if (this.#handshakeAttempts > MAX_TIMER_HANDSHAKES) {
        this.#sendKeepalive = undefined;
        if (this.#zeroKeyMaterial === undefined) {
          this.#zeroKeyMaterial = now + REJECT_AFTER_TIME * 3;
        }
        return "giveUpHandshake";
      }
      this.#handshakeAttempts++;
      return "retransmitHandshake";
    }
    if (this.#sendKeepalive === next) {
      this.#sendKeepalive = undefined;
      if (this.#needAnotherKeepalive) {
        this.#needAnotherKeepalive = false;
        this.#rearmKeepalive = true;
      }
      return "sendKeepalive";
    }
    if (this.#newHandshake === next) {
      this.#newHandshake = undefined;
      return "newHandshake";
    }
    if (this.#zeroKeyMaterial === next) {
      this.#zeroKeyMaterial = undefined;
      return "zeroKeyMaterial";
    }
    this.#persistentKeepalive = undefined;
    return "persistentKeepalive";
  }

  /** Disarms every timer (the peer is being removed). */
  stop(): void {
    this.#rearmKeepalive = false;
    this.#retransmitHandshake = undefined;
    this.#sendKeepalive = undefined;
    this.#newHandshake = undefined;
    this.#zeroKeyMaterial = undefined;
    this.#persistentKeepalive = undefined;
  }
}
