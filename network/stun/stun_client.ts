/**
 * Asking a STUN server how it sees a UDP socket (data-plane reference §4):
 * send Tailscale's Binding Request, wait for the Success Response with the
 * same transaction ID, give back the mapped address and the round trip.
 *
 * The client reads the socket itself, in one loop, for as long as the socket
 * is open: Deno lets several `receive()` calls wait at once and gives each
 * datagram to one of them, so a second reader, or a receive left behind by a
 * timed-out request, would steal datagrams. Datagrams that are not STUN
 * responses to a pending request go to `onPacket`, so the socket can still
 * carry other traffic. netcheck-style retries and timing policy are the
 * caller's; this is one request, one answer.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { type RandomSource, systemRandom } from "../crypto/random.ts";
import {
  bindingRequest,
  isStunPacket,
  newTransactionId,
  parseBindingResponse,
  type StunMappedAddress,
  StunParseError,
} from "./stun_message.ts";

/** How long {@link StunClient.request} waits by default (netcheck's STUN phase is 3 s, §4.4). */
export const STUN_DEFAULT_TIMEOUT_MS = 3000;

/** Thrown when no matching response arrives in time. */
export class StunTimeoutError extends Error {
  /** Makes the error naming the server and the wait. */
  constructor(server: string, timeoutMs: number) {
    super(`no STUN response from ${server} within ${timeoutMs} ms`);
    this.name = "StunTimeoutError";
  }
}

/** Thrown by requests once the client is closed or its socket fails. */
export class StunClientClosedError extends Error {
  /** Makes the error, with the socket error as the cause when there is one. */
  constructor(message = "STUN client closed", options?: ErrorOptions) {
    super(message, options);
    this.name = "StunClientClosedError";
  }
}

/** Where to send a request. */
export interface StunServer {
  /** IP address (the client does not resolve names). */
  hostname: string;
  /** UDP port. */
  port: number;
}

/** A STUN answer. */
export interface StunResult {
  /** This socket's address as the server saw it. */
  address: StunMappedAddress;
  /** The server that answered. */
  server: StunServer;
  /** Milliseconds from send to answer (monotonic clock). */
  rttMs: number;
}

/** Options of {@link StunClient}. */
export interface StunClientOptions {
  /** Time and timers; the system clock by default. */
  clock?: Clock;
  /** Source of transaction IDs; the system CSPRNG by default. */
  random?: RandomSource;
  /** Receives every datagram that is not an awaited STUN response. */
  onPacket?: (data: Uint8Array, from: Deno.NetAddr) => void;
}

/** Options of {@link StunClient.request}. */
export interface StunRequestOptions {
  /** How long to wait; {@link STUN_DEFAULT_TIMEOUT_MS} by default. */
  timeoutMs?: number;
  /** Cancels the wait (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

interface Pending {
  transactionId: Uint8Array;
  sentAt: number;
  server: StunServer;
  resolve: (result: StunResult) => void;
  reject: (error: unknown) => void;
}

/**
 * STUN requests over one UDP socket.
 *
 * @example
 * ```ts
 * const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const stun = new StunClient(socket);
 * const { address } = await stun.request({ hostname: "127.0.0.1", port: 3478 });
 * stun.close();
 * ```
 */
export class StunClient {
  readonly #socket: Deno.DatagramConn;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #onPacket: StunClientOptions["onPacket"];
  readonly #pending = new Map<string, Pending>();
  #reading = false;
  #closedError: StunClientClosedError | undefined;

  /** Takes over reading `socket` (see the module notes). */
  constructor(socket: Deno.DatagramConn, options: StunClientOptions = {}) {
    this.#socket = socket;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#onPacket = options.onPacket;
  }

  /**
   * Sends one Binding Request to `server` and resolves with the mapped
   * address. Rejects with {@link StunTimeoutError}, {@link StunClientClosedError},
   * the socket's send error, or the signal's reason.
   */
  request(server: StunServer, options: StunRequestOptions = {}): Promise<StunResult> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const timeoutMs = options.timeoutMs ?? STUN_DEFAULT_TIMEOUT_MS;
    const transactionId = newTransactionId(this.#random);
    const key = hexOf(transactionId);
    return new Promise<StunResult>((resolve, reject) => {
      const finish = () => {
        this.#clock.clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#pending.delete(key);
      };
      const onAbort = () => {
        finish();
        reject(signal!.reason);
      };
      const timer = this.#clock.setTimeout(() => {
        finish();
        reject(new StunTimeoutError(`${server.hostname}:${server.port}`, timeoutMs));
      }, timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(key, {
        transactionId,
        sentAt: this.#clock.monotonic(),
        server,
        resolve: (result) => {
          finish();
          resolve(result);
        },
        reject: (error) => {
          finish();
          reject(error);
        },
      });
      this.#startReading();
      this.#socket.send(bindingRequest(transactionId), {
        transport: "udp",
        hostname: server.hostname,
        port: server.port,
      }).catch((error) => this.#pending.get(key)?.reject(error));
    });
  }

  /** Rejects pending requests and closes the socket. */
  close(): void {
    this.#shutDown(new StunClientClosedError());
    try {
      this.#socket.close();
    } catch {
      // Already closed.
    }
  }

  #shutDown(error: StunClientClosedError): void {
    this.#closedError ??= error;
    for (const pending of [...this.#pending.values()]) pending.reject(this.#closedError);
  }

  #startReading(): void {
    if (this.#reading) return;
    this.#reading = true;
    (async () => {
      for (;;) {
        let data: Uint8Array, from: Deno.Addr;
        try {
          [data, from] = await this.#socket.receive();
        } catch (error) {
          this.#shutDown(new StunClientClosedError("STUN socket closed", { cause: error }));
          return;
        }
        if (!this.#dispatch(data)) this.#onPacket?.(data, from as Deno.NetAddr);
      }
    })();
  }

  /** Hands a response to its request; false when the datagram is not one. */
  #dispatch(data: Uint8Array): boolean {
    if (!isStunPacket(data) || this.#pending.size === 0) return false;
    let response;
    try {
      response = parseBindingResponse(data);
    } catch (error) {
      if (error instanceof StunParseError) return false;
      throw error;
    }
    const pending = this.#pending.get(hexOf(response.transactionId));
    if (!pending) return false;
    pending.resolve({
      address: response.address,
      server: pending.server,
      rttMs: this.#clock.monotonic() - pending.sentAt,
    });
    return true;
  }
}

function hexOf(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
