/**
 * The zstd bombs of issue 11 against the map-stream decoder at its default
 * cap (256 MiB), each in a fresh child process so that its peak RSS is its
 * own: every bomb is refused with a typed error, and the resident memory it
 * cost stays under twice the cap.
 */
import assert from "node:assert/strict";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../../../../network/control/map_frame.ts";
import { MiB, ZSTD_BOMBS, type ZstdBombName } from "./zstd_bombs.ts";

interface BombResult {
  bodyBytes: number;
  messages: number;
  error: { name: string; code?: string; message: string } | null;
  peakGrowthBytes: number;
  ms: number;
}

async function runBomb(name: ZstdBombName, cap: number): Promise<BombResult> {
  const script = new URL("./children/map_frame_bomb.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-check", "--allow-all", "--quiet", script, name, String(cap)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `child for "${name}" failed (code ${output.code}): ${stderr}`);
  return JSON.parse(new TextDecoder().decode(output.stdout)) as BombResult;
}

/**
 * How each bomb is refused: past the cap, or (a frame that outgrows its own
 * declared size) as soon as it produces more than it declared.
 */
const REFUSED_AS: Record<ZstdBombName, string> = {
  "concatenated": "message-too-large",
  "content size 0": "bad-zstd",
  "no content size": "message-too-large",
  "no content size, 128 MiB window": "message-too-large",
  "600 honest 1 MiB frames": "message-too-large",
};

const cap = DEFAULT_MAX_MESSAGE_BYTES;
for (const name of Object.keys(ZSTD_BOMBS) as ZstdBombName[]) {
  Deno.test(`map frame bomb "${name}": refused, peak RSS under twice the cap`, async () => {
    const result = await runBomb(name, cap);
    const peakMiB = (result.peakGrowthBytes / MiB).toFixed(0);
    console.log(
      `  ${name}: ${result.bodyBytes} B body, ${result.error?.code ?? "accepted"}, ` +
        `peak +${peakMiB} MiB (cap ${cap / MiB} MiB), ${result.ms.toFixed(0)} ms`,
    );
    assert.equal(result.messages, 0);
    assert.equal(result.error?.name, "MapFrameError", JSON.stringify(result.error));
    assert.equal(result.error?.code, REFUSED_AS[name], result.error?.message);
    assert.ok(
      result.peakGrowthBytes < 2 * cap,
      `peak RSS grew by ${peakMiB} MiB, over twice the ${cap / MiB} MiB cap`,
    );
    assert.ok(result.ms < 10_000, `took ${result.ms.toFixed(0)} ms`);
  });
}
