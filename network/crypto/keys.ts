/**
 * Curve25519 key types with Tailscale's text encodings: a type prefix and 64
 * lower-case hex digits (`mkey:`, `nodekey:`, `discokey:`, and `privkey:` for
 * private keys on disk). Private keys never print themselves: `String()`,
 * JSON and the inspectors of Deno and Node show a redacted form; only
 * {@link PrivateKey.toText} gives the secret, for the state file.
 */
import { clampPrivateKey, publicKeyFromPrivate, x25519, X25519_KEY_LENGTH } from "./x25519.ts";
import { type RandomSource, systemRandom } from "./random.ts";

const HEX = /^[0-9a-fA-F]{64}$/;

/**
 * Thrown when a key's text form or bytes cannot be parsed. The message names
 * the expected form and never repeats the input, which may be a secret.
 */
export class KeyParseError extends Error {
  /** Builds the error with a message that must not contain key material. */
  constructor(message: string) {
    super(message);
    this.name = "KeyParseError";
  }
}

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function parseHexKey(text: string, prefix: string, what: string): Uint8Array {
  if (typeof text !== "string" || !text.startsWith(prefix)) {
    throw new KeyParseError(`${what}: expected the prefix "${prefix}"`);
  }
  const hex = text.slice(prefix.length);
  if (!HEX.test(hex)) throw new KeyParseError(`${what}: expected 64 hex digits after "${prefix}"`);
  const out = new Uint8Array(X25519_KEY_LENGTH);
  for (let i = 0; i < X25519_KEY_LENGTH; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function checkLength(bytes: Uint8Array, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array) || bytes.length !== X25519_KEY_LENGTH) {
    throw new KeyParseError(`${what}: expected ${X25519_KEY_LENGTH} bytes`);
  }
  return bytes;
}

/**
 * A Curve25519 public key with a text prefix. Compare with
 * {@link PublicKey.equals}, not `===`.
 */
abstract class PublicKey {
  /** The raw 32 bytes (a private copy; treat as read-only). */
  readonly bytes: Uint8Array;
  /** The text prefix, e.g. `nodekey:`. */
  readonly prefix: string;
  /** The text form, made once: maps keyed by it are looked up at every packet. */
  #text: string | undefined;
  /** Copies `bytes`, which must be 32 long (else {@link KeyParseError}). */
  protected constructor(bytes: Uint8Array, prefix: string) {
    this.bytes = checkLength(bytes, prefix).slice();
    this.prefix = prefix;
  }
  /** Full text form: the prefix and 64 lower-case hex digits. */
  toText(): string {
    this.#text ??= this.prefix + toHex(this.bytes);
    return this.#text;
  }
  /** Short form for logs and errors: the prefix, 8 hex digits and `…`. */
  toShortString(): string {
    return `${this.prefix}${toHex(this.bytes.subarray(0, 4))}…`;
  }
  /** Whether every byte is zero (the "no key" value the protocol sends). */
  isZero(): boolean {
    return this.bytes.every((b) => b === 0);
  }
  /** Whether `other` is a key of the same kind (prefix) with the same bytes. */
  equals(other: PublicKey | undefined | null): boolean {
    if (!other || other.prefix !== this.prefix || other.bytes.length !== this.bytes.length) {
      return false;
    }
    let diff = 0;
    for (let i = 0; i < this.bytes.length; i++) diff |= this.bytes[i] ^ other.bytes[i];
    return diff === 0;
  }
  /** The short form, so that string interpolation in logs stays short. */
  toString(): string {
    return this.toShortString();
  }
  /** The full text form, which is how Tailscale's JSON carries keys. */
  toJSON(): string {
    return this.toText();
  }
}

/** A machine public key (`mkey:`), the Noise static key of a device. */
export class MachinePublicKey extends PublicKey {
  /** Text prefix of machine public keys. */
  static readonly PREFIX = "mkey:";
  /** Wraps (a copy of) 32 raw bytes. */
  constructor(bytes: Uint8Array) {
    super(bytes, MachinePublicKey.PREFIX);
  }
  /** Parses `mkey:` + 64 hex digits; throws {@link KeyParseError}. */
  static parse(text: string): MachinePublicKey {
    return new MachinePublicKey(parseHexKey(text, MachinePublicKey.PREFIX, "machine key"));
  }
  /** The all-zero machine key. */
  static zero(): MachinePublicKey {
    return new MachinePublicKey(new Uint8Array(X25519_KEY_LENGTH));
  }
}

/** A node public key (`nodekey:`), the WireGuard identity of a node. */
export class NodePublicKey extends PublicKey {
  /** Text prefix of node public keys. */
  static readonly PREFIX = "nodekey:";
  /** Wraps (a copy of) 32 raw bytes. */
  constructor(bytes: Uint8Array) {
    super(bytes, NodePublicKey.PREFIX);
  }
  /** Parses `nodekey:` + 64 hex digits; throws {@link KeyParseError}. */
  static parse(text: string): NodePublicKey {
    return new NodePublicKey(parseHexKey(text, NodePublicKey.PREFIX, "node key"));
  }
  /** The all-zero node key (sent as OldNodeKey when there is none). */
  static zero(): NodePublicKey {
    return new NodePublicKey(new Uint8Array(X25519_KEY_LENGTH));
  }
}

