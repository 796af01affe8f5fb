/**
 * The client (initiator) side of the ts2021 Noise IK handshake,
 * `Noise_IK_25519_ChaChaPoly_BLAKE2s` with the prologue
 * `Tailscale Control Protocol v<version>` (control protocol reference §4).
 * Pure computation: the caller carries the initiation to the server (in the
 * upgrade request's header) and brings back the 51-byte response.
 */
import { blake2s } from "../crypto/blake2s.ts";
import { chachaOpen, chachaSeal } from "../crypto/chacha20poly1305.ts";
import { noiseKdf } from "../crypto/hkdf.ts";
import type { MachinePrivateKey, MachinePublicKey } from "../crypto/keys.ts";
import { type RandomSource, systemRandom } from "../crypto/random.ts";
import { generatePrivateKey, publicKeyFromPrivate, x25519 } from "../crypto/x25519.ts";
import {
  NoiseProtocolError,
  parseTS2021Response,
  serializeTS2021Initiation,
  type TS2021Initiation,
} from "./ts2021_messages.ts";

/** The Noise protocol name (§4.1); longer than 32 bytes, so h0 is its hash. */
export const NOISE_PROTOCOL_NAME = "Noise_IK_25519_ChaChaPoly_BLAKE2s";

const PROLOGUE_PREFIX = "Tailscale Control Protocol v";
const ZERO_NONCE = new Uint8Array(12);
const EMPTY = new Uint8Array(0);

/** Thrown when the server's handshake response fails authentication. */
export class NoiseHandshakeError extends Error {
  /** Makes the error with a description of what failed. */
  constructor(message: string) {
    super(message);
    this.name = "NoiseHandshakeError";
  }
}

/** The prologue bytes for a protocol version: ASCII, decimal version (§4.1). */
export function protocolVersionPrologue(protocolVersion: number): Uint8Array {
  if (!Number.isInteger(protocolVersion) || protocolVersion < 0 || protocolVersion > 0xffff) {
    throw new RangeError(`protocol version ${protocolVersion} does not fit in a u16`);
  }
  return new TextEncoder().encode(PROLOGUE_PREFIX + protocolVersion);
}

/** `h0 = ck0 = BLAKE2s(protocol name)` (§4.2). */
export function initialHandshakeHash(): Uint8Array {
  return blake2s(new TextEncoder().encode(NOISE_PROTOCOL_NAME));
}

/** Handshake hash and chaining key, with the §4.2 operations the initiator needs. */
class SymmetricState {
  h: Uint8Array;
  ck: Uint8Array;

  constructor() {
    this.h = initialHandshakeHash();
    this.ck = this.h.slice();
  }

  mixHash(data: Uint8Array): void {
    this.h = blake2s([this.h, data]);
  }

  /** Mixes a DH result into the chaining key; returns the single-use key. */
  mixDH(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
    const [ck, k] = noiseKdf(this.ck, x25519(privateKey, publicKey), 2);
    this.ck = ck;
    return k;
  }

  encryptAndHash(key: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const sealed = chachaSeal(key, ZERO_NONCE, plaintext, this.h);
    this.mixHash(sealed);
    return sealed;
  }

  decryptAndHash(key: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    const plaintext = chachaOpen(key, ZERO_NONCE, sealed, this.h);
    if (plaintext === null) return null;
    this.mixHash(sealed);
    return plaintext;
  }

  split(): [Uint8Array, Uint8Array] {
    const [k1, k2] = noiseKdf(this.ck, EMPTY, 2);
    return [k1, k2];
  }
}

/** Keys that come out of a completed handshake. */
export interface HandshakeResult {
  /** Transport key for client → server frames (`k1` of Split). */
  sendKey: Uint8Array;
  /** Transport key for server → client frames (`k2` of Split). */
  receiveKey: Uint8Array;
  /** The final handshake hash, usable for channel binding. */
  handshakeHash: Uint8Array;
  /** The protocol version that went into the prologue. */
  protocolVersion: number;
}

