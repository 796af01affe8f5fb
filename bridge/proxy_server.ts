/**
 * A local proxy into the mesh, as tailscaled's `--socks5-server` and
 * `--outbound-http-proxy-listen` are in userspace mode: SOCKS5 (RFC 1928,
 * CONNECT, no authentication) or HTTP CONNECT on a local TCP listener, each
 * accepted connection dialled to a peer through a {@link MeshDialer} and then
 * relayed both ways. Destinations are resolved by the mesh (peer names,
 * MagicDNS names, mesh IPs); anything else is refused, never dialled on the
 * host's own network.
 *
 * Bounds: at most `maxConnections` client connections (more are closed at
 * once), the handshake within `handshakeTimeoutMs` and at most a small head,
 * each dial within `dialTimeoutMs`. Closing the server closes every
 * connection it holds.
 *
 * Answers by failure kind (mesh_dialer.ts): SOCKS replies 0x04 host
 * unreachable for a name no peer has and for a timeout, 0x02 not allowed
 * for a non-mesh IP and for a peer whose ACL forbids us, 0x05 refused,
 * 0x01 otherwise; HTTP 404, 403, 502, 504, 503.
 *
 * @module
 */
import { type Clock, systemClock } from "../network/clock.ts";
import {
  emitHttpConnectAnswer,
  HTTP_CONNECT_MAX_HEAD,
  HttpConnectError,
  parseHttpConnect,
} from "./http_connect.ts";
import {
  DIAL_FAILURE_STATUS,
  type DialFailureKind,
  dialFailureKind,
  type MeshDialer,
} from "./mesh_dialer.ts";
import { type ByteStream, relay } from "./relay.ts";
import {
  emitSocks5MethodChoice,
  emitSocks5Reply,
  parseSocks5Greeting,
  parseSocks5Request,
  SOCKS5_MAX_GREETING,
  SOCKS5_MAX_REQUEST,
  Socks5AddressType,
  Socks5Command,
  Socks5Error,
  Socks5Method,
  Socks5Reply,
} from "./socks5_wire.ts";

/** Which protocol a {@link MeshProxyServer} speaks. */
export type ProxyProtocol = "socks5" | "http";

/** Bounds of a proxy server. */
export interface ProxyLimits {
  /** Client connections at once. */
  maxConnections: number;
  /** From accept to a complete request. */
  handshakeTimeoutMs: number;
  /** How long a dial may take. */
  dialTimeoutMs: number;
}

/** The defaults. */
export const DEFAULT_PROXY_LIMITS: Readonly<ProxyLimits> = Object.freeze({
  maxConnections: 256,
  handshakeTimeoutMs: 10_000,
  dialTimeoutMs: 15_000,
});

/** Something a proxy did, for logs. */
export type ProxyEvent =
  | { kind: "connected"; protocol: ProxyProtocol; host: string; port: number }
  | {
    kind: "failed";
    protocol: ProxyProtocol;
    host: string;
    port: number;
    failure: DialFailureKind;
    message: string;
  }
  | {
    kind: "closed";
    protocol: ProxyProtocol;
    host: string;
    port: number;
    sent: number;
    received: number;
  }
  | { kind: "refused-client"; protocol: ProxyProtocol; reason: string };

/** Counters of a proxy server. */
export interface ProxyCounters {
  /** Client connections accepted. */
  accepted: number;
  /** Closed at once for want of room. */
  overLimit: number;
  /** Handshakes that failed (malformed, unsupported, too slow). */
  badHandshakes: number;
  /** Dials that failed. */
  dialsFailed: number;
  /** Connections relayed. */
  relayed: number;
}

/** Options of a {@link MeshProxyServer}. */
export interface MeshProxyOptions {
  /** The local listener (TCP); the server owns it from now on. */
  listener: Deno.Listener;
  /** SOCKS5 or HTTP CONNECT. */
  protocol: ProxyProtocol;
  /** Opens connections into the mesh. */
  dial: MeshDialer;
  /** Bounds (defaults in {@link DEFAULT_PROXY_LIMITS}). */
  limits?: Partial<ProxyLimits>;
  /** Time. */
  clock?: Clock;
  /** Told what happens. */
  onEvent?: (event: ProxyEvent) => void;
}

