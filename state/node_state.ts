/**
 * The node's persisted state and its JSON document, version 1:
 *
 * ```json
 * {
 *   "version": 1,
 *   "machineKey": "privkey:…", "nodeKey": "privkey:…", "oldNodeKey": "privkey:…",
 *   "controlURL": "https://nexus.example",
 *   "login": {
 *     "userId": 1, "loginName": "alice@example.com", "displayName": "Alice",
 *     "nodeId": 7, "stableNodeId": "nXyz", "nodeName": "gpu-box",
 *     "addresses": { "v4": "100.64.0.7", "v6": "fd7a:115c:a1e0::7" },
 *     "keyExpiry": "2027-01-01T00:00:00.000Z"
 *   },
 *   "netmap": { … },
 *   "updatedAt": "2026-11-26T14:00:00.000Z"
 * }
 * ```
 *
 * `oldNodeKey` is present only while a node key rotation is under way,
 * `login` only once the node is registered, and `netmap` only once a map has
 * been received. Parsing is strict: anything else (bad JSON, a missing,
 * mistyped or unknown field, an unknown version) throws, so that a damaged
 * file is reported instead of being taken for "no state".
 */
import { MachinePrivateKey, NodePrivateKey } from "../network/crypto/keys.ts";
import { type Clock, systemClock } from "../network/clock.ts";
import { type RandomSource, systemRandom } from "../network/crypto/random.ts";
import { StateCorruptError, StateInvalidError, StateVersionError } from "./state_errors.ts";

/** The document version this build reads and writes. */
export const STATE_VERSION = 1;

/** The node's addresses inside the tailnet. */
export interface NodeAddresses {
  /** IPv4 address, e.g. `100.64.0.7`. */
  v4?: string;
  /** IPv6 address, e.g. `fd7a:115c:a1e0::7`. */
  v6?: string;
}

/** Who the node is logged in as, and what control calls it; known once registered. */
export interface LoginIdentity {
  /** Control's numeric user id. */
  userId: number;
  /** The user's login name, e.g. `alice@example.com`. */
  loginName: string;
  /** The user's display name (may be empty). */
  displayName: string;
  /** Control's numeric node id. */
  nodeId: number;
  /** Control's stable node id, when it sends one. */
  stableNodeId?: string;
  /** The node's name in the tailnet. */
  nodeName: string;
  /** The node's tailnet addresses. */
  addresses: NodeAddresses;
  /** When the node key expires, in ms since the epoch; `null` for never. */
  keyExpiry: number | null;
}

/** The node's state in memory. Keys are key objects; times are ms since the epoch. */
export interface NodeState {
  /** Long-lived machine key, the Noise static key towards control. */
  machineKey: MachinePrivateKey;
  /** Current node key, the WireGuard static key. */
  nodeKey: NodePrivateKey;
  /** The previous node key, kept only while a rotation is being registered. */
  oldNodeKey?: NodePrivateKey;
  /** The control server this state belongs to. */
  controlURL: string;
  /** The registered identity; absent until registration succeeds. */
  login?: LoginIdentity;
  /**
   * The cached network map (self node, peers, DERP map). Opaque here: the
   * control layer decides its shape. Must be JSON-serialisable.
   */
  netmap?: unknown;
  /** When this state was last changed, in ms since the epoch. */
  updatedAt: number;
}

/** Inputs of {@link newNodeState}. */
export interface NewNodeStateOptions {
  /** The control server to register with. */
  controlURL: string;
  /** Time source for `updatedAt`. */
  clock?: Clock;
  /** Source of the new keys. */
  random?: RandomSource;
}

/**
 * A fresh, unregistered state with new machine and node keys.
 *
 * @example
 * ```ts
 * const state = newNodeState({ controlURL: "https://nexus.example" });
 * await store.save(state);
 * ```
 */
export function newNodeState(options: NewNodeStateOptions): NodeState {
  const random = options.random ?? systemRandom;
  return {
    machineKey: MachinePrivateKey.generate(random),
    nodeKey: NodePrivateKey.generate(random),
    controlURL: options.controlURL,
    updatedAt: (options.clock ?? systemClock).now(),
  };
}

