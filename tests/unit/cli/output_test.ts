import assert from "node:assert/strict";
import { Output } from "../../../cli/output.ts";
import { Spinner } from "../../../cli/spinner.ts";
import { FakeIO } from "./fake_cli.ts";

const TTY = { stdin: true, stdout: true, stderr: true };

Deno.test("colour is decided per stream", () => {
  const io = new FakeIO({ isTTY: { stdin: false, stdout: false, stderr: true } });
  const out = new Output(io, { noColor: false, verbose: false });
  assert.equal(out.stdoutPaint.enabled, false);
  assert.equal(out.stderrPaint.enabled, true);
  assert.equal(out.stderrPaint.paint("x", "red"), "\x1b[31mx\x1b[39m");
  assert.equal(out.stdoutPaint.paint("x", "red"), "x");
});

Deno.test("debug lines appear only with --verbose, on stderr", () => {
  const quiet = new FakeIO();
  new Output(quiet, { noColor: false, verbose: false }).debug("detail");
  assert.equal(quiet.all, "");
  const loud = new FakeIO();
  new Output(loud, { noColor: false, verbose: true }).debug("detail");
  assert.equal(loud.err, "debug: detail\n");
  assert.equal(loud.out, "");
});

Deno.test("every write path redacts registered secrets and key-shaped tokens", () => {
  const io = new FakeIO();
  const out = new Output(io, { noColor: true, verbose: true });
  out.addSecret("s3cr3t-value-123");
  out.line("a s3cr3t-value-123");
  out.info("b hskey-auth-x1");
  out.warn("c s3cr3t-value-123");
  out.debug("d tskey-api-q");
  out.json({ key: "s3cr3t-value-123" });
  assert.ok(!io.all.includes("s3cr3t"));
  assert.ok(!io.all.includes("hskey-auth-x1") && !io.all.includes("tskey-api-q"));
  assert.equal(io.all.split("[redacted]").length - 1, 5);
});

Deno.test("the spinner animates on a terminal and clears its line when stopped", async () => {
  const io = new FakeIO({ isTTY: TTY });
  const out = new Output(io, { noColor: true, verbose: false });
  const spinner = new Spinner(out, io.clock, true);
  spinner.start("Waiting");
  await new Promise((resolve) => setTimeout(resolve, 250));
  spinner.stop("done");
  const frames = io.err.split("\r\x1b[2K").filter((f) => f.includes("Waiting"));
  assert.ok(frames.length >= 2, `animated: ${JSON.stringify(io.err)}`);
  assert.ok(io.err.endsWith("\r\x1b[2Kdone\n"));
  assert.equal(spinner.running, false);
  assert.equal(io.out, "");
});

Deno.test("off a terminal the spinner prints each message once, as a plain line", () => {
  const io = new FakeIO();
  const out = new Output(io, { noColor: true, verbose: false });
  const spinner = new Spinner(out, io.clock, false);
  spinner.start("Connecting");
  spinner.start("Connecting");
  spinner.start("Waiting");
  spinner.stop();
  assert.equal(io.err, "Connecting\nWaiting\n");
});
