/**
 * The control client the node facade uses: registration with a pre-auth
 * key or an existing node key, logout, the streaming map poll and lite
 * updates, over one {@link ControlChannel} (control protocol reference §8,
 * §9). Failures come out as the typed errors of control_errors.ts.
 */
import { type Clock, systemClock } from "../clock.ts";
import type {
  DiscoPublicKey,
  MachinePrivateKey,
  NodePrivateKey,
  NodePublicKey,
} from "../crypto/keys.ts";
import { type RandomSource, systemRandom } from "../crypto/random.ts";
import type { ProxyConfig } from "../proxy/proxy_config.ts";
import { CAPABILITY_VERSION } from "./capability_version.ts";
import { ControlChannel, type ControlResponse } from "./control_channel.ts";
import {
  AuthKeyRejectedError,
  type AuthKeyRejection,
  ControlError,
  ControlProtocolError,
  ControlUnreachableError,
  NodeExpiredError,
  NodeNotFoundError,
  redactSecret,
  RegistrationError,
  UnsupportedVersionError,
} from "./control_errors.ts";
import { formatGoTime, GO_ZERO_TIME, parseGoTime } from "./go_time.ts";
import { completeHostinfo } from "./hostinfo.ts";
import { MapFrameDecoder } from "./map_frame.ts";
import type { MapResponse } from "./map_response.ts";
import {
  type EndpointType,
  type Hostinfo,
  type MapRequest,
  type RegisterRequest,
  type RegisterResponse,
  ZERO_NL_KEY,
} from "./tailcfg.ts";

/** Register response read limit, as in the Go client (§13). */
export const MAX_REGISTER_RESPONSE_LENGTH = 1024 * 1024;
/** Map poll watchdog: abort after this long without a message (§9.5). */
export const MAP_WATCHDOG_MS = 120_000;
/** The expiry a logout asks for: Unix time 123, as the Go client sends (§8.6). */
export const LOGOUT_EXPIRY = "1970-01-01T00:02:03Z";
/** Load-balancer hint header (§7). */
export const LB_HEADER = "ts-lb";

/** Most 429 answers in a row that register() waits out before giving up. */
const MAX_RATE_LIMITED_RETRIES = 10;
/** Longest Retry-After honoured; beyond it (or without one) wait 5–10 s (§8.2). */
const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/** Options of {@link ControlClient}. */
export interface ControlClientOptions {
  /** Control server base URL (Headscale/Nexus), http or https. */
  serverURL: string | URL;
  /** The machine key (persisted). */
  machineKey: MachinePrivateKey;
  /** The current Hostinfo; base fields (OS, App, version…) are filled in. */
  hostinfo: () => Hostinfo;
  /** Time and timers (watchdog, 429 waits). */
  clock?: Clock;
  /** Randomness (Noise ephemerals, 429 jitter). */
  random?: RandomSource;
  /** Extra trusted CA certificates (PEM) for https servers. */
  caCerts?: string[];
  /** HTTP proxy settings for the connections to the server. */
  proxy?: ProxyConfig;
  /** Capability version to claim; {@link CAPABILITY_VERSION} by default. */
  capabilityVersion?: number;
  /** Limit for one connection attempt in milliseconds. */
  dialTimeoutMs?: number;
}

/** Options of {@link ControlClient.register}. */
export interface RegisterOptions {
  /** The node key to register (or re-register). */
  nodeKey: NodePrivateKey;
  /** The previous node key, when rotating. */
  oldNodeKey?: NodePrivateKey;
  /** Pre-auth key. Never logged, never in an error message. */
  authKey?: string;
  /** AuthURL of a previous response: wait for that interactive login. */
  followup?: string;
  /** Requested key expiry; the server default when absent. */
  expiry?: Date;
  /**
   * Whether an AuthURL answer (interactive login) is wanted. When false (the
   * default) and neither `authKey` nor `followup` is given, an AuthURL means
   * the server does not know the node key, and {@link NodeNotFoundError} is
   * thrown instead.
   */
  interactive?: boolean;
  /** Cancels the request. */
  signal?: AbortSignal;
}

