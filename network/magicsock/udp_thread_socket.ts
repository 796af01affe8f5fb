/**
 * magicsock's UDP socket on its own thread: the same surface as
 * {@link UdpSocket} (udp_socket.ts), with the socket itself in a worker
 * (udp_worker.ts). What a task sends leaves in one message when the task
 * ends; what arrives comes in batches, each datagram handed to the callback
 * as its own copy. The main thread then pays one message per batch instead
 * of an op, a promise and a system call per datagram.
 *
 * @module
 */
import type { AddrPort } from "../netaddr/addr_port.ts";
import { AddrPortCache, entrySize, readEntries, writeEntry } from "./datagram_batch.ts";
import {
  boundAddress,
  localEndpointsOf,
  type MagicSockUDP,
  type MagicSockUDPOptions,
  MAX_BATCHED_SENDS,
} from "./udp_socket.ts";
import type { UdpThreadReply, UdpThreadRequest } from "./udp_thread_messages.ts";
import {
  BudgetSlot,
  DEFAULT_THREAD_QUEUE_BYTES,
  releaseBudget,
  sharedCounters,
  ThreadBudget,
} from "./thread_budget.ts";

/** How long {@link UdpThreadSocket.close} waits for the worker before it ends it anyway. */
const CLOSE_TIMEOUT_MS = 2_000;

/**
 * A UDP socket owned by a worker thread.
 *
 * @example
 * ```ts
 * const udp = await UdpThreadSocket.bind({ hostname: "127.0.0.1" }, (packet, from) => handle(packet, from));
 * udp.send(AddrPort.parse("127.0.0.1:41641"), datagram);
 * await udp.close();
 * ```
 */
export class UdpThreadSocket implements MagicSockUDP {
  readonly #worker: Worker;
  readonly #options: MagicSockUDPOptions;
  readonly #address: AddrPort | undefined;
  readonly #onDatagram: (packet: Uint8Array, from: AddrPort) => void;
  readonly #sources = new AddrPortCache();
  /** Datagrams waiting for the end of the task, in order, and where each goes. */
  readonly #batch: Uint8Array[] = [];
  readonly #batchTo: AddrPort[] = [];
  #batchBytes = 0;
  readonly #flush = () => this.#sendBatch();
  #closed: Promise<void> | undefined;
  #onClosed: (() => void) | undefined;
  readonly #counters: Int32Array;
  readonly #sendBudget: ThreadBudget;
  #workerSendErrors = 0;
  #sendDropped = 0;
  #receiveErrors = 0;

  private constructor(
    worker: Worker,
    options: MagicSockUDPOptions,
    address: AddrPort | undefined,
    onDatagram: (packet: Uint8Array, from: AddrPort) => void,
    counters: Int32Array,
    queueBytes: number,
  ) {
    this.#worker = worker;
    this.#options = options;
    this.#address = address;
    this.#onDatagram = onDatagram;
    this.#counters = counters;
    this.#sendBudget = new ThreadBudget(counters, BudgetSlot.SendDone, queueBytes);
    worker.onmessage = (event: MessageEvent<UdpThreadReply>) => this.#onReply(event.data);
  }

