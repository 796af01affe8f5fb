/**
 * The UDP worker: a Web Worker that owns magicsock's UDP socket, so that the
 * system calls and Deno's per-datagram op and promise run on a second
 * thread while the main thread runs WireGuard, the stack and the
 * application. It speaks to udp_thread_socket.ts in messages whose
 * datagrams travel in batches (datagram_batch.ts), transferred, not copied.
 *
 * Receiving, it copies each datagram into the current batch and posts the
 * batch at the next turn of its event loop (a message to itself on a
 * MessageChannel: the datagrams the socket already held are read first, 26
 * per batch on average in `./dev bench mesh`; a zero-delay timer would wait
 * about 2 ms in Deno), when the batch is full, or after
 * {@link MAX_BATCH_DATAGRAMS}. Sending, it sends a batch's datagrams back to
 * back, without waiting for one before the next. What is in flight between
 * the threads is bounded both ways (thread_budget.ts).
 *
 * This module only runs as a worker's entry point; it imports nothing that
 * loads the node.
 *
 * @module
 */
import { MAX_DATAGRAM, MAX_ENTRY_OVERHEAD, readEntries, writeEntry } from "./datagram_batch.ts";
import type { UdpThreadReply, UdpThreadRequest } from "./udp_thread_messages.ts";
import { BudgetSlot, releaseBudget, sharedCounters, ThreadBudget } from "./thread_budget.ts";
import { formatIPAddress, ipAddressEquals, parseIPAddress } from "../netaddr/ip_address.ts";

/** Datagrams per posted batch at most: one message's worth of work for the main thread. */
export const MAX_BATCH_DATAGRAMS = 64;
/** Bytes of a receive batch: room for {@link MAX_BATCH_DATAGRAMS} datagrams of an MTU-sized packet. */
const RECEIVE_BATCH_BYTES = 96 * 1024;

// deno-lint-ignore no-explicit-any
const scope = self as any as {
  postMessage(message: UdpThreadReply, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<UdpThreadRequest>) => void) | null;
  close(): void;
};

let conn: Deno.DatagramConn | undefined;
let counters: Int32Array = sharedCounters();
let receiveBudget: ThreadBudget | undefined;
let loop: Promise<void> | undefined;
let sendErrors = 0;
let reportedSendErrors = 0;

function post(message: UdpThreadReply, transfer?: Transferable[]): void {
  scope.postMessage(message, transfer);
}

scope.onmessage = (event) => {
  const request = event.data;
  switch (request.op) {
    case "bind":
      counters = request.counters;
      receiveBudget = new ThreadBudget(counters, BudgetSlot.ReceiveDone, request.queueBytes);
      try {
        conn = Deno.listenDatagram({
          transport: "udp",
          hostname: request.hostname,
          port: request.port,
        });
      } catch (error) {
        post({
          op: "bind-failed",
          message: error instanceof Error ? error.message : String(error),
        });
        return;
      }
      post({
        op: "bound",
        hostname: (conn.addr as Deno.NetAddr).hostname,
        port: (conn.addr as Deno.NetAddr).port,
      });
      loop = receiveLoop(conn);
      return;
    case "send":
      sendBatch(new Uint8Array(request.buffer), request.length);
      return;
    case "close":
      void closeSocket();
      return;
  }
};

async function closeSocket(): Promise<void> {
  try {
    conn?.close();
  } catch {
    // already closed
  }
  await loop;
  post({ op: "closed" });
}

// A stream of datagrams mostly goes to one peer: its Deno address is reused.
let lastSendIP = new Uint8Array(0);
let lastSendPort = -1;
let lastSendAddr: Deno.NetAddr | undefined;

// The batch's bytes count against the main thread's send budget until
// every send of it settled (Deno holds the payloads until then).
function sendBatch(batch: Uint8Array, length: number): void {
  const socket = conn;
  let pending = 1;
  const settled = () => {
    if (--pending === 0) releaseBudget(counters, BudgetSlot.SendDone, batch.byteLength);
  };
  const failed = () => {
    noteSendError();
    settled();
  };
  if (socket) {
    readEntries(batch, length, (ip, port, payload) => {
      if (port !== lastSendPort || !ipAddressEquals(ip, lastSendIP)) {
        lastSendIP = ip.slice();
        lastSendPort = port;
        lastSendAddr = { transport: "udp", hostname: formatIPAddress(lastSendIP), port };
      }
      pending++;
      socket.send(payload, lastSendAddr!).then(settled, failed);
    });
  }
  settled();
}

function noteSendError(): void {
  sendErrors++;
  if (sendErrors - reportedSendErrors === 1) {
    setTimeout(() => {
      reportedSendErrors = sendErrors;
      post({ op: "send-errors", total: sendErrors });
    }, 0);
  }
}

async function receiveLoop(socket: Deno.DatagramConn): Promise<void> {
  const buffer = new Uint8Array(MAX_DATAGRAM);
  let batch = new Uint8Array(RECEIVE_BATCH_BYTES);
  let length = 0;
  let count = 0;
  let flushArmed = false;
  const flush = () => {
    flushArmed = false;
    if (count === 0) return;
    if (receiveBudget!.tryPost(batch.byteLength)) {
      post({ op: "datagrams", buffer: batch.buffer, length }, [batch.buffer]);
      batch = new Uint8Array(RECEIVE_BATCH_BYTES);
    } else {
      // The main thread is too far behind: these are lost, as in a full socket buffer.
      Atomics.add(counters, BudgetSlot.ReceiveDropped, count);
    }
    length = 0;
    count = 0;
  };
  const ticks = new MessageChannel();
  const tick = ticks.port2;
  ticks.port1.onmessage = flush;
  let lastHost = "";
  let lastIP: Uint8Array | null = null;
  for (;;) {
    let received: Uint8Array, addr: Deno.Addr;
    try {
      [received, addr] = await socket.receive(buffer);
    } catch {
      flush();
      return; // closed
    }
    const net = addr as Deno.NetAddr;
    if (net.hostname !== lastHost) {
      lastIP = parseIPAddress(net.hostname);
      lastHost = net.hostname;
    }
    if (!lastIP) continue;
    if (length + MAX_ENTRY_OVERHEAD + received.length > batch.length) flush();
    length = writeEntry(batch, length, lastIP, net.port, received);
    count++;
    if (count >= MAX_BATCH_DATAGRAMS) flush();
    else if (!flushArmed) {
      flushArmed = true;
      tick.postMessage(null);
    }
  }
}