/** Options of {@link ControlClient.mapPoll}. */
export interface MapPollOptions {
  /** The registered node key. */
  nodeKey: NodePublicKey;
  /** This run's disco key. */
  discoKey: DiscoPublicKey;
  /** UDP endpoints, `ip:port`. */
  endpoints?: string[];
  /** Kinds of `endpoints`, parallel to it. */
  endpointTypes?: EndpointType[];
  /** Ends the poll (the promise then rejects with the signal's reason). */
  signal: AbortSignal;
  /** Called for every message, keep-alives included, in order; awaited. */
  onMessage: (response: MapResponse) => void | Promise<void>;
}

/** Options of {@link ControlClient.liteUpdate}. */
export interface LiteUpdateOptions {
  /** The registered node key. */
  nodeKey: NodePublicKey;
  /** This run's disco key. */
  discoKey: DiscoPublicKey;
  /** UDP endpoints, `ip:port`. */
  endpoints?: string[];
  /** Kinds of `endpoints`, parallel to it. */
  endpointTypes?: EndpointType[];
  /** Cancels the request. */
  signal?: AbortSignal;
}

/**
 * Client for one control server and one machine key.
 *
 * @example
 * ```ts
 * const client = new ControlClient({ serverURL, machineKey, hostinfo: () => ({ Hostname: "n1" }) });
 * await client.register({ nodeKey, authKey });
 * const stop = new AbortController();
 * client.mapPoll({ nodeKey: nodeKey.publicKey(), discoKey, signal: stop.signal, onMessage });
 * ```
 */
export class ControlClient {
  /** The underlying channel (exposed for diagnostics). */
  readonly channel: ControlChannel;
  readonly #hostinfo: () => Hostinfo;
  readonly #clock: Clock;
  readonly #random: RandomSource;