const TOP_FIELDS = new Set([
  "version",
  "machineKey",
  "nodeKey",
  "oldNodeKey",
  "controlURL",
  "login",
  "netmap",
  "updatedAt",
]);
const LOGIN_FIELDS = new Set([
  "userId",
  "loginName",
  "displayName",
  "nodeId",
  "stableNodeId",
  "nodeName",
  "addresses",
  "keyExpiry",
]);
const ADDRESS_FIELDS = new Set(["v4", "v6"]);
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** A field-level problem; the callers turn it into their own error type. */
class FieldError extends Error {}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkFields(obj: Record<string, unknown>, allowed: Set<string>, where: string): void {
  for (const key of Object.keys(obj)) {
    // The name of an unknown field is safe to show; its value is not.
    if (!allowed.has(key)) throw new FieldError(`unknown field ${JSON.stringify(key)}${where}`);
  }
}

function requireString(value: unknown, name: string): string {
  if (typeof value !== "string") throw new FieldError(`"${name}" must be a string`);
  return value;
}

function requireId(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new FieldError(`"${name}" must be a non-negative integer`);
  }
  return value;
}

function checkControlURL(value: unknown): string {
  const text = requireString(value, "controlURL");
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FieldError(`"controlURL" must be an absolute URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new FieldError(`"controlURL" must be an http or https URL`);
  }
  return text;
}

function checkIPv6(text: string): boolean {
  if (!text.includes(":") || /[[\]/%]/.test(text)) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

function checkAddresses(value: unknown): NodeAddresses {
  if (!isRecord(value)) throw new FieldError(`"login.addresses" must be an object`);
  checkFields(value, ADDRESS_FIELDS, ` in "login.addresses"`);
  const out: NodeAddresses = {};
  if (value.v4 !== undefined) {
    const v4 = requireString(value.v4, "login.addresses.v4");
    if (!IPV4.test(v4)) throw new FieldError(`"login.addresses.v4" must be an IPv4 address`);
    out.v4 = v4;
  }
  if (value.v6 !== undefined) {
    const v6 = requireString(value.v6, "login.addresses.v6");
    if (!checkIPv6(v6)) throw new FieldError(`"login.addresses.v6" must be an IPv6 address`);
    out.v6 = v6;
  }
  return out;
}

function parseTime(value: unknown, name: string): number {
  const text = requireString(value, name);
  const ms = ISO_TIME.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) throw new FieldError(`"${name}" must be an RFC 3339 time`);
  return ms;
}

function formatTime(ms: number, name: string): string {
  if (!Number.isFinite(ms)) throw new FieldError(`"${name}" must be a finite time`);
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) throw new FieldError(`"${name}" is out of range`);
  return date.toISOString();
}

function parseLogin(value: unknown): LoginIdentity {
  if (!isRecord(value)) throw new FieldError(`"login" must be an object`);
  checkFields(value, LOGIN_FIELDS, ` in "login"`);
  const login: LoginIdentity = {
    userId: requireId(value.userId, "login.userId"),
    loginName: requireString(value.loginName, "login.loginName"),
    displayName: requireString(value.displayName, "login.displayName"),
    nodeId: requireId(value.nodeId, "login.nodeId"),
    nodeName: requireString(value.nodeName, "login.nodeName"),
    addresses: checkAddresses(value.addresses),
    keyExpiry: value.keyExpiry === null ? null : parseTime(value.keyExpiry, "login.keyExpiry"),
  };
  if (value.stableNodeId !== undefined) {
    login.stableNodeId = requireString(value.stableNodeId, "login.stableNodeId");
  }
  return login;
}

function parseKey<K>(parse: (text: string) => K, value: unknown, name: string): K {
  if (typeof value !== "string") throw new FieldError(`"${name}" must be a string`);
  try {
    return parse(value);
  } catch {
    // The key parser's message is generic, but the value must not leak: say only what is expected.
    throw new FieldError(`"${name}" must be "privkey:" followed by 64 hex digits`);
  }
}

function describeJsonError(error: unknown): string {
  const message = error instanceof Error ? error.message : "";
  // V8 quotes the text around the fault; only the position is safe to repeat.
  const lineCol = /line (\d+) column (\d+)/.exec(message);
  if (lineCol) return `not valid JSON at line ${lineCol[1]}, column ${lineCol[2]}`;
  const position = /position (\d+)/.exec(message);
  if (position) return `not valid JSON at byte ${position[1]}`;
  if (/end of JSON input/i.test(message)) return "not valid JSON: it ends too early";
  return "not valid JSON";
}

function decode(input: string | Uint8Array, source: string): string {
  if (typeof input === "string") return input;
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(input);
  } catch {
    throw new StateCorruptError(source, "not valid UTF-8");
  }
}

/**
 * Parses a state document. `source` (the file path, or a `memory:` name)
 * appears in errors.
 *
 * @throws {StateCorruptError} for bad UTF-8 or JSON, or a missing, mistyped or unknown field.
 * @throws {StateVersionError} when the version is not {@link STATE_VERSION}.
 */
export function parseNodeState(input: string | Uint8Array, source: string): NodeState {
  const text = decode(input, source);
  if (text.trim() === "") throw new StateCorruptError(source, "the file is empty");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new StateCorruptError(source, describeJsonError(e));
  }
  if (!isRecord(doc)) throw new StateCorruptError(source, "the document is not a JSON object");
  const version = doc.version;
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) {
    throw new StateCorruptError(source, `"version" is missing or not a positive integer`);
  }
  if (version !== STATE_VERSION) throw new StateVersionError(source, version, STATE_VERSION);
  try {
    checkFields(doc, TOP_FIELDS, "");
    const state: NodeState = {
      machineKey: parseKey((t) => MachinePrivateKey.parse(t), doc.machineKey, "machineKey"),
      nodeKey: parseKey((t) => NodePrivateKey.parse(t), doc.nodeKey, "nodeKey"),
      controlURL: checkControlURL(doc.controlURL),
      updatedAt: parseTime(doc.updatedAt, "updatedAt"),
    };
    if (doc.oldNodeKey !== undefined) {
      state.oldNodeKey = parseKey((t) => NodePrivateKey.parse(t), doc.oldNodeKey, "oldNodeKey");
    }
    if (doc.login !== undefined) state.login = parseLogin(doc.login);
    if (doc.netmap !== undefined) state.netmap = doc.netmap;
    return state;
  } catch (e) {
    if (e instanceof FieldError) throw new StateCorruptError(source, e.message);
    throw e;
  }
}

function checkKeyObject(ok: boolean, name: string, type: string): void {
  if (!ok) throw new FieldError(`"${name}" must be a ${type}`);
}

function loginDocument(login: LoginIdentity): Record<string, unknown> {
  if (!isRecord(login)) throw new FieldError(`"login" must be an object`);
  const addresses = checkAddresses({ ...login.addresses });
  const doc: Record<string, unknown> = {
    userId: requireId(login.userId, "login.userId"),
    loginName: requireString(login.loginName, "login.loginName"),
    displayName: requireString(login.displayName, "login.displayName"),
    nodeId: requireId(login.nodeId, "login.nodeId"),
  };
  if (login.stableNodeId !== undefined) {
    doc.stableNodeId = requireString(login.stableNodeId, "login.stableNodeId");
  }
  doc.nodeName = requireString(login.nodeName, "login.nodeName");
  doc.addresses = addresses;
  doc.keyExpiry = login.keyExpiry === null ? null : formatTime(login.keyExpiry, "login.keyExpiry");
  return doc;
}

/**
 * Serialises a state to its version-1 JSON document (pretty-printed, with a
 * trailing newline). The result always parses back with {@link parseNodeState}.
 *
 * @throws {StateInvalidError} when a field is missing or malformed, or the
 *   netmap cannot be written as JSON.
 */
export function serializeNodeState(state: NodeState): string {
  try {
    checkKeyObject(
      state.machineKey instanceof MachinePrivateKey,
      "machineKey",
      "MachinePrivateKey",
    );
    checkKeyObject(state.nodeKey instanceof NodePrivateKey, "nodeKey", "NodePrivateKey");
    const doc: Record<string, unknown> = {
      version: STATE_VERSION,
      machineKey: state.machineKey.toText(),
      nodeKey: state.nodeKey.toText(),
    };
    if (state.oldNodeKey !== undefined) {
      checkKeyObject(state.oldNodeKey instanceof NodePrivateKey, "oldNodeKey", "NodePrivateKey");
      doc.oldNodeKey = state.oldNodeKey.toText();
    }
    doc.controlURL = checkControlURL(state.controlURL);
    if (state.login !== undefined) doc.login = loginDocument(state.login);
    if (state.netmap !== undefined) doc.netmap = state.netmap;
    doc.updatedAt = formatTime(state.updatedAt, "updatedAt");
    let text: string | undefined;
    try {
      text = JSON.stringify(doc, null, 2);
    } catch {
      throw new FieldError(`"netmap" cannot be written as JSON`);
    }
    return text + "\n";
  } catch (e) {
    if (e instanceof FieldError) throw new StateInvalidError(e.message);
    throw e;
  }
}
