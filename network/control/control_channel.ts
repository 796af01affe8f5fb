/**
 * One ts2021 control connection and the HTTP/2 client on top of it
 * (control protocol reference §2–§7): `/key` (cached), the `/ts2021`
 * upgrade, the Noise IK handshake, the optional early payload, then
 * `node:http2` with prior knowledge over the Noise duplex. Requests share
 * the connection; when it has died the next request dials a new one.
 */
import * as http2 from "node:http2";
import { type Clock, systemClock } from "../clock.ts";
import type { MachinePrivateKey, MachinePublicKey } from "../crypto/keys.ts";
import { type RandomSource, systemRandom } from "../crypto/random.ts";
import { concatBytes } from "../concat_bytes.ts";
import type { ProxyConfig } from "../proxy/proxy_config.ts";
import { CAPABILITY_VERSION } from "./capability_version.ts";
import { UnexpectedEOFError } from "./conn_reader.ts";
import { closeQuietly } from "./control_dial.ts";
import { ControlError, ControlProtocolError, ControlUnreachableError } from "./control_errors.ts";
import { type EarlyNoise, EarlyPayloadReader } from "./early_payload.ts";
import { fetchServerKey } from "./key_discovery.ts";
import { NoiseConn } from "./ts2021_conn.ts";
import { ClientHandshake, NoiseHandshakeError } from "./ts2021_handshake.ts";
import {
  HEADER_LENGTH,
  MSG_TYPE_ERROR,
  MSG_TYPE_RESPONSE,
  NoiseProtocolError,
  parseFrameHeader,
  RESPONSE_PAYLOAD_LENGTH,
} from "./ts2021_messages.ts";
import { upgradeToNoise } from "./upgrade.ts";

/** Default limit for dial + upgrade + handshake, as the Go client's 5 s + 5 s (§13). */
export const DEFAULT_DIAL_TIMEOUT_MS = 10_000;

/**
 * HTTP/2 receive window per stream; large so a big netmap is not throttled.
 * It is also the most a server can have in flight on the map stream while
 * the reader is stopped: `node:http2` credits the window back only as the
 * stream's body is read (tests/unit/network/control/map_flow_control_test.ts).
 */
export const STREAM_WINDOW_SIZE = 4 * 1024 * 1024;
/** Connection-level HTTP/2 receive window, shared by every stream of a connection. */
export const SESSION_WINDOW_SIZE = 16 * 1024 * 1024;

/** Options of {@link ControlChannel}. */
export interface ControlChannelOptions {
  /** Control server base URL, http or https. */
  serverURL: URL | string;
  /** The machine key: the Noise static key. */
  machineKey: MachinePrivateKey;
  /** Capability version to claim; {@link CAPABILITY_VERSION} by default. */
  capabilityVersion?: number;
  /** Extra trusted CA certificates (PEM) for https servers. */
  caCerts?: string[];
  /** HTTP proxy settings for `/key` and the `/ts2021` upgrade. */
  proxy?: ProxyConfig;
  /** Timers for the dial timeout. */
  clock?: Clock;
  /** Randomness for Noise ephemeral keys. */
  random?: RandomSource;
  /** Limit for one dial (`/key` if needed, upgrade, handshake), default {@link DEFAULT_DIAL_TIMEOUT_MS}. */
  dialTimeoutMs?: number;
  /** A server key known in advance (skips `/key` until a handshake fails). */
  serverKey?: MachinePublicKey;
}

/** Options of {@link ControlChannel.request}. */
export interface ControlRequestOptions {
  /** Cancels the request (and closes its HTTP/2 stream). */
  signal?: AbortSignal;
  /** Extra request headers, e.g. `Ts-Lb`. */
  headers?: Record<string, string | string[]>;
  /** HTTP method; POST by default. */
  method?: string;
}

