/**
 * The WireGuard handshake, Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s (whitepaper
 * §5.4.2 initiation, §5.4.3 response, §5.4.5 transport keys), for both
 * roles. Pure computation: ephemeral keys, indices and the timestamp are
 * passed in, and the messages come back with MAC1/MAC2 zero for a
 * {@link CookieGenerator} to fill. Replay and flood checks on initiations
 * belong to the peer, which knows the last timestamp it accepted.
 */
import { blake2s } from "../crypto/blake2s.ts";
import { chachaOpen, chachaSeal } from "../crypto/chacha20poly1305.ts";
import { kdf1, kdf2, kdf3 } from "../crypto/hkdf.ts";
import { publicKeyFromPrivate, WeakSharedSecretError, x25519 } from "../crypto/x25519.ts";
import { CONSTRUCTION, IDENTIFIER, MAC_SIZE, TAI64N_SIZE } from "./constants.ts";
import {
  type InitiationMessage,
  KEY_SIZE,
  type ResponseMessage,
  serializeInitiation,
  serializeResponse,
} from "./messages.ts";

const ZERO_NONCE = new Uint8Array(12);
const EMPTY = new Uint8Array(0);
const ZERO_MAC = new Uint8Array(MAC_SIZE);
/** The pre-shared key Tailscale uses: none, which Noise psk2 treats as 32 zero bytes. */
export const ZERO_PRESHARED_KEY: Uint8Array = new Uint8Array(32);

/** Thrown when a handshake message fails authentication or a key is unusable. */
export class WireGuardHandshakeError extends Error {
  /** Builds the error with a description of the failed step; no key material. */
  constructor(message: string) {
    super(message);
    this.name = "WireGuardHandshakeError";
  }
}

let initial: { chainKey: Uint8Array; hash: Uint8Array } | undefined;

/** `C0 = HASH(CONSTRUCTION)` and `H0 = HASH(C0 ‖ IDENTIFIER)` (whitepaper §5.4). */
export function initialChainKeyAndHash(): { chainKey: Uint8Array; hash: Uint8Array } {
  if (initial === undefined) {
    const encoder = new TextEncoder();
    const chainKey = blake2s(encoder.encode(CONSTRUCTION));
    initial = { chainKey, hash: blake2s([chainKey, encoder.encode(IDENTIFIER)]) };
  }
  return { chainKey: initial.chainKey.slice(), hash: initial.hash.slice() };
}

/** The symmetric state both roles carry through a handshake (Noise §5.2). */
interface SymmetricState {
  chainKey: Uint8Array;
  hash: Uint8Array;
}

function mixHash(state: SymmetricState, data: Uint8Array): void {
  state.hash = blake2s([state.hash, data]);
}

function dh(privateKey: Uint8Array, publicKey: Uint8Array, what: string): Uint8Array {
  try {
    return x25519(privateKey, publicKey);
  } catch (error) {
    if (error instanceof WeakSharedSecretError) {
      throw new WireGuardHandshakeError(`${what}: low-order public key`);
    }
    throw error;
  }
}

function checkLength(value: Uint8Array, length: number, what: string): void {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new RangeError(`${what} must be ${length} bytes`);
  }
}

/** The initiator's state between sending an initiation and receiving the response. */
export interface InitiatorHandshake {
  /** Our index for this handshake: the response's receiver index. */
  readonly localIndex: number;
  /** The responder's static public key. */
  readonly remoteStatic: Uint8Array;
  /** Our ephemeral private key (secret). */
  readonly localEphemeral: Uint8Array;
  /** Chaining key after the initiation (secret). */
  readonly chainKey: Uint8Array;
  /** Handshake hash after the initiation. */
  readonly hash: Uint8Array;
}

/** The responder's state after a valid initiation. */
export interface ResponderHandshake {
  /** The initiator's static public key, decrypted from the initiation. */
  readonly remoteStatic: Uint8Array;
  /** The initiator's index: the response's receiver index. */
  readonly remoteIndex: number;
  /** The initiator's ephemeral public key. */
  readonly remoteEphemeral: Uint8Array;
  /** The decrypted TAI64N timestamp, for the peer's replay check. */
  readonly timestamp: Uint8Array;
  /** Chaining key after the initiation (secret). */
  readonly chainKey: Uint8Array;
  /** Handshake hash after the initiation. */
  readonly hash: Uint8Array;
}

/** The two transport keys of a finished handshake (whitepaper §5.4.5). */
export interface TransportKeys {
  /** Key that seals what we send (secret). */
  readonly sendKey: Uint8Array;
  /** Key that opens what we receive (secret). */
  readonly receiveKey: Uint8Array;
  /** Our index: transport messages to us carry it. */
  readonly localIndex: number;
  /** The peer's index: our transport messages carry it. */
  readonly remoteIndex: number;
  /** Whether we initiated the handshake. */
  readonly isInitiator: boolean;
}