/** A running proxy into the mesh. */
export class MeshProxyServer {
  /** Counters. */
  readonly counters: ProxyCounters = {
    accepted: 0,
    overLimit: 0,
    badHandshakes: 0,
    dialsFailed: 0,
    relayed: 0,
  };
  /** Resolves when the accept loop has ended (after {@link MeshProxyServer.close}). */
  readonly done: Promise<void>;
  readonly #options: MeshProxyOptions;
  readonly #limits: ProxyLimits;
  readonly #clock: Clock;
  readonly #open = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #stop = new AbortController();

  /** Starts accepting at once. */
  constructor(options: MeshProxyOptions) {
    this.#options = options;
    this.#limits = { ...DEFAULT_PROXY_LIMITS, ...options.limits };
    this.#clock = options.clock ?? systemClock;
    this.done = this.#accept();
  }

  /** The local address it listens on. */
  get addr(): Deno.NetAddr {
    return this.#options.listener.addr as Deno.NetAddr;
  }

  /** Client connections open now. */
  get openConnections(): number {
    return this.#open.size;
  }

  /** Stops listening and closes every connection; resolves once all are done. */
  async close(): Promise<void> {
    if (this.#stop.signal.aborted) return await this.done;
    this.#stop.abort();
    try {
      this.#options.listener.close();
    } catch {
      // Already closed.
    }
    for (const conn of this.#open) closeQuietly(conn);
    await this.done;
    await Promise.allSettled([...this.#tasks]);
  }

  async #accept(): Promise<void> {
    const listener = this.#options.listener;
    while (!this.#stop.signal.aborted) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        if (this.#stop.signal.aborted) return;
        // Descriptors exhausted, most likely: wait a moment rather than spin.
        await this.#clock.sleep(50).catch(() => {});
        continue;
      }
      this.counters.accepted++;
      if (this.#open.size >= this.#limits.maxConnections) {
        this.counters.overLimit++;
        this.#event({
          kind: "refused-client",
          protocol: this.#options.protocol,
          reason: `more than ${this.#limits.maxConnections} connections`,
        });
        closeQuietly(conn);
        continue;
      }
      this.#open.add(conn);
      const task = this.#serve(conn).catch(() => {}).finally(() => {
        closeQuietly(conn);
        this.#open.delete(conn);
        this.#tasks.delete(task);
      });
      this.#tasks.add(task);
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const protocol = this.#options.protocol;
    const deadline = this.#clock.setTimeout(
      () => closeQuietly(conn),
      this.#limits.handshakeTimeoutMs,
    );
    let target: Target | null;
    try {
      target = protocol === "socks5" ? await socksHandshake(conn) : await httpHandshake(conn);
    } catch {
      target = null;
    } finally {
      this.#clock.clearTimeout(deadline);
    }
    if (!target) {
      this.counters.badHandshakes++;
      return;
    }
    const { host, port } = target;
    let mesh: ByteStream;
    try {
      mesh = await this.#options.dial(host, port, {
        timeoutMs: this.#limits.dialTimeoutMs,
        signal: this.#stop.signal,
      });
    } catch (error) {
      this.counters.dialsFailed++;
      const failure = dialFailureKind(error);
      const message = error instanceof Error ? error.message : String(error);
      this.#event({ kind: "failed", protocol, host, port, failure, message });
      await writeQuietly(conn, target.refusal(failure, message));
      return;
    }
    try {
      await writeAll(conn, target.success);
    } catch {
      closeQuietly(mesh);
      return;
    }
    this.counters.relayed++;
    this.#event({ kind: "connected", protocol, host, port });
    const result = await relay(conn, mesh, { aPrefix: target.rest, signal: this.#stop.signal });
    this.#event({ kind: "closed", protocol, host, port, sent: result.aToB, received: result.bToA });
  }

  #event(event: ProxyEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A listener's failure is not the proxy's.
    }
  }
}

