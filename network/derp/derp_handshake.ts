/**
 * The DERP handshake (data-plane reference §3.2, §3.5): the server greets
 * with ServerKey (magic and its public key); the client answers with
 * ClientInfo, its node public key and a NaCl box, sealed from its node key
 * to the server key, of a JSON object such as `{"version":2,"CanAckPings":true}`;
 * the server answers with ServerInfo, a box the other way of
 * `{"version":2}` and optional rate limits. A box on the wire is
 * nonce (24) ‖ tag (16) ‖ ciphertext.
 *
 * Pure functions over bytes and keys, and {@link DerpClientHandshake}, the
 * client's side as a small state machine that is fed frames and says what
 * to write. The server's side is here too (for test responders).
 *
 * @module
 */
import type { NodePrivateKey, NodePublicKey } from "../crypto/keys.ts";
import { boxOpen, boxSeal } from "../crypto/nacl_box.ts";
import type { RandomSource } from "../crypto/random.ts";
import { DerpHandshakeError } from "./derp_errors.ts";
import {
  type DerpFrame,
  MAX_INFO_LENGTH,
  NONCE_LENGTH,
  PROTOCOL_VERSION,
  serializeFrame,
} from "./derp_frame.ts";

/** Length of a DERP mesh key (a pre-shared secret between servers and trusted clients). */
export const MESH_KEY_LENGTH = 32;

/** What a client tells the server about itself (§3.5). */
export interface DerpClientInfo {
  /** Protocol version; {@link PROTOCOL_VERSION} when absent. */
  version?: number;
  /** Mesh pre-shared key (32 bytes) for privileged clients; a secret, never logged. */
  meshKey?: Uint8Array;
  /** Whether we answer the server's Pings (tailscaled: true). */
  canAckPings?: boolean;
  /** Whether this client is a prober. */
  isProber?: boolean;
  /** Free-form application name for the server's statistics. */
  appName?: string;
}

/** What the server tells the client (§3.5). */
export interface DerpServerInfo {
  /** The server's protocol version (0 when it sent none). */
  version: number;
  /** Rate limit the client should keep to, bytes per second; 0 = none. */
  tokenBucketBytesPerSecond: number;
  /** Burst allowed by that rate limit, bytes; 0 = none. */
  tokenBucketBytesBurst: number;
}

/**
 * The ClientInfo JSON text. Field names and omissions are Go's
 * (`meshKey` and `version` omitted when zero, `CanAckPings` always present,
 * `IsProber` and `AppName` omitted when empty), in Go's field order.
 */
export function clientInfoJSON(info: DerpClientInfo): string {
  const out: Record<string, unknown> = {};
  if (info.meshKey && info.meshKey.some((b) => b !== 0)) {
    if (info.meshKey.length !== MESH_KEY_LENGTH) {
      throw new RangeError(`a DERP mesh key has ${MESH_KEY_LENGTH} bytes`);
    }
    out.meshKey = toHex(info.meshKey);
  }
  const version = info.version ?? PROTOCOL_VERSION;
  if (version !== 0) out.version = version;
  out.CanAckPings = info.canAckPings ?? false;
  if (info.isProber) out.IsProber = true;
  if (info.appName) out.AppName = info.appName;
  return JSON.stringify(out);
}

/** Seals `plaintext` from `from` to `to`: nonce ‖ tag ‖ ciphertext. */
export function sealInfo(
  plaintext: Uint8Array,
  from: NodePrivateKey,
  to: NodePublicKey,
  random: RandomSource,
): Uint8Array {
  const nonce = random(NONCE_LENGTH);
  if (nonce.length !== NONCE_LENGTH) throw new RangeError("random source gave a short nonce");
  const box = boxSeal(plaintext, nonce, to.bytes, from.secret);
  const out = new Uint8Array(NONCE_LENGTH + box.length);
  out.set(nonce);
  out.set(box, NONCE_LENGTH);
  return out;
}

/** Opens nonce ‖ tag ‖ ciphertext from `from` to `to`; null when it does not open. */
export function openInfo(
  sealed: Uint8Array,
  from: NodePublicKey,
  to: NodePrivateKey,
): Uint8Array | null {
  if (sealed.length < NONCE_LENGTH) return null;
  return boxOpen(
    sealed.subarray(NONCE_LENGTH),
    sealed.subarray(0, NONCE_LENGTH),
    from.bytes,
    to.secret,
  );
}

