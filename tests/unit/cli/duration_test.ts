import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../../../cli/duration.ts";
import { UsageError } from "../../../cli/errors.ts";

Deno.test("durations parse from number-and-unit parts", () => {
  assert.equal(parseDuration("500ms", "t"), 500);
  assert.equal(parseDuration("30s", "t"), 30_000);
  assert.equal(parseDuration("10m", "t"), 600_000);
  assert.equal(parseDuration("1h", "t"), 3_600_000);
  assert.equal(parseDuration("1m30s", "t"), 90_000);
  assert.equal(parseDuration("1.5h", "t"), 5_400_000);
  assert.equal(parseDuration(" 2m ", "t"), 120_000);
});

Deno.test("bad durations are usage errors naming the option", () => {
  for (const bad of ["", "90", "10 m", "m", "-5s", "0s", "5d", "1m-", "abc"]) {
    assert.throws(
      () => parseDuration(bad, "timeout"),
      (e: Error) => e instanceof UsageError && e.message.includes("--timeout"),
      bad,
    );
  }
});

Deno.test("durations format compactly", () => {
  assert.equal(formatDuration(250), "250ms");
  assert.equal(formatDuration(2_000), "2s");
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(600_000), "10m");
  assert.equal(formatDuration(3_660_000), "1h1m");
});