/** A parsed request: where to, what to answer, and bytes the client sent past it. */
interface Target {
  host: string;
  port: number;
  success: Uint8Array;
  refusal: (failure: DialFailureKind, message: string) => Uint8Array;
  rest: Uint8Array;
}

/** Reads until `parse` has a message or `max` bytes are in; the message and the bytes. */
async function readMessage<T extends { length: number }>(
  conn: Deno.Conn,
  buffered: Uint8Array,
  max: number,
  parse: (bytes: Uint8Array) => T | null,
): Promise<{ message: T; bytes: Uint8Array } | null> {
  let bytes = buffered;
  const chunk = new Uint8Array(max);
  for (;;) {
    const message = parse(bytes);
    if (message) return { message, bytes };
    if (bytes.length >= max) return null;
    const n = await conn.read(chunk.subarray(0, max - bytes.length));
    if (n === null) return null;
    const grown = new Uint8Array(bytes.length + n);
    grown.set(bytes);
    grown.set(chunk.subarray(0, n), bytes.length);
    bytes = grown;
  }
}

async function socksHandshake(conn: Deno.Conn): Promise<Target | null> {
  let greeting;
  try {
    greeting = await readMessage(conn, new Uint8Array(0), SOCKS5_MAX_GREETING, parseSocks5Greeting);
  } catch {
    return null;
  }
  if (!greeting) return null;
  if (!greeting.message.methods.includes(Socks5Method.NoAuth)) {
    await writeQuietly(conn, emitSocks5MethodChoice(Socks5Method.NoAcceptable));
    return null;
  }
  await writeAll(conn, emitSocks5MethodChoice(Socks5Method.NoAuth));
  let request;
  try {
    request = await readMessage(
      conn,
      greeting.bytes.subarray(greeting.message.length),
      SOCKS5_MAX_REQUEST,
      parseSocks5Request,
    );
  } catch (error) {
    if (error instanceof Socks5Error && error.reply !== null) {
      await writeQuietly(conn, emitSocks5Reply(error.reply));
    }
    return null;
  }
  if (!request) return null;
  const { command, host, port, addressType, length } = request.message;
  if (command !== Socks5Command.Connect) {
    await writeQuietly(conn, emitSocks5Reply(Socks5Reply.CommandNotSupported));
    return null;
  }
  const byName = addressType === Socks5AddressType.DomainName;
  return {
    host,
    port,
    success: emitSocks5Reply(Socks5Reply.Succeeded),
    refusal: (failure) => emitSocks5Reply(socksReplyFor(failure, byName)),
    rest: request.bytes.subarray(length),
  };
}

/** The SOCKS reply for a failed dial. */
export function socksReplyFor(failure: DialFailureKind, byName: boolean): number {
  switch (failure) {
    case "peer-not-found":
      // A name no peer has cannot be reached; an address outside the mesh is not ours to dial.
      return byName ? Socks5Reply.HostUnreachable : Socks5Reply.NotAllowed;
    case "forbidden":
      return Socks5Reply.NotAllowed;
    case "refused":
      return Socks5Reply.ConnectionRefused;
    case "timeout":
    case "unreachable":
      return Socks5Reply.HostUnreachable;
    default:
      return Socks5Reply.GeneralFailure;
  }
}

async function httpHandshake(conn: Deno.Conn): Promise<Target | null> {
  let request;
  try {
    request = await readMessage(conn, new Uint8Array(0), HTTP_CONNECT_MAX_HEAD, parseHttpConnect);
  } catch (error) {
    if (error instanceof HttpConnectError) {
      await writeQuietly(conn, emitHttpConnectAnswer(error.status, error.message));
    }
    return null;
  }
  if (!request) return null;
  const { host, port, length } = request.message;
  return {
    host,
    port,
    success: emitHttpConnectAnswer(200),
    refusal: (failure, message) => emitHttpConnectAnswer(DIAL_FAILURE_STATUS[failure], message),
    rest: request.bytes.subarray(length),
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

async function writeQuietly(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  try {
    await writeAll(conn, bytes);
  } catch {
    // The client is gone; nothing to tell.
  }
}

function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
