/**
 * The sealed disco packet as it travels in a UDP datagram or a DERP packet
 * (data-plane reference §2.5):
 *
 * ```
 * magic "TS💬" (6) ‖ sender disco public key (32) ‖ nonce (24) ‖ tag (16) ‖ ciphertext
 * ```
 *
 * The box is NaCl `crypto_box` between the two disco keys: the shared key is
 * computed once per peer ({@link DiscoSharedKey}) and every message gets a
 * fresh random nonce. Opening never throws: a packet that is not ours to read
 * comes back as a typed failure, and callers drop it silently as tailscaled
 * does.
 *
 * @module
 */

import type { DiscoPrivateKey } from "../crypto/keys.ts";
import { DiscoPublicKey } from "../crypto/keys.ts";
import {
  BOX_NONCE_LENGTH,
  BOX_OVERHEAD,
  boxBeforeNm,
  boxOpenAfterNm,
  boxSealAfterNm,
} from "../crypto/nacl_box.ts";
import type { RandomSource } from "../crypto/random.ts";
import { WeakSharedSecretError } from "../crypto/x25519.ts";
import {
  type DiscoMessage,
  DiscoMessageError,
  marshalDiscoMessage,
  parseDiscoMessage,
} from "./disco_message.ts";

/** The 6-byte magic that starts every disco packet: "TS" and U+1F4AC 💬 in UTF-8. */
export const DISCO_MAGIC: Uint8Array = Uint8Array.of(0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac);
/** Length of the sender's disco public key after the magic. */
export const DISCO_KEY_LENGTH = 32;
/** Magic and sender key: what magicsock checks before calling a datagram disco (Go's `discoHeaderLen`). */
export const DISCO_HEADER_LENGTH: number = DISCO_MAGIC.length + DISCO_KEY_LENGTH;
/** Magic, sender key and nonce: the fixed part before the box's tag. */
export const DISCO_SEALED_HEADER_LENGTH: number = DISCO_HEADER_LENGTH + BOX_NONCE_LENGTH;
/** The smallest packet whose box could open: header, nonce, tag and an empty payload. */
export const DISCO_MIN_PACKET_LENGTH: number = DISCO_SEALED_HEADER_LENGTH + BOX_OVERHEAD;

/**
 * Whether a datagram is disco rather than WireGuard: at least magic and
 * sender key long, starting with the magic (reference §2.2 step 3). Cheap
 * enough for every received packet; it reads 6 bytes and allocates nothing.
 */
export function looksLikeDiscoPacket(packet: Uint8Array): boolean {
  if (packet.length < DISCO_HEADER_LENGTH) return false;
  for (let i = 0; i < DISCO_MAGIC.length; i++) if (packet[i] !== DISCO_MAGIC[i]) return false;
  return true;
}

/**
 * The sender's disco public key of a packet that {@link looksLikeDiscoPacket};
 * null otherwise. Used to find the peer before paying for the box.
 */
export function discoPacketSender(packet: Uint8Array): DiscoPublicKey | null {
  if (!looksLikeDiscoPacket(packet)) return null;
  return new DiscoPublicKey(packet.subarray(DISCO_MAGIC.length, DISCO_HEADER_LENGTH));
}

/**
 * The NaCl box key between our disco key and one peer's: derive it once per
 * peer (it costs an X25519) and reuse it for every message both ways.
 */
export class DiscoSharedKey {
  /** Our disco public key, written into every packet we seal. */
  readonly ourPublic: DiscoPublicKey;
  /** The peer's disco public key. */
  readonly theirPublic: DiscoPublicKey;
  readonly #key: Uint8Array;

  private constructor(ourPublic: DiscoPublicKey, theirPublic: DiscoPublicKey, key: Uint8Array) {
    this.ourPublic = ourPublic;
    this.theirPublic = theirPublic;
    this.#key = key;
  }

  /**
   * `crypto_box_beforenm(theirs, ours)`. Throws `WeakSharedSecretError` for
   * a low-order peer key: no box with such a key proves anything.
   */
  static derive(ours: DiscoPrivateKey, theirs: DiscoPublicKey): DiscoSharedKey {
    return new DiscoSharedKey(ours.publicKey(), theirs, boxBeforeNm(theirs.bytes, ours.secret));
  }