  /**
   * Starts the worker, binds the socket there and starts receiving into
   * `onDatagram`. Rejects with the runtime's error message when the bind fails.
   */
  static bind(
    options: MagicSockUDPOptions,
    onDatagram: (packet: Uint8Array, from: AddrPort) => void,
    queueBytes: number = DEFAULT_THREAD_QUEUE_BYTES,
  ): Promise<UdpThreadSocket> {
    const counters = sharedCounters();
    const worker = new Worker(new URL("./udp_worker.ts", import.meta.url), { type: "module" });
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        worker.terminate();
        reject(error);
      };
      worker.onerror = (event) => {
        event.preventDefault();
        fail(new Error(`the UDP worker failed to start: ${event.message}`));
      };
      worker.onmessage = (event: MessageEvent<UdpThreadReply>) => {
        const reply = event.data;
        if (reply.op === "bind-failed") return fail(new Error(reply.message));
        if (reply.op !== "bound") return;
        const address = boundAddress(reply);
        worker.onerror = (event) => {
          // A bug in the worker ends its socket, not the node: DERP carries on.
          event.preventDefault();
          socket.#receiveErrors++;
        };
        const socket = new UdpThreadSocket(
          worker,
          options,
          address,
          onDatagram,
          counters,
          queueBytes,
        );
        resolve(socket);
      };
      const request: UdpThreadRequest = {
        op: "bind",
        hostname: options.hostname,
        port: options.port ?? 0,
        counters,
        queueBytes,
      };
      worker.postMessage(request);
    });
  }

  /** The bound address. */
  get address(): AddrPort | undefined {
    return this.#address;
  }

  /** Sends that failed, and datagrams dropped because the worker was too far behind. */
  get sendErrors(): number {
    return this.#workerSendErrors + this.#sendDropped;
  }

  /**
   * Datagrams the receive callback threw on, batches that did not decode
   * whole, and datagrams the worker dropped because we were too far behind.
   */
  get receiveErrors(): number {
    return this.#receiveErrors + Atomics.load(this.#counters, BudgetSlot.ReceiveDropped);
  }

  /** Bytes of send batches posted to the worker that it is not done with. */
  get sendQueueBytes(): number {
    return this.#sendBudget.inFlight;
  }

  /** Our endpoints to advertise to control (see {@link UdpSocket.localEndpoints}). */
  localEndpoints(): AddrPort[] {
    return localEndpointsOf(this.#address, this.#options);
  }

  /**
   * Sends one datagram without waiting: it leaves with the others of this
   * task when the task ends (a microtask), or at once with them when
   * {@link MAX_BATCHED_SENDS} are waiting. The caller must not change
   * `datagram` before the task ends. A failure, or a send after close, is counted.
   */
  send(to: AddrPort, datagram: Uint8Array): void {
    if (this.#closed) {
      this.#sendDropped++; // as a closed socket's send fails
      return;
    }
    this.#batch.push(datagram);
    this.#batchTo.push(to);
    this.#batchBytes += entrySize(to.ip.length, datagram.length);
    if (this.#batch.length === 1) queueMicrotask(this.#flush);
    else if (this.#batch.length >= MAX_BATCHED_SENDS) this.#sendBatch();
  }

  /** Datagrams waiting for the end of the task. */
  get batchedSends(): number {
    return this.#batch.length;
  }

  #sendBatch(): void {
    if (this.#batch.length === 0) return;
    const bytes = new Uint8Array(this.#batchBytes);
    let offset = 0;
    for (let i = 0; i < this.#batch.length; i++) {
      const to = this.#batchTo[i];
      offset = writeEntry(bytes, offset, to.ip, to.port, this.#batch[i]);
    }
    const count = this.#batch.length;
    this.#batch.length = 0;
    this.#batchTo.length = 0;
    this.#batchBytes = 0;
    if (this.#closed) return;
    if (!this.#sendBudget.tryPost(bytes.byteLength)) {
      this.#sendDropped += count; // the worker is too far behind: lost, as in a full socket buffer
      return;
    }
    const request: UdpThreadRequest = { op: "send", buffer: bytes.buffer, length: offset };
    this.#worker.postMessage(request, [bytes.buffer]);
  }

  /** Closes the socket (datagrams not yet sent are dropped) and ends the worker. */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#batch.length = 0;
    this.#batchTo.length = 0;
    this.#batchBytes = 0;
    this.#closed = new Promise<void>((resolve) => {
      const timer = setTimeout(done, CLOSE_TIMEOUT_MS);
      const worker = this.#worker;
      function done() {
        clearTimeout(timer);
        worker.terminate();
        resolve();
      }
      this.#onClosed = done;
    });
    const request: UdpThreadRequest = { op: "close" };
    this.#worker.postMessage(request);
    return this.#closed;
  }

  #onReply(reply: UdpThreadReply): void {
    switch (reply.op) {
      case "datagrams": {
        const batch = new Uint8Array(reply.buffer);
        const read = readEntries(batch, reply.length, (ip, port, payload) => {
          if (this.#closed) return;
          try {
            // Its own copy: whatever keeps a datagram must not pin the whole batch.
            this.#onDatagram(payload.slice(), this.#sources.get(ip, port));
          } catch {
            this.#receiveErrors++;
          }
        });
        if (read !== reply.length) this.#receiveErrors++;
        releaseBudget(this.#counters, BudgetSlot.ReceiveDone, batch.byteLength);
        return;
      }
      case "send-errors":
        this.#workerSendErrors = reply.total;
        return;
      case "closed":
        this.#onClosed?.();
        return;
    }
  }
}
