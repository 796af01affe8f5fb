/**
 * Child of map_flow_control_test.ts: a real {@link ControlClient} map poll
 * against the parent's fake ts2021 server, with a reader the parent holds
 * still. Run with `--v8-flags=--expose-gc` so that memory is measured after
 * collection. Speaks JSON lines: on stdout the events `baseline`, `paused`,
 * `sample` and `done`; on stdin the commands `sample`, `resume` and, after
 * `done`, `exit`.
 *
 * The reader stops inside onMessage at the self node (message 0) until
 * `resume`, then sleeps {@link SLOW_MS} ms on each of the next
 * {@link SLOW_FRAMES} messages, then reads at full speed, checking that every
 * message is the next `Seq` and carries exactly its expected text.
 *
 * Usage: map_flow_client.ts <server URL>
 */
import { ControlClient } from "../../../../../network/control/control_client.ts";
import type { MapResponse } from "../../../../../network/control/map_response.ts";
import {
  DiscoPrivateKey,
  MachinePrivateKey,
  NodePrivateKey,
} from "../../../../../network/crypto/keys.ts";
import { peakResidentBytes, resetPeakResident } from "../../../process_memory.ts";
import { flowPadding } from "../flow_frames.ts";

/** Messages read slowly after the pause. */
const SLOW_FRAMES = 20;
/** Time the slow reader spends on each of them. */
const SLOW_MS = 50;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

/** Memory after two full collections. */
function settled() {
  gc!();
  gc!();
  const { rss, heapUsed, external } = Deno.memoryUsage();
  return { rss, heapUsed, external };
}

function emit(event: Record<string, unknown>): void {
  console.log(JSON.stringify(event));
}

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
let pending = "";
/** The next command line from the parent. */
async function command(): Promise<string> {
  for (;;) {
    const newline = pending.indexOf("\n");
    if (newline >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      return line.trim();
    }
    const { value, done } = await lines.read();
    if (done) throw new Error("parent closed stdin");
    pending += value;
  }
}

/** Answers `sample` commands until `resume`. */
async function holdUntilResume(): Promise<void> {
  for (;;) {
    const line = await command();
    if (line === "resume") return;
    if (line === "sample") emit({ event: "sample", ...settled() });
    else throw new Error(`unknown command ${line}`);
  }
}

const client = new ControlClient({
  serverURL: Deno.args[0],
  machineKey: MachinePrivateKey.generate(),
  hostinfo: () => ({ Hostname: "flow-reader" }),
});
const baseline = settled();
resetPeakResident();
emit({ event: "baseline", ...baseline, peakRss: peakResidentBytes() });

let expected = 0;
let mismatches = 0;
let firstMismatch = "";
let textBytes = 0;
const onMessage = async (message: MapResponse) => {
  if (expected === 0) {
    if (!message.Node) throw new Error("message 0 is not the self node");
    emit({ event: "paused" });
    await holdUntilResume();
  } else {
    const text = message.Domain ?? "";
    textBytes += text.length;
    if (message.Seq !== expected || text !== flowPadding(expected)) {
      mismatches++;
      firstMismatch ||= `message ${expected}: Seq ${message.Seq}, ${text.length} letters`;
    }
    if (expected <= SLOW_FRAMES) await new Promise((r) => setTimeout(r, SLOW_MS));
    if (expected === SLOW_FRAMES) emit({ event: "sample", ...settled() });
  }
  expected++;
};

const start = performance.now();
let error: string | null = null;
try {
  await client.mapPoll({
    nodeKey: NodePrivateKey.generate().publicKey(),
    discoKey: DiscoPrivateKey.generate().publicKey(),
    signal: new AbortController().signal,
    onMessage,
  });
} catch (err) {
  error = `${(err as Error).name}: ${(err as Error).message}`;
}
emit({
  event: "done",
  error,
  messages: expected,
  mismatches,
  firstMismatch,
  textBytes,
  ms: performance.now() - start,
  peakRss: peakResidentBytes(),
  ...settled(),
});
// The parent closes its server first, then says "exit"; the client is not
// closed here (see map_flow_control_test.ts for why).
if (await command() !== "exit") throw new Error("expected exit");
Deno.exit(0);
