/**
 * A hostile relay (issue 11): after the handshake the server sends
 * 2,000,000 Pings and never reads a byte, so every Pong we write stays
 * queued once the TCP windows are full. The client must keep its memory
 * bounded (excess Pongs dropped and counted) and stay alive: the packet the
 * server sends after the flood still arrives. The server and the client run
 * in one child process (children/derp_flood.ts), so the peak RSS is theirs.
 */
import assert from "node:assert/strict";

const PINGS = 2_000_000;
const MiB = 1024 * 1024;
/** Far above what the bounded queues hold, far below the 1.75 GiB an unbounded queue reached. */
const MAX_GROWTH_BYTES = 96 * MiB;

interface FloodResult {
  pings: number;
  ms: number;
  pingsAnswered: number;
  pongsDropped: number;
  closed: boolean;
  message: { type: string; fromSender?: boolean; data?: number[] };
  peakGrowthBytes: number;
  heapPeakBytes: number;
}

Deno.test("DERP ping flood: 2,000,000 Pings from a server that never reads", async () => {
  const script = new URL("./children/derp_flood.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-check", "--allow-all", "--quiet", script, String(PINGS)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `child failed (code ${output.code}): ${stderr}`);
  const r = JSON.parse(new TextDecoder().decode(output.stdout)) as FloodResult;
  console.log(
    `  ${r.pings} Pings in ${r.ms.toFixed(0)} ms: ${r.pingsAnswered} answered, ` +
      `${r.pongsDropped} dropped; peak RSS +${(r.peakGrowthBytes / MiB).toFixed(1)} MiB, ` +
      `peak heap ${(r.heapPeakBytes / MiB).toFixed(1)} MiB`,
  );
  assert.deepEqual(r.message, { type: "packet", fromSender: true, data: [42] });
  assert.equal(r.closed, false);
  assert.equal(r.pingsAnswered + r.pongsDropped, PINGS);
  assert.ok(r.pongsDropped > 0, "the server never reads, so Pongs must be dropped");
  assert.ok(r.pingsAnswered < PINGS / 2, `${r.pingsAnswered} Pongs answered with nobody reading`);
  assert.ok(
    r.peakGrowthBytes < MAX_GROWTH_BYTES,
    `RSS grew by ${(r.peakGrowthBytes / MiB).toFixed(1)} MiB`,
  );
});