/** The ServerKey frame a server with public key `serverKey` sends first. */
export function serverKeyFrame(serverKey: NodePublicKey): Uint8Array {
  return serializeFrame({ type: "serverKey", serverKey });
}

/** Our ClientInfo frame: our public key and the sealed JSON. */
export function clientInfoFrame(
  nodeKey: NodePrivateKey,
  serverKey: NodePublicKey,
  info: DerpClientInfo,
  random: RandomSource,
): Uint8Array {
  const json = new TextEncoder().encode(clientInfoJSON(info));
  return serializeFrame({
    type: "clientInfo",
    clientKey: nodeKey.publicKey(),
    sealedInfo: sealInfo(json, nodeKey, serverKey, random),
  });
}

/**
 * Opens and parses a ServerInfo payload sealed by `serverKey` to `nodeKey`.
 * Throws {@link DerpHandshakeError}.
 */
export function openServerInfo(
  sealedInfo: Uint8Array,
  nodeKey: NodePrivateKey,
  serverKey: NodePublicKey,
): DerpServerInfo {
  if (sealedInfo.length > NONCE_LENGTH + MAX_INFO_LENGTH) {
    throw new DerpHandshakeError(`ServerInfo of ${sealedInfo.length} bytes is too long`);
  }
  const plaintext = openInfo(sealedInfo, serverKey, nodeKey);
  if (!plaintext) {
    throw new DerpHandshakeError(
      `ServerInfo does not open with server key ${serverKey.toShortString()}`,
    );
  }
  const fields = parseJSONObject(plaintext, "ServerInfo");
  return {
    version: intField(fields, "version", "ServerInfo"),
    tokenBucketBytesPerSecond: intField(fields, "TokenBucketBytesPerSecond", "ServerInfo"),
    tokenBucketBytesBurst: intField(fields, "TokenBucketBytesBurst", "ServerInfo"),
  };
}

/**
 * Server side: opens a ClientInfo frame with the server's private key.
 * Throws {@link DerpHandshakeError}.
 */
export function openClientInfo(
  frame: { clientKey: NodePublicKey; sealedInfo: Uint8Array },
  serverKey: NodePrivateKey,
): DerpClientInfo {
  const plaintext = openInfo(frame.sealedInfo, frame.clientKey, serverKey);
  if (!plaintext) {
    throw new DerpHandshakeError(
      `ClientInfo does not open with client key ${frame.clientKey.toShortString()}`,
    );
  }
  const fields = parseJSONObject(plaintext, "ClientInfo");
  const info: DerpClientInfo = { version: intField(fields, "version", "ClientInfo") };
  const meshKey = fields.get("meshkey");
  if (meshKey !== undefined) {
    if (typeof meshKey !== "string" || !/^[0-9a-fA-F]{64}$/.test(meshKey)) {
      throw new DerpHandshakeError("ClientInfo meshKey is not 64 hex digits");
    }
    info.meshKey = Uint8Array.from(meshKey.match(/../g)!.map((b) => parseInt(b, 16)));
  }
  info.canAckPings = fields.get("canackpings") === true;
  info.isProber = fields.get("isprober") === true;
  const appName = fields.get("appname");
  if (typeof appName === "string" && appName !== "") info.appName = appName;
  return info;
}

/** Server side: the ServerInfo frame sealed to `clientKey`. */
export function serverInfoFrame(
  serverKey: NodePrivateKey,
  clientKey: NodePublicKey,
  info: Partial<DerpServerInfo>,
  random: RandomSource,
): Uint8Array {
  const out: Record<string, number> = {};
  const version = info.version ?? PROTOCOL_VERSION;
  if (version) out.version = version;
  if (info.tokenBucketBytesPerSecond) {
    out.TokenBucketBytesPerSecond = info.tokenBucketBytesPerSecond;
  }
  if (info.tokenBucketBytesBurst) out.TokenBucketBytesBurst = info.tokenBucketBytesBurst;
  const json = new TextEncoder().encode(JSON.stringify(out));
  return serializeFrame({
    type: "serverInfo",
    sealedInfo: sealInfo(json, serverKey, clientKey, random),
  });
}

/** Options of {@link DerpClientHandshake}. */
export interface DerpClientHandshakeOptions {
  /** Our node key: the DERP identity. */
  nodeKey: NodePrivateKey;
  /** What to tell the server. */
  info: DerpClientInfo;
  /** Nonces for the box. */
  random: RandomSource;
  /** Send NotePreferred with this value right after ClientInfo, as tailscaled does. */
  preferred?: boolean;
  /**
   * The server key when already known (fast start, §3.1): ClientInfo goes
   * out at once and the server's ServerKey frame is only checked against it.
   */
  serverKey?: NodePublicKey;
}

