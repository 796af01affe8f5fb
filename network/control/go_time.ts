/**
 * Go `time.Time` JSON values (reference §1.1): RFC 3339 with up to nine
 * fractional digits; the zero time `0001-01-01T00:00:00Z` means "unset".
 *
 * @module
 */

/** The text Go writes for the zero `time.Time`. */
export const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/** Milliseconds since the Unix epoch of Go's zero time. */
const GO_ZERO_TIME_MS = -62135596800000;

/**
 * Parses a Go time value to Unix milliseconds (sub-millisecond digits are
 * dropped). Returns `null` for text that is not a time.
 *
 * @example
 * ```ts
 * parseGoTime("2026-08-22T10:11:12.123456789Z"); // 1787393472123
 * ```
 */
export function parseGoTime(text: unknown): number | null {
  if (typeof text !== "string") return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

/** Whether `text` is Go's zero time (in any offset or fractional form). */
export function isGoZeroTime(text: unknown): boolean {
  return parseGoTime(text) === GO_ZERO_TIME_MS;
}

/** Formats Unix milliseconds as Go would (UTC, `Z`, fractional digits only when non-zero). */
export function formatGoTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith(".000Z") ? iso.slice(0, -5) + "Z" : iso;
}
