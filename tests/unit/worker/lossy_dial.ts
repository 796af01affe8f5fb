/**
 * A dial to a real Redis with one injected fault, for tests of what the job
 * loop does when a reply goes missing:
 *
 * - `cutReply`: forwards both ways until the predicate holds for a chunk
 *   Redis sends (and all the client sent so far on that connection), then
 *   closes the connection instead of passing that chunk on. Redis has run
 *   the command; the client never learns its answer (a Redis restart, or a
 *   mesh path lost, between the write and its reply).
 * - `refuseCommand`: a command (one write) for which it returns a reply is
 *   not sent to Redis; that reply (e.g. `-LOADING …`) is answered instead.
 *
 * Each fault happens `times` times in all (default once), across connections.
 *
 * @module
 */
import { dialTcp, type RedisDial } from "../../../worker/mod.ts";

/** What the dial saw. */
export interface LossyDialState {
  /** Connections opened. */
  dials: number;
  /** Faults injected. */
  faults: number;
  /** Everything clients wrote, over all connections. */
  sent: string;
}

/** The fault to inject; see the module documentation. */
export interface LossyDialFault {
  /** Cut the connection instead of passing on this reply chunk. */
  cutReply?: (reply: string, sentOnConnection: string) => boolean;
  /** Answer this command with the returned RESP reply instead of sending it on. */
  refuseCommand?: (command: string) => string | null;
  /** How many faults in all (default 1). */
  times?: number;
}

/** A dial with one kind of fault; see the module documentation. */
export function lossyDial(fault: LossyDialFault): { dial: RedisDial; state: LossyDialState } {
  const state: LossyDialState = { dials: 0, faults: 0, sent: "" };
  const times = fault.times ?? 1;
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const dial: RedisDial = async (host, port, signal) => {
    const inner = await dialTcp(host, port, signal);
    state.dials++;
    let sent = "";
    let inject: ((chunk: Uint8Array) => void) | null = null;
    const readable = inner.readable.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        start: (controller) => {
          inject = (chunk) => controller.enqueue(chunk);
        },
        transform: (chunk, controller) => {
          if (
            fault.cutReply && state.faults < times && fault.cutReply(decoder.decode(chunk), sent)
          ) {
            state.faults++;
            inner.close();
            controller.error(new Error("connection cut by the test"));
            return;
          }
          controller.enqueue(chunk);
        },
      }),
    );
    const writer = inner.writable.getWriter();
    const writable = new WritableStream<Uint8Array>({
      write: (chunk) => {
        const text = decoder.decode(chunk);
        const refusal = fault.refuseCommand && state.faults < times
          ? fault.refuseCommand(text)
          : null;
        if (refusal !== null) {
          state.faults++;
          inject!(encoder.encode(refusal));
          return;
        }
        sent += text;
        state.sent += text;
        return writer.write(chunk);
      },
      close: () => writer.close(),
      abort: (reason) => writer.abort(reason),
    });
    return { readable, writable, close: () => inner.close() };
  };
  return { dial, state };
}