/** What the client should do after a handshake step. */
export interface HandshakeStep {
  /** Bytes to write now, if any. */
  send?: Uint8Array;
  /** Set when the handshake is complete. */
  serverInfo?: DerpServerInfo;
}

/**
 * The client's side of the handshake. Feed it every frame that arrives
 * until a step carries `serverInfo`; write each step's `send`.
 *
 * @example
 * ```ts
 * const hs = new DerpClientHandshake({ nodeKey, info: { canAckPings: true }, random: systemRandom });
 * for (;;) {
 *   const step = hs.receive(await readFrame());
 *   if (step.send) await write(step.send);
 *   if (step.serverInfo) break;
 * }
 * ```
 */
export class DerpClientHandshake {
  readonly #options: DerpClientHandshakeOptions;
  #serverKey: NodePublicKey | undefined;
  #sentClientInfo = false;
  #serverKeySeen = false;
  #done = false;

  /** Prepares the handshake; nothing is sent until {@link start}. */
  constructor(options: DerpClientHandshakeOptions) {
    this.#options = options;
    this.#serverKey = options.serverKey;
  }

  /** The server's public key, once known. */
  get serverKey(): NodePublicKey | undefined {
    return this.#serverKey;
  }

  /** Whether ServerInfo has arrived. */
  get done(): boolean {
    return this.#done;
  }

  /** The first step: with a known server key (fast start) ClientInfo goes out at once. */
  start(): HandshakeStep {
    return this.#serverKey ? { send: this.#clientInfoBytes() } : {};
  }

  /** Feeds one frame. Throws {@link DerpHandshakeError} on anything out of order. */
  receive(frame: DerpFrame): HandshakeStep {
    if (this.#done) throw new DerpHandshakeError("handshake already complete");
    if (frame.type === "serverKey") {
      if (this.#serverKeySeen) throw new DerpHandshakeError("second ServerKey frame");
      this.#serverKeySeen = true;
      if (this.#serverKey) {
        if (!this.#serverKey.equals(frame.serverKey)) {
          throw new DerpHandshakeError(
            `server key ${frame.serverKey.toShortString()} is not the expected ${this.#serverKey.toShortString()}`,
          );
        }
        return {};
      }
      this.#serverKey = frame.serverKey;
      return { send: this.#clientInfoBytes() };
    }
    if (frame.type === "serverInfo") {
      if (!this.#sentClientInfo || !this.#serverKey) {
        throw new DerpHandshakeError("ServerInfo before ServerKey");
      }
      const info = openServerInfo(frame.sealedInfo, this.#options.nodeKey, this.#serverKey);
      this.#done = true;
      return { serverInfo: info };
    }
    if (!this.#serverKeySeen && !this.#sentClientInfo) {
      throw new DerpHandshakeError(`expected ServerKey, got a ${frame.type} frame`);
    }
    // Nothing else is sent before ServerInfo today; skip it like unknown frames (§3.4).
    return {};
  }

  #clientInfoBytes(): Uint8Array {
    this.#sentClientInfo = true;
    const { nodeKey, info, random, preferred } = this.#options;
    const clientInfo = clientInfoFrame(nodeKey, this.#serverKey!, info, random);
    if (preferred === undefined) return clientInfo;
    const note = serializeFrame({ type: "notePreferred", preferred });
    const out = new Uint8Array(clientInfo.length + note.length);
    out.set(clientInfo);
    out.set(note, clientInfo.length);
    return out;
  }
}

function parseJSONObject(plaintext: Uint8Array, what: string): Map<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plaintext));
  } catch (error) {
    throw new DerpHandshakeError(`${what} is not JSON`, { cause: error });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new DerpHandshakeError(`${what} is not a JSON object`);
  }
  // Go's encoding/json matches field names case-insensitively.
  const fields = new Map<string, unknown>();
  for (const [key, field] of Object.entries(value)) fields.set(key.toLowerCase(), field);
  return fields;
}

function intField(fields: Map<string, unknown>, name: string, what: string): number {
  const value = fields.get(name.toLowerCase());
  if (value === undefined || value === null) return 0;
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new DerpHandshakeError(`${what} field ${name} is not an integer`);
  }
  return value;
}

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
