/**
 * Curve25519 key types with Tailscale's text encodings: a type prefix and 64
 * hex digits (`mkey:`, `nodekey:`, `discokey:`, and `privkey:` for private
 * keys on disk). Private keys never print themselves: `toString`, JSON and
 * Deno's inspector show a redacted form; only {@link PrivateKey.toText} gives
 * the secret, for the state file.
 */
import { clampPrivateKey, publicKeyFromPrivate, x25519 } from "./x25519.ts";
import { type RandomSource, systemRandom } from "./random.ts";

const KEY_LENGTH = 32;
const HEX = /^[0-9a-fA-F]{64}$/;

/** Thrown when a key's text form cannot be parsed. */
export class KeyParseError extends Error {
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
  const out = new Uint8Array(KEY_LENGTH);
  for (let i = 0; i < KEY_LENGTH; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function checkLength(bytes: Uint8Array, what: string): Uint8Array {
  if (bytes.length !== KEY_LENGTH) throw new KeyParseError(`${what}: expected 32 bytes`);
  return bytes;
}

/** A Curve25519 public key with a text prefix. Compare with {@link PublicKey.equals}. */
abstract class PublicKey {
  /** The raw 32 bytes. */
  readonly bytes: Uint8Array;
  protected constructor(bytes: Uint8Array, readonly prefix: string) {
    this.bytes = checkLength(bytes, prefix);
  }
  /** Full text form, e.g. `nodekey:` and 64 hex digits. */
  toText(): string {
    return this.prefix + toHex(this.bytes);
  }
  /** Short form for logs and errors: prefix and the first 8 hex digits. */
  toShortString(): string {
    return `${this.prefix}${toHex(this.bytes.subarray(0, 4))}…`;
  }
  /** Whether every byte is zero (the "no key" value the protocol sends). */
  isZero(): boolean {
    return this.bytes.every((b) => b === 0);
  }
  /** Byte-wise equality with another key of any type. */
  equals(other: PublicKey | undefined | null): boolean {
    if (!other || other.bytes.length !== this.bytes.length) return false;
    let diff = 0;
    for (let i = 0; i < this.bytes.length; i++) diff |= this.bytes[i] ^ other.bytes[i];
    return diff === 0 && other.prefix === this.prefix;
  }
  toString(): string {
    return this.toShortString();
  }
  toJSON(): string {
    return this.toText();
  }
}

/** A machine public key (`mkey:`), the Noise static key of a device. */
export class MachinePublicKey extends PublicKey {
  /** Text prefix of machine public keys. */
  static readonly PREFIX = "mkey:";
  constructor(bytes: Uint8Array) {
    super(bytes, MachinePublicKey.PREFIX);
  }
  /** Parses `mkey:` + 64 hex digits. */
  static parse(text: string): MachinePublicKey {
    return new MachinePublicKey(parseHexKey(text, MachinePublicKey.PREFIX, "machine key"));
  }
  /** The all-zero machine key. */
  static zero(): MachinePublicKey {
    return new MachinePublicKey(new Uint8Array(KEY_LENGTH));
  }
}

/** A node public key (`nodekey:`), the WireGuard identity of a node. */
export class NodePublicKey extends PublicKey {
  /** Text prefix of node public keys. */
  static readonly PREFIX = "nodekey:";
  constructor(bytes: Uint8Array) {
    super(bytes, NodePublicKey.PREFIX);
  }
  /** Parses `nodekey:` + 64 hex digits. */
  static parse(text: string): NodePublicKey {
    return new NodePublicKey(parseHexKey(text, NodePublicKey.PREFIX, "node key"));
  }
  /** The all-zero node key (sent as OldNodeKey when there is none). */
  static zero(): NodePublicKey {
    return new NodePublicKey(new Uint8Array(KEY_LENGTH));
  }
}

/** A disco public key (`discokey:`), used for path discovery. */
export class DiscoPublicKey extends PublicKey {
  /** Text prefix of disco public keys. */
  static readonly PREFIX = "discokey:";
  constructor(bytes: Uint8Array) {
    super(bytes, DiscoPublicKey.PREFIX);
  }
  /** Parses `discokey:` + 64 hex digits. */
  static parse(text: string): DiscoPublicKey {
    return new DiscoPublicKey(parseHexKey(text, DiscoPublicKey.PREFIX, "disco key"));
  }
  /** The all-zero disco key. */
  static zero(): DiscoPublicKey {
    return new DiscoPublicKey(new Uint8Array(KEY_LENGTH));
  }
}

const PRIVATE_PREFIX = "privkey:";
const REDACTED = "privkey:[redacted]";
const secretBytes = new WeakMap<object, Uint8Array>();

/** A clamped Curve25519 private key. Its bytes are held out of reach of printing. */
abstract class PrivateKey<P extends PublicKey> {
  protected constructor(bytes: Uint8Array) {
    const copy = clampPrivateKey(checkLength(bytes, "private key").slice());
    secretBytes.set(this, copy);
  }
  /** The raw 32 secret bytes. Never log them. */
  get secret(): Uint8Array {
    return secretBytes.get(this)!;
  }
  /** `privkey:` + 64 hex digits: the secret, for the state file only. */
  toText(): string {
    return PRIVATE_PREFIX + toHex(this.secret);
  }
  /** X25519 with a peer's public key. */
  sharedSecret(peer: PublicKey): Uint8Array {
    return x25519(this.secret, peer.bytes);
  }
  /** The matching public key. */
  abstract publicKey(): P;
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [Symbol.for("Deno.customInspect")](): string {
    return REDACTED;
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return REDACTED;
  }
}

/** The machine private key: long-lived, the client's Noise static key. */
export class MachinePrivateKey extends PrivateKey<MachinePublicKey> {
  private constructor(bytes: Uint8Array) {
    super(bytes);
  }
  /** A new random key. */
  static generate(random: RandomSource = systemRandom): MachinePrivateKey {
    return new MachinePrivateKey(random(KEY_LENGTH));
  }
  /** From raw bytes (clamped on the way in). */
  static fromBytes(bytes: Uint8Array): MachinePrivateKey {
    return new MachinePrivateKey(bytes);
  }
  /** Parses `privkey:` + 64 hex digits. */
  static parse(text: string): MachinePrivateKey {
    return new MachinePrivateKey(parseHexKey(text, PRIVATE_PREFIX, "machine private key"));
  }
  publicKey(): MachinePublicKey {
    return new MachinePublicKey(publicKeyFromPrivate(this.secret));
  }
}

/** The node private key: the WireGuard static key, rotated on re-login. */
export class NodePrivateKey extends PrivateKey<NodePublicKey> {
  private constructor(bytes: Uint8Array) {
    super(bytes);
  }
  /** A new random key. */
  static generate(random: RandomSource = systemRandom): NodePrivateKey {
    return new NodePrivateKey(random(KEY_LENGTH));
  }
  /** From raw bytes (clamped on the way in). */
  static fromBytes(bytes: Uint8Array): NodePrivateKey {
    return new NodePrivateKey(bytes);
  }
  /** Parses `privkey:` + 64 hex digits. */
  static parse(text: string): NodePrivateKey {
    return new NodePrivateKey(parseHexKey(text, PRIVATE_PREFIX, "node private key"));
  }
  publicKey(): NodePublicKey {
    return new NodePublicKey(publicKeyFromPrivate(this.secret));
  }
}

/** The disco private key: made anew for each run of the node. */
export class DiscoPrivateKey extends PrivateKey<DiscoPublicKey> {
  private constructor(bytes: Uint8Array) {
    super(bytes);
  }
  /** A new random key. */
  static generate(random: RandomSource = systemRandom): DiscoPrivateKey {
    return new DiscoPrivateKey(random(KEY_LENGTH));
  }
  /** From raw bytes (clamped on the way in). */
  static fromBytes(bytes: Uint8Array): DiscoPrivateKey {
    return new DiscoPrivateKey(bytes);
  }
  /** Parses `privkey:` + 64 hex digits. */
  static parse(text: string): DiscoPrivateKey {
    return new DiscoPrivateKey(parseHexKey(text, PRIVATE_PREFIX, "disco private key"));
  }
  publicKey(): DiscoPublicKey {
    return new DiscoPublicKey(publicKeyFromPrivate(this.secret));
  }
}

export type { PrivateKey, PublicKey };