/** A disco public key (`discokey:`), used for path discovery. */
export class DiscoPublicKey extends PublicKey {
  /** Text prefix of disco public keys. */
  static readonly PREFIX = "discokey:";
  /** Wraps (a copy of) 32 raw bytes. */
  constructor(bytes: Uint8Array) {
    super(bytes, DiscoPublicKey.PREFIX);
  }
  /** Parses `discokey:` + 64 hex digits; throws {@link KeyParseError}. */
  static parse(text: string): DiscoPublicKey {
    return new DiscoPublicKey(parseHexKey(text, DiscoPublicKey.PREFIX, "disco key"));
  }
  /** The all-zero disco key. */
  static zero(): DiscoPublicKey {
    return new DiscoPublicKey(new Uint8Array(X25519_KEY_LENGTH));
  }
}

const PRIVATE_PREFIX = "privkey:";
const REDACTED = "privkey:[redacted]";
// Held outside the object so that no enumeration, inspector or serializer
// that walks the object's own properties can reach the secret.
const secretBytes = new WeakMap<object, Uint8Array>();

/**
 * A clamped Curve25519 private key (RFC 7748 §5). Its bytes are held out of
 * reach of printing: `String()`, `JSON.stringify` and inspectors show
 * `privkey:[redacted]`.
 */
abstract class PrivateKey<P extends PublicKey> {
  /** Copies and clamps `bytes`, which must be 32 long (else {@link KeyParseError}). */
  protected constructor(bytes: Uint8Array) {
    const copy = clampPrivateKey(checkLength(bytes, "private key").slice());
    secretBytes.set(this, copy);
  }
  /** The raw 32 secret bytes. Never log them and never change them. */
  get secret(): Uint8Array {
    return secretBytes.get(this)!;
  }
  /** `privkey:` + 64 hex digits: the secret, for the state file only. */
  toText(): string {
    return PRIVATE_PREFIX + toHex(this.secret);
  }
  /**
   * X25519 with a peer's public key; throws `WeakSharedSecretError` for a
   * low-order peer key.
   */
  sharedSecret(peer: PublicKey): Uint8Array {
    return x25519(this.secret, peer.bytes);
  }
  /** The matching public key. */
  abstract publicKey(): P;
  /** Whether `other` holds the same secret (compared in constant time). */
  equals(other: PrivateKey<PublicKey> | undefined | null): boolean {
    if (!other || other.constructor !== this.constructor) return false;
    const a = this.secret, b = other.secret;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }
  /** The redacted form `privkey:[redacted]`. */
  toString(): string {
    return REDACTED;
  }
  /** The redacted form, so that a key serialized by mistake leaks nothing. */
  toJSON(): string {
    return REDACTED;
  }
  /** The redacted form, for `Deno.inspect` and `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return REDACTED;
  }
  /** The redacted form, for `node:util` `inspect`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return REDACTED;
  }
}

/** The machine private key: long-lived, the client's Noise static key. */
export class MachinePrivateKey extends PrivateKey<MachinePublicKey> {
  private constructor(bytes: Uint8Array) {
    super(bytes);
  }
  /** A new random key, clamped. */
  static generate(random: RandomSource = systemRandom): MachinePrivateKey {
    return new MachinePrivateKey(random(X25519_KEY_LENGTH));
  }
  /** From 32 raw bytes (copied and clamped). */
  static fromBytes(bytes: Uint8Array): MachinePrivateKey {
    return new MachinePrivateKey(bytes);
  }
  /** Parses `privkey:` + 64 hex digits (clamped); throws {@link KeyParseError}. */
  static parse(text: string): MachinePrivateKey {
    return new MachinePrivateKey(parseHexKey(text, PRIVATE_PREFIX, "machine private key"));
  }
  /** The matching `mkey:`. */
  publicKey(): MachinePublicKey {
    return new MachinePublicKey(publicKeyFromPrivate(this.secret));
  }
}

/** The node private key: the WireGuard static key, rotated on re-login. */
export class NodePrivateKey extends PrivateKey<NodePublicKey> {
  private constructor(bytes: Uint8Array) {
    super(bytes);
  }
  /** A new random key, clamped. */
  static generate(random: RandomSource = systemRandom): NodePrivateKey {
    return new NodePrivateKey(random(X25519_KEY_LENGTH));
  }
  /** From 32 raw bytes (copied and clamped). */
  static fromBytes(bytes: Uint8Array): NodePrivateKey {
    return new NodePrivateKey(bytes);
  }
  /** Parses `privkey:` + 64 hex digits (clamped); throws {@link KeyParseError}. */
  static parse(text: string): NodePrivateKey {
    return new NodePrivateKey(parseHexKey(text, PRIVATE_PREFIX, "node private key"));
  }
  /** The matching `nodekey:`. */
  publicKey(): NodePublicKey {
    return new NodePublicKey(publicKeyFromPrivate(this.secret));
  }
}

/** The disco private key: made anew for each run of the node. */
export class DiscoPrivateKey extends PrivateKey<DiscoPublicKey> {
  private constructor(bytes: Uint8Array) {
    super(bytes);
  }
  /** A new random key, clamped. */
  static generate(random: RandomSource = systemRandom): DiscoPrivateKey {
    return new DiscoPrivateKey(random(X25519_KEY_LENGTH));
  }
  /** From 32 raw bytes (copied and clamped). */
  static fromBytes(bytes: Uint8Array): DiscoPrivateKey {
    return new DiscoPrivateKey(bytes);
  }
  /** Parses `privkey:` + 64 hex digits (clamped); throws {@link KeyParseError}. */
  static parse(text: string): DiscoPrivateKey {
    return new DiscoPrivateKey(parseHexKey(text, PRIVATE_PREFIX, "disco private key"));
  }
  /** The matching `discokey:`. */
  publicKey(): DiscoPublicKey {
    return new DiscoPublicKey(publicKeyFromPrivate(this.secret));
  }
}

export type { PrivateKey, PublicKey };
