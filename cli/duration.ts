/**
 * Durations on the command line (`--timeout 10m`): one or more
 * number-and-unit parts, units `ms`, `s`, `m`, `h`, as in `90s`, `1m30s`,
 * `1.5h`. A bare number is refused, since seconds and minutes are both
 * plausible readings.
 *
 * @module
 */
import { UsageError } from "./errors.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Parses `text` into milliseconds; throws {@link UsageError} naming `option` when invalid. */
export function parseDuration(text: string, option: string): number {
  const trimmed = text.trim();
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = part.exec(trimmed)) !== null) {
    total += Number(match[1]) * UNIT_MS[match[2]];
    consumed = part.lastIndex;
  }
  if (trimmed === "" || consumed !== trimmed.length || total <= 0) {
    throw new UsageError(
      `invalid duration '${text}' for --${option} (use for example 30s, 10m or 1h)`,
    );
  }
  return Math.round(total);
}

/** Formats milliseconds for messages: `10m`, `1m30s`, `500ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  let seconds = Math.round(ms / 1_000);
  const hours = Math.floor(seconds / 3_600);
  seconds -= hours * 3_600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  return [hours ? `${hours}h` : "", minutes ? `${minutes}m` : "", seconds ? `${seconds}s` : ""]
    .join("") || "0s";
}
