/**
 * Child of map_frame_bomb_test.ts: feeds one bomb from zstd_bombs.ts to a
 * fresh MapFrameDecoder and prints one JSON line: the error it got, the
 * peak RSS above the RSS before decoding, and the time taken.
 *
 * Usage: map_frame_bomb.ts <bomb name> <cap bytes>
 */
import { frameMapBody, MapFrameDecoder } from "../../../../../network/control/map_frame.ts";
import { peakResidentBytes, resetPeakResident, residentBytes } from "../../../process_memory.ts";
import { ZSTD_BOMBS, type ZstdBombName } from "../zstd_bombs.ts";

const [name, capText] = Deno.args;
const cap = Number(capText);
const frame = frameMapBody(ZSTD_BOMBS[name as ZstdBombName]());
const decoder = new MapFrameDecoder({ compressed: true, maxMessageBytes: cap });
const before = residentBytes();
resetPeakResident();
const start = performance.now();
let error: { name: string; code?: string; message: string } | null = null;
let messages = 0;
try {
  messages = decoder.push(frame).length;
} catch (err) {
  const e = err as Error & { code?: string };
  error = { name: e.name, code: e.code, message: e.message };
}
const ms = performance.now() - start;
console.log(JSON.stringify({
  bodyBytes: frame.length - 4,
  messages,
  error,
  peakGrowthBytes: peakResidentBytes() - before,
  ms,
}));