/** Inputs of {@link createInitiation}. */
export interface CreateInitiationInput {
  /** Our static private key. */
  localPrivate: Uint8Array;
  /** Our static public key (derived from `localPrivate` when absent). */
  localPublic?: Uint8Array;
  /** The responder's static public key. */
  remoteStatic: Uint8Array;
  /** `DH(localPrivate, remoteStatic)`, when precomputed for the peer. */
  staticStatic?: Uint8Array;
  /** A fresh ephemeral private key. */
  ephemeralPrivate: Uint8Array;
  /** Our index for this handshake. */
  senderIndex: number;
  /** TAI64N of now, 12 bytes. */
  timestamp: Uint8Array;
}

/**
 * Builds a handshake initiation (whitepaper §5.4.2). The returned 148 bytes
 * have MAC1 and MAC2 zero. Throws {@link WireGuardHandshakeError} when the
 * responder's key is of low order.
 */
export function createInitiation(
  input: CreateInitiationInput,
): { message: Uint8Array; handshake: InitiatorHandshake } {
  checkLength(input.remoteStatic, KEY_SIZE, "remote static key");
  checkLength(input.timestamp, TAI64N_SIZE, "timestamp");
  const localPublic = input.localPublic ?? publicKeyFromPrivate(input.localPrivate);
  const state: SymmetricState = initialChainKeyAndHash();
  mixHash(state, input.remoteStatic);
  const ephemeral = publicKeyFromPrivate(input.ephemeralPrivate);
  state.chainKey = kdf1(state.chainKey, ephemeral);
  mixHash(state, ephemeral);
  let key: Uint8Array;
  [state.chainKey, key] = kdf2(
    state.chainKey,
    dh(input.ephemeralPrivate, input.remoteStatic, "es"),
  );
  const encryptedStatic = chachaSeal(key, ZERO_NONCE, localPublic, state.hash);
  mixHash(state, encryptedStatic);
  const staticStatic = input.staticStatic ??
    dh(input.localPrivate, input.remoteStatic, "ss");
  [state.chainKey, key] = kdf2(state.chainKey, staticStatic);
  const encryptedTimestamp = chachaSeal(key, ZERO_NONCE, input.timestamp, state.hash);
  mixHash(state, encryptedTimestamp);
  key.fill(0);
  const message = serializeInitiation({
    senderIndex: input.senderIndex,
    ephemeral,
    encryptedStatic,
    encryptedTimestamp,
    mac1: ZERO_MAC,
    mac2: ZERO_MAC,
  });
  return {
    message,
    handshake: {
      localIndex: input.senderIndex,
      remoteStatic: input.remoteStatic.slice(),
      localEphemeral: input.ephemeralPrivate.slice(),
      chainKey: state.chainKey,
      hash: state.hash,
    },
  };
}

/** Inputs of {@link consumeInitiation}. */
export interface ConsumeInitiationInput {
  /** Our static private key. */
  localPrivate: Uint8Array;
  /** Our static public key (derived from `localPrivate` when absent). */
  localPublic?: Uint8Array;
  /** The parsed initiation (MAC1 already checked by the caller). */
  message: InitiationMessage;
}

/**
 * Reads a handshake initiation addressed to us (whitepaper §5.4.2, responder
 * side): decrypts the initiator's static key and timestamp. The caller then
 * checks that the key is a known peer and that the timestamp is newer than
 * the last one it accepted from it. Throws {@link WireGuardHandshakeError}
 * when a field does not authenticate.
 */
export function consumeInitiation(input: ConsumeInitiationInput): ResponderHandshake {
  const { message } = input;
  const localPublic = input.localPublic ?? publicKeyFromPrivate(input.localPrivate);
  const state: SymmetricState = initialChainKeyAndHash();
  mixHash(state, localPublic);
  const ephemeral = message.ephemeral.slice();
  state.chainKey = kdf1(state.chainKey, ephemeral);
  mixHash(state, ephemeral);
  let key: Uint8Array;
  [state.chainKey, key] = kdf2(state.chainKey, dh(input.localPrivate, ephemeral, "es"));
  const remoteStatic = chachaOpen(key, ZERO_NONCE, message.encryptedStatic, state.hash);
  if (remoteStatic === null) {
    throw new WireGuardHandshakeError("initiation: static key does not open");
  }
  mixHash(state, message.encryptedStatic);
  [state.chainKey, key] = kdf2(state.chainKey, dh(input.localPrivate, remoteStatic, "ss"));
  const timestamp = chachaOpen(key, ZERO_NONCE, message.encryptedTimestamp, state.hash);
  key.fill(0);
  if (timestamp === null) throw new WireGuardHandshakeError("initiation: timestamp does not open");
  mixHash(state, message.encryptedTimestamp);
  return {
    remoteStatic,
    remoteIndex: message.senderIndex,
    remoteEphemeral: ephemeral,
    timestamp,
    chainKey: state.chainKey,
    hash: state.hash,
  };
}