  /** Seals `plaintext` under `nonce`: returns nonce ‖ tag ‖ ciphertext. */
  seal(plaintext: Uint8Array, nonce: Uint8Array): Uint8Array {
    const sealed = boxSealAfterNm(this.#key, nonce, plaintext);
    const out = new Uint8Array(BOX_NONCE_LENGTH + sealed.length);
    out.set(nonce);
    out.set(sealed, BOX_NONCE_LENGTH);
    return out;
  }

  /** Opens nonce ‖ tag ‖ ciphertext; null when short or forged. */
  open(box: Uint8Array): Uint8Array | null {
    if (box.length < BOX_NONCE_LENGTH + BOX_OVERHEAD) return null;
    return boxOpenAfterNm(
      this.#key,
      box.subarray(0, BOX_NONCE_LENGTH),
      box.subarray(BOX_NONCE_LENGTH),
    );
  }

  /** A redacted form: the shared key is as secret as a private key. */
  toString(): string {
    return `DiscoSharedKey(${this.ourPublic.toShortString()} ↔ ${this.theirPublic.toShortString()})`;
  }

  /** Redacted, like {@link DiscoSharedKey.toString}. */
  toJSON(): string {
    return this.toString();
  }

  /** Redacted for `Deno.inspect` and `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /** Redacted for `node:util` `inspect`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/**
 * Seals a message for a peer into a complete disco packet with a fresh
 * random nonce. Pass `shared` (from {@link DiscoSharedKey.derive}) to skip
 * the X25519; without it the key is derived for this one message.
 *
 * Throws `DiscoMessageError` for an unencodable message and
 * `WeakSharedSecretError` for a low-order peer key.
 *
 * @example
 * ```ts
 * const packet = sealDiscoMessage(
 *   { type: "ping", txId, nodeKey: ourNodeKey.publicKey(), padding: 0 },
 *   ourDisco, peerDisco, systemRandom,
 * );
 * ```
 */
export function sealDiscoMessage(
  message: DiscoMessage,
  ourDiscoPrivate: DiscoPrivateKey,
  theirDiscoPublic: DiscoPublicKey,
  random: RandomSource,
  shared?: DiscoSharedKey,
): Uint8Array {
  const key = shared ?? DiscoSharedKey.derive(ourDiscoPrivate, theirDiscoPublic);
  const box = key.seal(marshalDiscoMessage(message), random(BOX_NONCE_LENGTH));
  const out = new Uint8Array(DISCO_HEADER_LENGTH + box.length);
  out.set(DISCO_MAGIC);
  out.set(key.ourPublic.bytes, DISCO_MAGIC.length);
  out.set(box, DISCO_HEADER_LENGTH);
  return out;
}

/**
 * What a peer lookup tells {@link openDiscoPacket} about a sender: `false` or
 * null for a disco key not in the netmap (dropped unopened), `true` to derive
 * the shared key now, or the cached {@link DiscoSharedKey}.
 */
export type DiscoPeerLookup = (sender: DiscoPublicKey) => DiscoSharedKey | boolean | null;

/** Why {@link openDiscoPacket} could not read a packet. */
export type DiscoOpenFailure =
  /** Not disco at all (no magic, or shorter than magic and key). */
  | "not-disco"
  /** The sender's disco key belongs to no known peer (tailscaled: `RecvDiscoBadPeer`). */
  | "unknown-sender"
  /** The box did not open: forged, corrupted, sealed to another key, or a low-order sender key. */
  | "bad-box"
  /** The box opened but the payload is no disco message (short, or an unknown type). */
  | "bad-message";

/** The result of {@link openDiscoPacket}. */
export type OpenedDiscoPacket =
  | {
    /** Success. */
    readonly ok: true;
    /** The sender's disco key (authenticated by the box). */
    readonly sender: DiscoPublicKey;
    /** The message. */
    readonly message: DiscoMessage;
  }
  | {
    /** Failure; drop the packet. */
    readonly ok: false;
    /** Why. */
    readonly reason: DiscoOpenFailure;
    /** The claimed sender, when the header was readable. */
    readonly sender: DiscoPublicKey | null;
    /** A detail for debug logs (the parse error), never key material. */
    readonly detail?: string;
  };

/**
 * Opens a disco packet addressed to us. Never throws: anything that is not a
 * readable message from a known peer comes back as `{ ok: false, reason }`.
 * The sender is looked up before the box is opened, as tailscaled does, so
 * strangers cost no X25519.
 *
 * @example
 * ```ts
 * const opened = openDiscoPacket(datagram, ourDisco, (k) => peers.sharedKeyFor(k));
 * if (opened.ok && opened.message.type === "ping") { ... }
 * ```
 */
export function openDiscoPacket(
  packet: Uint8Array,
  ourDiscoPrivate: DiscoPrivateKey,
  lookupPeer: DiscoPeerLookup,
): OpenedDiscoPacket {
  const sender = discoPacketSender(packet);
  if (!sender) return { ok: false, reason: "not-disco", sender: null };
  let shared: DiscoSharedKey | boolean | null;
  try {
    shared = lookupPeer(sender);
  } catch {
    return { ok: false, reason: "unknown-sender", sender };
  }
  if (!shared) return { ok: false, reason: "unknown-sender", sender };
  if (shared === true) {
    try {
      shared = DiscoSharedKey.derive(ourDiscoPrivate, sender);
    } catch (error) {
      if (error instanceof WeakSharedSecretError) return { ok: false, reason: "bad-box", sender };
      throw error;
    }
  } else if (!shared.theirPublic.equals(sender)) {
    // A cached key for another peer would never open the box; say so plainly.
    return { ok: false, reason: "bad-box", sender };
  }
  const payload = shared.open(packet.subarray(DISCO_HEADER_LENGTH));
  if (!payload) return { ok: false, reason: "bad-box", sender };
  try {
    return { ok: true, sender, message: parseDiscoMessage(payload) };
  } catch (error) {
    if (error instanceof DiscoMessageError) {
      return { ok: false, reason: "bad-message", sender, detail: error.message };
    }
    throw error;
  }
}