/** A response on the control channel: status, headers and a streaming body. */
export interface ControlResponse {
  /** HTTP status. */
  status: number;
  /** Response headers (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
  /** The body, chunk by chunk; iterate it at most once. */
  body: AsyncIterable<Uint8Array>;
  /** Reads the whole body; throws {@link ControlProtocolError} beyond `limit` bytes. */
  readAll(limit: number): Promise<Uint8Array>;
  /** Stops the stream (RST_STREAM CANCEL); safe to call more than once. */
  cancel(): void;
}

interface Connection {
  session: http2.ClientHttp2Session;
  noise: NoiseConn;
  early: EarlyPayloadReader;
  dead: boolean;
}

/**
 * A lazily dialed, self-healing ts2021 channel.
 *
 * @example
 * ```ts
 * const channel = new ControlChannel({ serverURL: "http://127.0.0.1:8080", machineKey });
 * const res = await channel.request("/machine/register", registerRequest);
 * const body = await res.readAll(1 << 20);
 * channel.close();
 * ```
 */
export class ControlChannel {
  /** The control server base URL. */
  readonly serverURL: URL;
  /** Capability version claimed in /key, the Noise prologue and requests. */
  readonly capabilityVersion: number;
  #machineKey: MachinePrivateKey;
  #caCerts: string[] | undefined;
  #proxy: ProxyConfig | undefined;
  #clock: Clock;
  #random: RandomSource;
  #dialTimeoutMs: number;
  #serverKey: MachinePublicKey | undefined;
  #connection: Connection | undefined;
  #dialing: Promise<Connection> | undefined;
  #closed = false;

  /** Creates the channel; nothing is dialed until the first request. */
  constructor(options: ControlChannelOptions) {
    this.serverURL = new URL(options.serverURL.toString());
    this.capabilityVersion = options.capabilityVersion ?? CAPABILITY_VERSION;
    this.#machineKey = options.machineKey;
    this.#caCerts = options.caCerts;
    this.#proxy = options.proxy;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#dialTimeoutMs = options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.#serverKey = options.serverKey;
  }

  /** The early payload of the current connection, once received. */
  get earlyNoise(): EarlyNoise | null {
    return this.#connection?.early.earlyNoise ?? null;
  }

  /** Whether a live connection exists now (no dial needed for the next request). */
  get connected(): boolean {
    return this.#connection !== undefined && !this.#connection.dead;
  }

  /** The server's Noise key, fetched from `/key` on first use and cached. */
  async serverKey(signal?: AbortSignal): Promise<MachinePublicKey> {
    if (this.#serverKey) return this.#serverKey;
    const key = await fetchServerKey(this.serverURL, {
      capabilityVersion: this.capabilityVersion,
      caCerts: this.#caCerts,
      proxy: this.#proxy,
      signal,
    });
    this.#serverKey = key;
    return key;
  }

  /**
   * Sends a request with a JSON body and resolves once the response
   * headers arrive. When the connection is found dead before a response
   * starts, the request is sent once more over a new connection.
   */
  async request(
    path: string,
    jsonBody: unknown,
    options: ControlRequestOptions = {},
  ): Promise<ControlResponse> {
    const body = new TextEncoder().encode(JSON.stringify(jsonBody));
    for (let attempt = 0;; attempt++) {
      const connection = await this.#connect(options.signal);
      try {
        return await this.#send(connection, path, body, options);
      } catch (err) {
        options.signal?.throwIfAborted();
        const retriable = err instanceof ConnectionLostError && attempt === 0;
        if (!retriable) {
          throw err instanceof ConnectionLostError
            ? new ControlUnreachableError(`control connection lost: ${err.message}`, {
              serverURL: this.serverURL.origin,
              cause: err.cause,
            })
            : err;
        }
      }
    }
  }

  /** Dials now if there is no live connection (requests do this themselves). */
  async connect(signal?: AbortSignal): Promise<void> {
    await this.#connect(signal);
  }

  /** Closes the connection; later requests fail. */
  close(): void {
    this.#closed = true;
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection) this.#teardown(connection);
  }

