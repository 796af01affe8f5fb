/**
 * MAC1, MAC2 and cookies (whitepaper §5.3, §5.4.4, §5.4.7). Both handshake
 * messages end in MAC1 and MAC2, 16 bytes each: MAC1 proves the sender knows
 * the receiver's static public key, MAC2 proves it recently received a
 * cookie for its source address. The initiating side keeps a
 * {@link CookieGenerator} per peer; a responder under load uses one
 * {@link CookieChecker} for its own key. Times are monotonic milliseconds.
 */
import { blake2s } from "../crypto/blake2s.ts";
import type { RandomSource } from "../crypto/random.ts";
import { xchachaOpen, xchachaSeal } from "../crypto/xchacha20poly1305.ts";
import {
  COOKIE_REFRESH_TIME,
  LABEL_COOKIE,
  LABEL_MAC1,
  MAC_SIZE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE_SIZE,
} from "./constants.ts";
import {
  COOKIE_NONCE_SIZE,
  type CookieReplyMessage,
  serializeCookieReply,
  WireGuardMessageError,
} from "./messages.ts";

const encoder = new TextEncoder();
const MAC1_LABEL_BYTES = encoder.encode(LABEL_MAC1);
const COOKIE_LABEL_BYTES = encoder.encode(LABEL_COOKIE);

/** `HASH(LABEL_MAC1 ‖ publicKey)`: the key of MAC1 for messages sent to `publicKey`. */
export function mac1Key(publicKey: Uint8Array): Uint8Array {
  return blake2s([MAC1_LABEL_BYTES, publicKey]);
}

/** `HASH(LABEL_COOKIE ‖ publicKey)`: the key that seals cookie replies from `publicKey`. */
export function cookieKey(publicKey: Uint8Array): Uint8Array {
  return blake2s([COOKIE_LABEL_BYTES, publicKey]);
}

/** Keyed BLAKE2s-128, the `MAC(key, input)` of whitepaper §5.4. */
export function mac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return blake2s(input, { key, outputLength: MAC_SIZE });
}

function macOffsets(message: Uint8Array): [number, number] {
  if (message.length !== MESSAGE_INITIATION_SIZE && message.length !== MESSAGE_RESPONSE_SIZE) {
    throw new WireGuardMessageError(`${message.length} bytes is not a handshake message`);
  }
  const mac2 = message.length - MAC_SIZE;
  return [mac2 - MAC_SIZE, mac2];
}

function equalInConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * The sending side's MAC state for one peer: writes MAC1 (and MAC2 while a
 * cookie is fresh) into outgoing handshake messages, and takes cookie replies.
 */
export class CookieGenerator {
  readonly #mac1Key: Uint8Array;
  readonly #cookieKey: Uint8Array;
  #lastMac1: Uint8Array | undefined;
  #cookie: Uint8Array | undefined;
  #cookieSetAt = 0;

  /** For messages sent to the peer whose static public key is `remoteStatic`. */
  constructor(remoteStatic: Uint8Array) {
    this.#mac1Key = mac1Key(remoteStatic);
    this.#cookieKey = cookieKey(remoteStatic);
  }

  /**
   * Writes MAC1 and MAC2 into the last 32 bytes of a serialized initiation or
   * response, in place. MAC2 stays zero unless a cookie arrived less than
   * COOKIE_REFRESH_TIME before `now`.
   */
  addMacs(message: Uint8Array, now: number): void {
    const [mac1Offset, mac2Offset] = macOffsets(message);
    const mac1 = mac(this.#mac1Key, message.subarray(0, mac1Offset));
    message.set(mac1, mac1Offset);
    this.#lastMac1 = mac1;
    if (this.#cookie !== undefined && now - this.#cookieSetAt <= COOKIE_REFRESH_TIME) {
      message.set(mac(this.#cookie, message.subarray(0, mac2Offset)), mac2Offset);
    } else {
      message.fill(0, mac2Offset);
    }
  }

  /**
   * Opens a cookie reply to the last message this generator MAC'd, and keeps
   * the cookie for MAC2. Returns whether the reply was authentic.
   */
  consumeReply(reply: CookieReplyMessage, now: number): boolean {
    if (this.#lastMac1 === undefined) return false;
    const cookie = xchachaOpen(this.#cookieKey, reply.nonce, reply.encryptedCookie, this.#lastMac1);
    if (cookie === null) return false;
    this.#cookie = cookie;
    this.#cookieSetAt = now;
    return true;
  }
}

/**
 * The receiving side's MAC checks for our own static key, and the cookie
 * replies a responder under load sends (whitepaper §5.3).
 */
export class CookieChecker {
  readonly #mac1Key: Uint8Array;
  readonly #cookieKey: Uint8Array;
  readonly #random: RandomSource;
  #secret: Uint8Array = new Uint8Array(32);
  #secretSetAt = -Infinity;

  /** For messages sent to `localStatic`, our static public key. */
  constructor(localStatic: Uint8Array, random: RandomSource) {
    this.#mac1Key = mac1Key(localStatic);
    this.#cookieKey = cookieKey(localStatic);
    this.#random = random;
  }

  /** Whether the MAC1 of a serialized initiation or response is right. */
  checkMac1(message: Uint8Array): boolean {
    const [mac1Offset, mac2Offset] = macOffsets(message);
    const expected = mac(this.#mac1Key, message.subarray(0, mac1Offset));
    return equalInConstantTime(expected, message.subarray(mac1Offset, mac2Offset));
  }

  /**
   * Whether the MAC2 of a message is right for the cookie we would give
   * `source` (the sender's address bytes) with the current secret.
   */
  checkMac2(message: Uint8Array, source: Uint8Array, now: number): boolean {
    const [, mac2Offset] = macOffsets(message);
    if (now - this.#secretSetAt > COOKIE_REFRESH_TIME) return false;
    const cookie = mac(this.#secret, source);
    const expected = mac(cookie, message.subarray(0, mac2Offset));
    return equalInConstantTime(expected, message.subarray(mac2Offset));
  }

  /**
   * A serialized cookie reply to `message` for `source`, addressed to the
   * message's sender index `receiverIndex`. The secret is renewed when it is
   * older than COOKIE_REFRESH_TIME.
   */
  createReply(
    message: Uint8Array,
    receiverIndex: number,
    source: Uint8Array,
    now: number,
  ): Uint8Array {
    const [mac1Offset, mac2Offset] = macOffsets(message);
    if (now - this.#secretSetAt > COOKIE_REFRESH_TIME) {
      this.#secret = this.#random(32);
      this.#secretSetAt = now;
    }
    const cookie = mac(this.#secret, source);
    const nonce = this.#random(COOKIE_NONCE_SIZE);
    const encryptedCookie = xchachaSeal(
      this.#cookieKey,
      nonce,
      cookie,
      message.subarray(mac1Offset, mac2Offset),
    );
    return serializeCookieReply({ receiverIndex, nonce, encryptedCookie });
  }
}