/** Inputs of {@link createResponse}. */
export interface CreateResponseInput {
  /** A fresh ephemeral private key. */
  ephemeralPrivate: Uint8Array;
  /** Our index for the new session. */
  senderIndex: number;
  /** The pre-shared key; 32 zero bytes (Tailscale's choice) when absent. */
  presharedKey?: Uint8Array;
}

function finishHandshake(
  state: SymmetricState,
  presharedKey: Uint8Array,
): Uint8Array {
  const [chainKey, tau, key] = kdf3(state.chainKey, presharedKey);
  state.chainKey = chainKey;
  mixHash(state, tau);
  tau.fill(0);
  return key;
}

function deriveKeys(
  chainKey: Uint8Array,
  isInitiator: boolean,
  localIndex: number,
  remoteIndex: number,
): TransportKeys {
  const [first, second] = kdf2(chainKey, EMPTY);
  chainKey.fill(0);
  return isInitiator
    ? { sendKey: first, receiveKey: second, localIndex, remoteIndex, isInitiator }
    : { sendKey: second, receiveKey: first, localIndex, remoteIndex, isInitiator };
}

/**
 * Answers a consumed initiation (whitepaper §5.4.3) and derives the
 * responder's transport keys (§5.4.5). The returned 92 bytes have MAC1 and
 * MAC2 zero. Throws {@link WireGuardHandshakeError} for a low-order
 * ephemeral key from the initiator.
 */
export function createResponse(
  handshake: ResponderHandshake,
  input: CreateResponseInput,
): { message: Uint8Array; keys: TransportKeys } {
  const presharedKey = input.presharedKey ?? ZERO_PRESHARED_KEY;
  checkLength(presharedKey, 32, "pre-shared key");
  const state: SymmetricState = { chainKey: handshake.chainKey, hash: handshake.hash };
  const ephemeral = publicKeyFromPrivate(input.ephemeralPrivate);
  mixHash(state, ephemeral);
  state.chainKey = kdf1(state.chainKey, ephemeral);
  state.chainKey = kdf1(
    state.chainKey,
    dh(input.ephemeralPrivate, handshake.remoteEphemeral, "ee"),
  );
  state.chainKey = kdf1(state.chainKey, dh(input.ephemeralPrivate, handshake.remoteStatic, "se"));
  const key = finishHandshake(state, presharedKey);
  const encryptedNothing = chachaSeal(key, ZERO_NONCE, EMPTY, state.hash);
  key.fill(0);
  mixHash(state, encryptedNothing);
  const message = serializeResponse({
    senderIndex: input.senderIndex,
    receiverIndex: handshake.remoteIndex,
    ephemeral,
    encryptedNothing,
    mac1: ZERO_MAC,
    mac2: ZERO_MAC,
  });
  return {
    message,
    keys: deriveKeys(state.chainKey, false, input.senderIndex, handshake.remoteIndex),
  };
}

/** Inputs of {@link consumeResponse}. */
export interface ConsumeResponseInput {
  /** Our static private key. */
  localPrivate: Uint8Array;
  /** The parsed response (MAC1 already checked by the caller). */
  message: ResponseMessage;
  /** The pre-shared key; 32 zero bytes when absent. */
  presharedKey?: Uint8Array;
}

/**
 * Reads the response to our initiation (whitepaper §5.4.3, initiator side)
 * and derives the initiator's transport keys (§5.4.5). Throws
 * {@link WireGuardHandshakeError} when the receiver index is not this
 * handshake's or the response does not authenticate.
 */
export function consumeResponse(
  handshake: InitiatorHandshake,
  input: ConsumeResponseInput,
): TransportKeys {
  const { message } = input;
  const presharedKey = input.presharedKey ?? ZERO_PRESHARED_KEY;
  checkLength(presharedKey, 32, "pre-shared key");
  if (message.receiverIndex !== handshake.localIndex) {
    throw new WireGuardHandshakeError("response: receiver index is not this handshake's");
  }
  const state: SymmetricState = {
    chainKey: handshake.chainKey.slice(),
    hash: handshake.hash.slice(),
  };
  const ephemeral = message.ephemeral;
  mixHash(state, ephemeral);
  state.chainKey = kdf1(state.chainKey, ephemeral);
  state.chainKey = kdf1(state.chainKey, dh(handshake.localEphemeral, ephemeral, "ee"));
  state.chainKey = kdf1(state.chainKey, dh(input.localPrivate, ephemeral, "se"));
  const key = finishHandshake(state, presharedKey);
  const opened = chachaOpen(key, ZERO_NONCE, message.encryptedNothing, state.hash);
  key.fill(0);
  if (opened === null) throw new WireGuardHandshakeError("response: empty payload does not open");
  return deriveKeys(state.chainKey, true, handshake.localIndex, message.senderIndex);
}