  /** Creates the client; nothing is dialed until the first request. */
  constructor(options: ControlClientOptions) {
    this.#hostinfo = options.hostinfo;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.channel = new ControlChannel({
      serverURL: options.serverURL,
      machineKey: options.machineKey,
      capabilityVersion: options.capabilityVersion ?? CAPABILITY_VERSION,
      caCerts: options.caCerts,
      proxy: options.proxy,
      clock: this.#clock,
      random: this.#random,
      dialTimeoutMs: options.dialTimeoutMs,
    });
  }

  /** The capability version this client claims. */
  get capabilityVersion(): number {
    return this.channel.capabilityVersion;
  }

  /** The complete Hostinfo sent with the next request. */
  hostinfo(): Hostinfo {
    return completeHostinfo(this.#hostinfo());
  }

  /**
   * Registers `nodeKey` (§8). Resolves with the response on success, or
   * when it carries an AuthURL that the caller asked for (`interactive`).
   * Throws {@link AuthKeyRejectedError}, {@link NodeExpiredError},
   * {@link NodeNotFoundError}, {@link RegistrationError},
   * {@link UnsupportedVersionError}, ControlUnreachableError,
   * ControlTLSError or ControlProtocolError.
   */
  async register(options: RegisterOptions): Promise<RegisterResponse> {
    const nodeKey = options.nodeKey.publicKey();
    const request: RegisterRequest = {
      Version: this.capabilityVersion,
      NodeKey: nodeKey.toText(),
      OldNodeKey: options.oldNodeKey
        ? options.oldNodeKey.publicKey().toText()
        : "nodekey:" + "0".repeat(64),
      NLKey: ZERO_NL_KEY,
      Expiry: options.expiry ? formatGoTime(options.expiry.getTime()) : GO_ZERO_TIME,
      Followup: options.followup ?? "",
      Hostinfo: this.hostinfo(),
      NodeKeySignature: null,
    };
    if (options.authKey) request.Auth = { AuthKey: options.authKey };
    const lb = options.oldNodeKey
      ? [options.oldNodeKey.publicKey().toText(), nodeKey.toText()]
      : nodeKey.toText();
    const response = await this.#registerRequest(request, lb, options.authKey, options.signal);
    if (response.Error) {
      throw classifyRegisterError(response.Error, options.authKey, this.#origin);
    }
    if (response.NodeKeyExpired) {
      throw new NodeExpiredError(
        `node key ${nodeKey.toShortString()} has expired or was logged out; log in again with a new auth key`,
        { serverURL: this.#origin },
      );
    }
    if (
      response.AuthURL && !options.interactive && !options.authKey && !options.followup
    ) {
      throw new NodeNotFoundError(
        `the control server does not know node key ${nodeKey.toShortString()} (deleted or never registered); log in again with an auth key`,
        { serverURL: this.#origin },
      );
    }
    return response;
  }

  /**
   * Logs `nodeKey` out: asks for an expiry in the past (§8.6). Resolves
   * with the server's answer (NodeKeyExpired true). Throws
   * {@link NodeNotFoundError} when the server does not know the key.
   */
  async logout(nodeKey: NodePrivateKey, signal?: AbortSignal): Promise<RegisterResponse> {
    const key = nodeKey.publicKey();
    const request: RegisterRequest = {
      Version: this.capabilityVersion,
      NodeKey: key.toText(),
      OldNodeKey: "nodekey:" + "0".repeat(64),
      NLKey: ZERO_NL_KEY,
      Expiry: LOGOUT_EXPIRY,
      Followup: "",
      Hostinfo: this.hostinfo(),
      NodeKeySignature: null,
    };
    const response = await this.#registerRequest(request, key.toText(), undefined, signal);
    if (response.Error) throw classifyRegisterError(response.Error, undefined, this.#origin);
    if (response.AuthURL) {
      // §8.3: a logout for an unknown key falls through to interactive login.
      throw new NodeNotFoundError(
        `the control server does not know node key ${key.toShortString()}`,
        { serverURL: this.#origin },
      );
    }
    return response;
  }

  /**
   * Runs one streaming map poll (§9): `Stream`, `KeepAlive`, zstd, full
   * Hostinfo. Calls `onMessage` for every message. Resolves when the server
   * ends the stream; rejects with the signal's reason when aborted,
   * {@link NodeNotFoundError} on 404, {@link NodeExpiredError} once the self
   * node is reported expired (after delivering that message),
   * ControlUnreachableError when 120 s pass without a message or the
   * connection drops, ControlProtocolError for bad frames or statuses.
   */
  async mapPoll(options: MapPollOptions): Promise<void> {
    const { signal } = options;
    const request: MapRequest = {
      Version: this.capabilityVersion,
      Compress: "zstd",
      KeepAlive: true,
      NodeKey: options.nodeKey.toText(),
      DiscoKey: options.discoKey.toText(),
      Stream: true,
      Hostinfo: this.hostinfo(),
    };
    if (options.endpoints && options.endpoints.length > 0) {
      request.Endpoints = options.endpoints;
      if (options.endpointTypes) request.EndpointTypes = options.endpointTypes;
    }
    const local = new AbortController();
    const onOuterAbort = () => local.abort(signal.reason);
    signal.throwIfAborted();
    signal.addEventListener("abort", onOuterAbort, { once: true });
    let watchdogFired = false;
    let timer = this.#clock.setTimeout(() => fire(), MAP_WATCHDOG_MS);
    const fire = () => {
      watchdogFired = true;
      local.abort(
        new ControlUnreachableError(
          `no map response from ${this.#origin} for ${MAP_WATCHDOG_MS / 1000} s`,
          { serverURL: this.#origin },
        ),
      );
    };
    const kick = () => {
      this.#clock.clearTimeout(timer);
      timer = this.#clock.setTimeout(() => fire(), MAP_WATCHDOG_MS);
    };
    let response: ControlResponse | undefined;
    try {
      response = await this.channel.request("/machine/map", request, {
        signal: local.signal,
        headers: { [LB_HEADER]: options.nodeKey.toText() },
      });
      if (response.status !== 200) {
        const text = await readErrorText(response);
        throw mapStatusError(
          response.status,
          text,
          options.nodeKey,
          this.capabilityVersion,
          this.#origin,
        );
      }
      const decoder = new MapFrameDecoder({ compressed: true });
      let sawFirst = false;
      for await (const chunk of response.body) {
        for (const message of decoder.push(chunk)) {
          kick();
          if (!message.KeepAlive && !sawFirst) {
            sawFirst = true;
            if (!message.Node) {
              throw new ControlProtocolError(
                "the first map response did not contain the self node",
                { serverURL: this.#origin },
              );
            }
          }
          await options.onMessage(message);
          if (!message.KeepAlive && message.Node && selfNodeExpired(message, this.#clock)) {
            throw new NodeExpiredError(
              `node key ${options.nodeKey.toShortString()} has expired`,
              { serverURL: this.#origin },
            );
          }
        }
      }
      local.signal.throwIfAborted();
      decoder.end();
    } catch (err) {
      if (local.signal.aborted) {
        if (watchdogFired) throw local.signal.reason;
        signal.throwIfAborted();
      }
      if (err instanceof ControlError) throw err;
      if ((err as Error)?.name === "MapFrameError") {
        throw new ControlProtocolError(`bad map stream: ${(err as Error).message}`, {
          serverURL: this.#origin,
          cause: err,
        });
      }
      throw new ControlUnreachableError(
        `map poll to ${this.#origin} ended: ${(err as Error)?.message ?? err}`,
        { serverURL: this.#origin, cause: err },
      );
    } finally {
      this.#clock.clearTimeout(timer);
      signal.removeEventListener("abort", onOuterAbort);
      response?.cancel();
    }
  }

  /**
   * Sends a lite update (`Stream:false, OmitPeers:true`, §9.1): tells the
   * server about new Hostinfo, endpoints or disco key without disturbing
   * the poll. Throws like {@link ControlClient.mapPoll} for statuses.
   */
  async liteUpdate(options: LiteUpdateOptions): Promise<void> {
    const request: MapRequest = {
      Version: this.capabilityVersion,
      NodeKey: options.nodeKey.toText(),
      DiscoKey: options.discoKey.toText(),
      Hostinfo: this.hostinfo(),
      OmitPeers: true,
    };
    if (options.endpoints && options.endpoints.length > 0) {
      request.Endpoints = options.endpoints;
      if (options.endpointTypes) request.EndpointTypes = options.endpointTypes;
    }
    const response = await this.channel.request("/machine/map", request, {
      signal: options.signal,
      headers: { [LB_HEADER]: options.nodeKey.toText() },
    });
    const text = await readErrorText(response);
    if (response.status !== 200) {
      throw mapStatusError(
        response.status,
        text,
        options.nodeKey,
        this.capabilityVersion,
        this.#origin,
      );
    }
  }

  /**
   * POSTs a JSON body to a path on control over the Noise channel (a
   * PingRequest with `URLIsNoise`, control reference §10.6) and returns the
   * status; the body of the answer is read and dropped (at most 64 KiB).
   */
  async postOverNoise(pathAndQuery: string, body: unknown, signal?: AbortSignal): Promise<number> {
    const response = await this.channel.request(pathAndQuery, body, { signal });
    await readErrorText(response);
    return response.status;
  }

  /** Closes the connection; pending requests fail. */
  close(): void {
    this.channel.close();
  }

  get #origin(): string {
    return this.channel.serverURL.origin;
  }

  async #registerRequest(
    request: RegisterRequest,
    lb: string | string[],
    authKey: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<RegisterResponse> {
    for (let attempt = 0;; attempt++) {
      const response = await this.channel.request("/machine/register", request, {
        signal,
        headers: { [LB_HEADER]: lb },
      });
      const bytes = await response.readAll(MAX_REGISTER_RESPONSE_LENGTH);
      const text = redactSecret(new TextDecoder().decode(bytes), authKey);
      if (response.status === 429 && attempt < MAX_RATE_LIMITED_RETRIES) {
        await this.#clock.sleep(this.#retryAfterMs(response.headers["retry-after"]), signal);
        continue;
      }
      if (response.status === 400 && /unsupported client version/i.test(text)) {
        throw new UnsupportedVersionError(this.capabilityVersion, text.trim().slice(0, 200), {
          serverURL: this.#origin,
        });
      }
      if (response.status !== 200) {
        throw new ControlProtocolError(
          `POST /machine/register answered HTTP ${response.status}: ${text.trim().slice(0, 200)}`,
          { serverURL: this.#origin, status: response.status },
        );
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ControlProtocolError("POST /machine/register returned invalid JSON", {
          serverURL: this.#origin,
          status: 200,
        });
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new ControlProtocolError("POST /machine/register returned a non-object", {
          serverURL: this.#origin,
          status: 200,
        });
      }
      return parsed as RegisterResponse;
    }
  }

  #retryAfterMs(header: string | string[] | undefined): number {
    const ms = parseRetryAfter(Array.isArray(header) ? header[0] : header, this.#clock.now());
    if (ms !== null && ms <= MAX_RETRY_AFTER_MS) return ms;
    const bytes = this.#random(2);
    return 5_000 + Math.floor(((bytes[0] << 8) | bytes[1]) / 65536 * 5_000);
  }
}

/**
 * Parses a Retry-After value (delay seconds or an HTTP date) into a wait in
 * milliseconds from `nowMs`; null when absent or invalid.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - nowMs);
}

/**
 * Turns a RegisterResponse.Error into a typed error. Texts from Headscale
 * (reference §8.5, §14): "authkey expired", "authkey already used",
 * "invalid authkey", "invalid pre auth key", "auth-key not found",
 * "failed to parse auth-key", "auth-key expired".
 */
export function classifyRegisterError(
  message: string,
  authKey: string | undefined,
  serverURL?: string,
): ControlError {
  const text = redactSecret(message, authKey);
  if (authKey) {
    let reason: AuthKeyRejection | null = null;
    if (/already used/i.test(text)) reason = "already-used";
    else if (/(auth[- ]?key|pre ?auth key).*expired/i.test(text)) reason = "expired";
    else if (/auth[- ]?key|pre ?auth key/i.test(text)) reason = "invalid";
    if (reason) return new AuthKeyRejectedError(reason, text, { serverURL });
  }
  if (/not found/i.test(text)) return new NodeNotFoundError(text, { serverURL });
  return new RegistrationError(text, { serverURL });
}

function mapStatusError(
  status: number,
  text: string,
  nodeKey: NodePublicKey,
  capabilityVersion: number,
  serverURL: string,
): ControlError {
  const detail = text.trim().slice(0, 200);
  if (status === 404) {
    return new NodeNotFoundError(
      `the control server does not know node key ${nodeKey.toShortString()}: ${detail}`,
      { serverURL },
    );
  }
  if (status === 400 && /unsupported client version/i.test(detail)) {
    return new UnsupportedVersionError(capabilityVersion, detail, { serverURL });
  }
  return new ControlProtocolError(`POST /machine/map answered HTTP ${status}: ${detail}`, {
    serverURL,
    status,
  });
}

async function readErrorText(response: ControlResponse): Promise<string> {
  try {
    return new TextDecoder().decode(await response.readAll(64 * 1024));
  } catch {
    return "";
  }
}

function selfNodeExpired(message: MapResponse, clock: Clock): boolean {
  const node = message.Node;
  if (!node) return false;
  if (node.Expired) return true;
  const expiry = parseGoTime(node.KeyExpiry);
  return expiry !== null && expiry > 0 && expiry <= clock.now();
}
