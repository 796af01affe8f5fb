import assert from "node:assert/strict";
import { CommandError, describeError, KNOWN_ERRORS, UsageError } from "../../../cli/errors.ts";
import { ExitCode, exitCodeName } from "../../../cli/exit_codes.ts";
import { NotImplementedError, NotLoggedInError } from "../../../network/mod.ts";
import { InstanceLockedError, StateCorruptError, StateVersionError } from "../../../state/mod.ts";

function named(name: string, message = `${name} happened`): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

Deno.test("each known error name maps to its exit code, with a hint", () => {
  const table: Array<[string, number]> = [
    ["ControlUnreachableError", ExitCode.NEXUS_UNREACHABLE],
    ["ControlTLSError", ExitCode.TLS],
    ["ControlProtocolError", ExitCode.NEXUS_PROTOCOL],
    ["UnsupportedVersionError", ExitCode.NEXUS_PROTOCOL],
    ["AuthKeyRejectedError", ExitCode.AUTH_REJECTED],
    ["RegistrationError", ExitCode.AUTH_REJECTED],
    ["NodeNotFoundError", ExitCode.NODE_REMOVED],
    ["NodeExpiredError", ExitCode.NODE_REMOVED],
    ["NotLoggedInError", ExitCode.NOT_LOGGED_IN],
    ["NotImplementedError", ExitCode.NOT_IMPLEMENTED],
    ["StateCorruptError", ExitCode.STATE_CORRUPT],
    ["StateVersionError", ExitCode.STATE_CORRUPT],
    ["InstanceLockedError", ExitCode.ALREADY_RUNNING],
    ["AbortError", ExitCode.INTERRUPTED],
    ["NexusMismatchError", ExitCode.USAGE],
    ["InvalidNexusURLError", ExitCode.USAGE],
    ["ProxyAuthError", ExitCode.PROXY_AUTH],
    ["ProxyRefusedError", ExitCode.PROXY_FAILED],
    ["ProxyUnreachableError", ExitCode.PROXY_FAILED],
    ["ProxyProtocolError", ExitCode.PROXY_FAILED],
    ["ProxyConfigError", ExitCode.USAGE],
  ];
  for (const [name, code] of table) {
    const d = describeError(named(name), { nexus: "https://nexus.test" });
    assert.equal(d.exitCode, code, name);
    assert.equal(d.detail, null, `${name}: no stack`);
    assert.ok(!d.message.includes("\n"), name);
    if (!["StateCorruptError", "StateVersionError", "AbortError"].includes(name)) {
      assert.ok(d.hint, `${name} has a hint`);
    }
  }
  // The table names every code it maps, and only real codes.
  for (const known of Object.values(KNOWN_ERRORS)) {
    assert.notEqual(exitCodeName(known.exitCode), "UNKNOWN");
  }
});

Deno.test("hints name the Nexus URL in use", () => {
  const d = describeError(named("ControlUnreachableError"), { nexus: "https://nexus.test" });
  assert.match(d.hint!, /https:\/\/nexus\.test/);
});

Deno.test("real error classes of network/ and state/ are recognised by name", () => {
  assert.equal(describeError(new NotLoggedInError("/s")).exitCode, ExitCode.NOT_LOGGED_IN);
  const ni = describeError(new NotImplementedError("connect"));
  assert.equal(ni.exitCode, ExitCode.NOT_IMPLEMENTED);
  assert.equal(ni.message, "connect is not implemented yet");
  assert.equal(describeError(new StateCorruptError("/s/state.json", "bad JSON")).exitCode, 9);
  assert.equal(describeError(new StateVersionError("/s/state.json", 9, 1)).exitCode, 9);
  const locked = describeError(new InstanceLockedError("/s/work.lock", null));
  assert.equal(locked.exitCode, ExitCode.ALREADY_RUNNING);
  assert.equal(locked.message, "another citadel work is already running for this state directory");
  const held = describeError(
    new InstanceLockedError("/s/work.lock", { pid: 42, hostname: "h", startedAt: "T" }),
  );
  assert.equal(
    held.message,
    "another citadel work is already running for this state directory (pid 42 on h, started T)",
  );
});

Deno.test("an abort (DOMException AbortError) is 'interrupted', exit 130", () => {
  const d = describeError(new DOMException("whatever", "AbortError"));
  assert.deepEqual(d, { message: "interrupted", hint: null, exitCode: 130, detail: null });
});

Deno.test("messages are cut to their first line", () => {
  const d = describeError(named("ControlProtocolError", "bad answer\nbody: <html>…"));
  assert.equal(d.message, "bad answer");
});

Deno.test("unknown errors: generic message, --verbose hint, stack only when verbose", () => {
  const quiet = describeError(new TypeError("x is undefined"));
  assert.equal(quiet.exitCode, ExitCode.FAILURE);
  assert.equal(quiet.message, "unexpected error: x is undefined");
  assert.equal(quiet.hint, "Run with --verbose for details.");
  assert.equal(quiet.detail, null);
  const loud = describeError(new TypeError("x is undefined"), { verbose: true });
  assert.match(loud.detail!, /TypeError: x is undefined\n\s+at /);
  assert.equal(loud.hint, null);
  assert.equal(describeError("a string").message, "unexpected error: a string");
  assert.equal(describeError(undefined).exitCode, ExitCode.FAILURE);
  assert.equal(describeError({ name: "NotLoggedInError", message: "m" }).exitCode, 3);
});

Deno.test("the CLI's own errors keep their exit code and hint", () => {
  const u = describeError(new UsageError("Unknown option '--x'", "Run 'citadel status --help'."));
  assert.deepEqual(u, {
    message: "unknown option '--x'",
    hint: "Run 'citadel status --help'.",
    exitCode: ExitCode.USAGE,
    detail: null,
  });
  const c = describeError(new CommandError("no", ExitCode.NOT_LOGGED_IN, "do this"));
  assert.deepEqual(c, { message: "no", hint: "do this", exitCode: 3, detail: null });
});

Deno.test("exit codes are distinct and named", () => {
  const values = Object.values(ExitCode);
  assert.equal(new Set(values).size, values.length);
  assert.equal(ExitCode.OK, 0);
  assert.equal(ExitCode.FAILURE, 1);
  assert.equal(ExitCode.USAGE, 2);
  assert.equal(ExitCode.INTERRUPTED, 130);
  assert.equal(exitCodeName(3), "NOT_LOGGED_IN");
  assert.equal(exitCodeName(99), "UNKNOWN");
});