/** Inputs of {@link ClientHandshake.begin}. */
export interface ClientHandshakeOptions {
  /** The client's long-term machine key: the Noise static key `s`. */
  machineKey: MachinePrivateKey;
  /** The server's Noise public key from `/key` (the IK pre-message). */
  serverPublic: MachinePublicKey;
  /** Capability version claimed; goes into the header and the prologue. */
  protocolVersion: number;
  /** Source of the ephemeral key; the system CSPRNG by default. */
  random?: RandomSource;
}

/**
 * One handshake attempt. {@link ClientHandshake.begin} computes the
 * initiation; {@link ClientHandshake.finish} checks the response and derives
 * the transport keys. An attempt is single-use.
 *
 * @example
 * ```ts
 * const hs = ClientHandshake.begin({ machineKey, serverPublic, protocolVersion: 143 });
 * // send hs.initiation, read 51 response bytes
 * const { sendKey, receiveKey } = hs.finish(response);
 * ```
 */
export class ClientHandshake {
  /** The 101-byte initiation message to send (base64 in `X-Tailscale-Handshake`). */
  readonly initiation: Uint8Array;
  #state: SymmetricState;
  #ephemeralPrivate: Uint8Array;
  #machineKey: MachinePrivateKey;
  #protocolVersion: number;
  #finished = false;

  private constructor(
    initiation: Uint8Array,
    state: SymmetricState,
    ephemeralPrivate: Uint8Array,
    machineKey: MachinePrivateKey,
    protocolVersion: number,
  ) {
    this.initiation = initiation;
    this.#state = state;
    this.#ephemeralPrivate = ephemeralPrivate;
    this.#machineKey = machineKey;
    this.#protocolVersion = protocolVersion;
  }

  /** Computes the initiation (§4.3 steps 1–8). */
  static begin(options: ClientHandshakeOptions): ClientHandshake {
    const { machineKey, serverPublic, protocolVersion } = options;
    const state = new SymmetricState();
    state.mixHash(protocolVersionPrologue(protocolVersion));
    state.mixHash(serverPublic.bytes);
    const ephemeralPrivate = generatePrivateKey(options.random ?? systemRandom);
    const ephemeralPublic = publicKeyFromPrivate(ephemeralPrivate);
    state.mixHash(ephemeralPublic);
    const esKey = state.mixDH(ephemeralPrivate, serverPublic.bytes);
    const sealedMachineKey = state.encryptAndHash(esKey, machineKey.publicKey().bytes);
    const ssKey = state.mixDH(machineKey.secret, serverPublic.bytes);
    const payloadTag = state.encryptAndHash(ssKey, EMPTY);
    const message: TS2021Initiation = {
      protocolVersion,
      ephemeralPublic,
      sealedMachineKey,
      payloadTag,
    };
    return new ClientHandshake(
      serializeTS2021Initiation(message),
      state,
      ephemeralPrivate,
      machineKey,
      protocolVersion,
    );
  }

  /**
   * Checks the server's 51-byte response (§4.4) and derives the transport
   * keys. Throws {@link NoiseProtocolError} for a malformed message and
   * {@link NoiseHandshakeError} when authentication fails.
   */
  finish(responseBytes: Uint8Array): HandshakeResult {
    if (this.#finished) throw new NoiseProtocolError("handshake already finished");
    this.#finished = true;
    const response = parseTS2021Response(responseBytes);
    const state = this.#state;
    state.mixHash(response.ephemeralPublic);
    state.mixDH(this.#ephemeralPrivate, response.ephemeralPublic);
    const seKey = state.mixDH(this.#machineKey.secret, response.ephemeralPublic);
    if (state.decryptAndHash(seKey, response.payloadTag) === null) {
      throw new NoiseHandshakeError("server handshake response failed authentication");
    }
    const [sendKey, receiveKey] = state.split();
    this.#ephemeralPrivate.fill(0);
    return {
      sendKey,
      receiveKey,
      handshakeHash: state.h.slice(),
      protocolVersion: this.#protocolVersion,
    };
  }
}