  async #connect(signal?: AbortSignal): Promise<Connection> {
    if (this.#closed) throw new ControlError("control channel is closed");
    signal?.throwIfAborted();
    const current = this.#connection;
    if (current && !current.dead) return current;
    if (!this.#dialing) {
      this.#dialing = this.#dialWithKeyRetry().finally(() => (this.#dialing = undefined));
    }
    const dialing = this.#dialing;
    if (!signal) return await dialing;
    return await new Promise<Connection>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      dialing.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  /** Dials; if a cached server key fails the handshake, refetches it once. */
  async #dialWithKeyRetry(): Promise<Connection> {
    const hadKey = this.#serverKey !== undefined;
    try {
      return await this.#dial();
    } catch (err) {
      if (!hadKey || !(err instanceof HandshakeRejectedError)) throw err;
      this.#serverKey = undefined;
      return await this.#dial();
    }
  }

  async #dial(): Promise<Connection> {
    const timeout = new AbortController();
    const timer = this.#clock.setTimeout(
      () =>
        timeout.abort(
          new ControlUnreachableError(
            `connecting to ${this.serverURL.origin} timed out after ${this.#dialTimeoutMs} ms`,
            { serverURL: this.serverURL.origin },
          ),
        ),
      this.#dialTimeoutMs,
    );
    try {
      const serverKey = await this.serverKey(timeout.signal);
      const connection = await this.#dialWith(serverKey, timeout.signal);
      if (this.#closed) {
        this.#teardown(connection);
        throw new ControlError("control channel is closed");
      }
      this.#connection = connection;
      return connection;
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  async #dialWith(serverKey: MachinePublicKey, signal: AbortSignal): Promise<Connection> {
    const origin = this.serverURL.origin;
    const handshake = ClientHandshake.begin({
      machineKey: this.#machineKey,
      serverPublic: serverKey,
      protocolVersion: this.capabilityVersion,
      random: this.#random,
    });
    const { conn, reader } = await upgradeToNoise(this.serverURL, handshake.initiation, {
      caCerts: this.#caCerts,
      proxy: this.#proxy,
      signal,
    });
    const onAbort = () => closeQuietly(conn);
    signal.addEventListener("abort", onAbort, { once: true });
    let keys;
    try {
      const header = await reader.readExact(HEADER_LENGTH);
      const { type, length } = parseFrameHeader(header);
      if (type === MSG_TYPE_ERROR) {
        const text = new TextDecoder().decode(await reader.readExact(length));
        throw new ControlProtocolError(
          `${origin} refused the Noise handshake: ${text.slice(0, 200)}`,
          { serverURL: origin },
        );
      }
      if (type !== MSG_TYPE_RESPONSE || length !== RESPONSE_PAYLOAD_LENGTH) {
        throw new ControlProtocolError(
          `${origin} sent an unexpected Noise handshake frame (type ${type}, length ${length})`,
          { serverURL: origin },
        );
      }
      const payload = await reader.readExact(RESPONSE_PAYLOAD_LENGTH);
      const response = new Uint8Array(HEADER_LENGTH + RESPONSE_PAYLOAD_LENGTH);
      response.set(header, 0);
      response.set(payload, HEADER_LENGTH);
      keys = handshake.finish(response);
    } catch (err) {
      closeQuietly(conn);
      if (signal.aborted) throw signal.reason;
      if (err instanceof UnexpectedEOFError) {
        // §3.1: after the 101 the server closes without a word when the
        // initiation does not decrypt (stale server key) or the version is
        // below its floor.
        throw new HandshakeRejectedError(
          `${origin} closed the connection during the Noise handshake (server key changed, or capability version ${this.capabilityVersion} not accepted)`,
          origin,
        );
      }
      if (err instanceof NoiseHandshakeError || err instanceof NoiseProtocolError) {
        throw new HandshakeRejectedError(
          `Noise handshake with ${origin} failed: ${err.message}`,
          origin,
        );
      }
      throw err;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }

    const early = new EarlyPayloadReader();
    const noise = new NoiseConn(conn, keys, {
      initialBytes: reader.takeBuffered(),
      readFilter: (plaintext) => early.push(plaintext),
    });
    // §7: the Go client addresses requests as https://<host>/machine/… whatever
    // the outer scheme; createConnection means no TLS is attempted here.
    const session = http2.connect(`https://${this.serverURL.host}`, {
      createConnection: () => noise,
      settings: { initialWindowSize: STREAM_WINDOW_SIZE, enablePush: false },
    });
    // The connection-level window starts at 64 KiB (RFC 9113 §6.9.2) and only
    // SETTINGS can't raise it: without this, a multi-megabyte netmap crawls
    // through WINDOW_UPDATE round trips.
    session.once("connect", () => session.setLocalWindowSize(SESSION_WINDOW_SIZE));
    const connection: Connection = { session, noise, early, dead: false };
    const markDead = () => {
      connection.dead = true;
      if (this.#connection === connection) this.#connection = undefined;
    };
    session.on("error", markDead);
    session.on("close", markDead);
    session.on("goaway", markDead);
    noise.on("error", markDead);
    noise.on("close", markDead);
    return connection;
  }

  #teardown(connection: Connection): void {
    connection.dead = true;
    try {
      connection.session.destroy();
    } catch {
      // Already gone.
    }
    connection.noise.destroy();
  }

  #send(
    connection: Connection,
    path: string,
    body: Uint8Array,
    options: ControlRequestOptions,
  ): Promise<ControlResponse> {
    const { signal } = options;
    return new Promise<ControlResponse>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = connection.session.request({
          ":method": options.method ?? "POST",
          ":path": path,
          "content-type": "application/json",
          ...options.headers,
        });
      } catch (err) {
        connection.dead = true;
        reject(new ConnectionLostError((err as Error).message, err));
        return;
      }
      let settled = false;
      const cancel = () => {
        if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      };
      const onAbort = () => {
        cancel();
        if (!settled) {
          settled = true;
          reject(signal!.reason);
        }
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      stream.once("close", () => signal?.removeEventListener("abort", onAbort));
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        const lost = connection.dead || connection.session.destroyed ||
          connection.session.closed;
        reject(
          lost
            ? new ConnectionLostError(err instanceof Error ? err.message : String(err), err)
            : new ControlProtocolError(
              `request ${path} failed: ${err instanceof Error ? err.message : String(err)}`,
              { serverURL: this.serverURL.origin, cause: err },
            ),
        );
      };
      stream.on("error", fail);
      stream.once("close", () => fail(new Error(`stream closed (code ${stream.rstCode})`)));
      stream.once("response", (headers) => {
        if (settled) return;
        settled = true;
        const status = Number(headers[":status"]);
        resolve({
          status,
          headers,
          body: stream,
          readAll: (limit) =>
            readAll(stream, limit, path, this.serverURL.origin).catch((err) => {
              cancel();
              throw err;
            }),
          cancel,
        });
      });
      stream.end(body);
    });
  }
}

/** The connection died before a response started; the request may be retried. */
class ConnectionLostError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = "ConnectionLostError";
  }
}

/** The server ended the handshake; with a cached key, it may have changed. */
class HandshakeRejectedError extends ControlProtocolError {
  constructor(message: string, serverURL: string) {
    super(message, { serverURL });
    this.name = "ControlProtocolError";
  }
}

async function readAll(
  stream: AsyncIterable<Uint8Array>,
  limit: number,
  path: string,
  serverURL: string,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > limit) {
      throw new ControlProtocolError(`response to ${path} exceeds ${limit} bytes`, { serverURL });
    }
    parts.push(chunk);
  }
  return concatBytes(parts, total);
}
