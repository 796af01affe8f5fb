/**
 * A UDP socket bound to a port on every mesh address of ours, shaped like
 * `Deno.DatagramConn`. Arriving datagrams wait in a queue bounded in count
 * and bytes; what does not fit is dropped and counted, as a kernel drops
 * into a full socket buffer.
 *
 * @module
 */
import { AddrPort } from "../../netaddr/addr_port.ts";
import { SocketClosedError } from "../errors.ts";
import type { NetAddr } from "./tcp_conn.ts";

/** The stack's side of a UDP socket. */
export interface UdpOwner {
  /** Sends one datagram from `port` to `remote`; returns the bytes sent. */
  sendUdp(port: number, remote: AddrPort, data: Uint8Array): number;
  /** Releases the port. */
  unbind(socket: UdpSocket): void;
}

/** Limits of one socket's receive queue. */
export interface UdpQueueLimits {
  /** Most datagrams queued. */
  datagrams: number;
  /** Most payload bytes queued. */
  bytes: number;
}

/** Counters of one socket. */
export interface UdpSocketStats {
  /** Datagrams queued for the application. */
  received: number;
  /** Datagrams dropped because the queue was full. */
  dropped: number;
  /** Datagrams sent. */
  sent: number;
}

/** One datagram and where it came from. */
export type UdpDatagram = [data: Uint8Array, from: AddrPort];

/** A bound UDP port of a {@link NetStack}. */
export class UdpSocket implements AsyncIterable<UdpDatagram>, Disposable {
  /** The port. */
  readonly port: number;
  /** Bound address (every mesh address of ours), as `Deno.NetAddr`. */
  readonly addr: NetAddr;
  /** Counters. */
  readonly stats: UdpSocketStats = { received: 0, dropped: 0, sent: 0 };
  readonly #owner: UdpOwner;
  readonly #limits: UdpQueueLimits;
  #queue: UdpDatagram[] = [];
  #queuedBytes = 0;
  #waiters: { resolve: (d: UdpDatagram) => void; reject: (e: Error) => void }[] = [];
  #closed = false;

  /** Made by the stack's `listenUDP`. */
  constructor(owner: UdpOwner, port: number, limits: UdpQueueLimits) {
    this.#owner = owner;
    this.port = port;
    this.#limits = limits;
    this.addr = { transport: "udp", hostname: "0.0.0.0", port };
  }

  /** Datagrams waiting. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Takes an arriving datagram (called by the stack; `data` is copied). */
  deliver(data: Uint8Array, from: AddrPort): void {
    if (this.#closed) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.stats.received++;
      waiter.resolve([data.slice(), from]);
      return;
    }
    if (
      this.#queue.length >= this.#limits.datagrams ||
      this.#queuedBytes + data.length > this.#limits.bytes
    ) {
      this.stats.dropped++;
      return;
    }
    this.stats.received++;
    this.#queue.push([data.slice(), from]);
    this.#queuedBytes += data.length;
  }

  /** The next datagram; rejects with {@link SocketClosedError} once closed. */
  receive(): Promise<UdpDatagram> {
    const next = this.#queue.shift();
    if (next) {
      this.#queuedBytes -= next[0].length;
      return Promise.resolve(next);
    }
    if (this.#closed) return Promise.reject(new SocketClosedError("UDP socket closed"));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /**
   * Sends `data` to `remote` (an {@link AddrPort} or a `Deno.NetAddr`) from
   * our address of its family; resolves with the bytes sent. Throws when
   * the datagram would not fit the tunnel MTU (this stack never fragments).
   */
  send(data: Uint8Array, remote: AddrPort | NetAddr): Promise<number> {
    if (this.#closed) return Promise.reject(new SocketClosedError("UDP socket closed"));
    try {
      const to = remote instanceof AddrPort ? remote : AddrPort.parse(
        remote.hostname.includes(":")
          ? `[${remote.hostname}]:${remote.port}`
          : `${remote.hostname}:${remote.port}`,
      );
      const n = this.#owner.sendUdp(this.port, to, data);
      this.stats.sent++;
      return Promise.resolve(n);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Unbinds; pending receives reject, queued datagrams are dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#owner.unbind(this);
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new SocketClosedError("UDP socket closed"));
    }
  }

  /** Receives datagrams until the socket closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<UdpDatagram> {
    for (;;) {
      try {
        yield await this.receive();
      } catch (error) {
        if (error instanceof SocketClosedError && this.#closed) return;
        throw error;
      }
    }
  }

  /** Closes the socket. */
  [Symbol.dispose](): void {
    this.close();
  }
}
