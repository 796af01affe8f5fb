/**
 * The messages between the main thread (udp_thread_socket.ts) and the UDP
 * worker (udp_worker.ts). Datagrams travel in batches (datagram_batch.ts)
 * whose buffers are transferred with the message.
 *
 * @module
 */

/** From the main thread to the worker. */
export type UdpThreadRequest =
  /**
   * Bind the socket; answered by `bound` or `bind-failed`. `counters` are
   * the shared budget counters (thread_budget.ts); `queueBytes` bounds what
   * the worker posts that the main thread has not handled.
   */
  | { op: "bind"; hostname: string; port: number; counters: Int32Array; queueBytes: number }
  /** Send the datagrams of `buffer[0, length)`. */
  | { op: "send"; buffer: ArrayBuffer; length: number }
  /** Close the socket; answered by `closed` once the receive loop ended. */
  | { op: "close" };

/** From the worker to the main thread. */
export type UdpThreadReply =
  /** The socket is bound to this address. */
  | { op: "bound"; hostname: string; port: number }
  /** Binding failed, with the runtime's message. */
  | { op: "bind-failed"; message: string }
  /** Datagrams received, in `buffer[0, length)`. */
  | { op: "datagrams"; buffer: ArrayBuffer; length: number }
  /** Sends that failed so far, in total. */
  | { op: "send-errors"; total: number }
  /** The socket is closed and nothing more will be posted. */
  | { op: "closed" };
