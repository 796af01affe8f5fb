import assert from "node:assert/strict";
import {
  formatGoTime,
  GO_ZERO_TIME,
  isGoZeroTime,
  parseGoTime,
} from "../../../../network/control/go_time.ts";

Deno.test("go time: parses nine fractional digits and offsets", () => {
  assert.equal(
    parseGoTime("2026-08-22T10:11:12.123456789Z"),
    Date.UTC(2026, 7, 22, 10, 11, 12, 123),
  );
  assert.equal(parseGoTime("2026-08-22T12:11:12+02:00"), Date.UTC(2026, 7, 22, 10, 11, 12));
  assert.equal(parseGoTime("yesterday"), null);
  assert.equal(parseGoTime(5), null);
});

Deno.test("go time: the zero time in its forms", () => {
  assert.ok(isGoZeroTime(GO_ZERO_TIME));
  assert.ok(isGoZeroTime("0001-01-01T00:00:00.000000000Z"));
  assert.ok(!isGoZeroTime("1970-01-01T00:00:00Z"));
  assert.ok(!isGoZeroTime(undefined));
});

Deno.test("go time: formats like Go (no .000 for whole seconds)", () => {
  assert.equal(formatGoTime(Date.UTC(2026, 10, 26, 15, 0, 0)), "2026-11-26T15:00:00Z");
  assert.equal(formatGoTime(Date.UTC(2026, 10, 26, 15, 0, 0, 250)), "2026-11-26T15:00:00.250Z");
  assert.equal(parseGoTime(formatGoTime(1_800_000_000_123)), 1_800_000_000_123);
});
