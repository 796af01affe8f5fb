import assert from "node:assert/strict";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { InstanceLock, stateFilePath } from "../../../state/mod.ts";
import {
  exists,
  FakeIO,
  FakeNetwork,
  run,
  tempStateDir,
  withStateDir,
  writeRegisteredState,
} from "../cli/fake_cli.ts";

function withState(fn: (dir: string) => Promise<void>): Promise<void> {
  return withStateDir(async (dir) => {
    await writeRegisteredState(dir, "https://nexus.test");
    await fn(dir);
  });
}

Deno.test("logout without a terminal and without --force aborts, changing nothing", async () => {
  await withState(async (dir) => {
    const { code, io, network } = await run(["logout", "--state-dir", dir]);
    assert.equal(code, ExitCode.USAGE);
    assert.match(io.err, /refusing to log out without confirmation/);
    assert.match(io.err, /citadel logout --force/);
    assert.equal(network.logoutCalls.length, 0);
    assert.ok(await exists(stateFilePath(dir)));
  });
});

Deno.test("logout --force logs out through the network and deletes the state", async () => {
  await withState(async (dir) => {
    const { code, io, network } = await run(["logout", "--force", "--state-dir", dir]);
    assert.equal(code, ExitCode.OK, io.err);
    assert.deepEqual(network.logoutCalls, [{ stateDir: dir, nexus: "https://nexus.test" }]);
    assert.match(io.out, /Logged out: 'box'/);
    assert.ok(!await exists(stateFilePath(dir)));
  });
});

Deno.test("a second logout says 'not logged in' and exits OK", async () => {
  await withState(async (dir) => {
    assert.equal((await run(["logout", "-f", "--state-dir", dir])).code, ExitCode.OK);
    const second = await run(["logout", "--state-dir", dir]);
    assert.equal(second.code, ExitCode.OK);
    assert.match(second.io.out, /not logged in/i);
    assert.equal(second.network.logoutCalls.length, 0);
  });
});

Deno.test("on a terminal, logout asks; only y/yes proceeds", async () => {
  await withState(async (dir) => {
    const tty = { stdin: true, stdout: true, stderr: true };
    const no = new FakeIO({ isTTY: tty, stdinLines: ["n"] });
    const declined = await run(["logout", "--state-dir", dir, "--no-color"], no);
    assert.equal(declined.code, ExitCode.FAILURE);
    assert.match(no.err, /Log node 'box' out of https:\/\/nexus\.test.*\[y\/N\] /);
    assert.match(no.err, /Aborted; nothing was changed/);
    assert.equal(declined.network.logoutCalls.length, 0);
    const eof = new FakeIO({ isTTY: tty, stdinLines: [] });
    assert.equal((await run(["logout", "--state-dir", dir], eof)).code, ExitCode.FAILURE);
    const yes = new FakeIO({ isTTY: tty, stdinLines: [" Yes "] });
    const accepted = await run(["logout", "--state-dir", dir], yes);
    assert.equal(accepted.code, ExitCode.OK, yes.err);
    assert.equal(accepted.network.logoutCalls.length, 1);
  });
});

Deno.test("logout while Nexus is unreachable keeps the state; --force deletes it anyway", async () => {
  await withState(async (dir) => {
    const network = new FakeNetwork();
    network.onLogout = () => {
      const e = new Error("cannot reach https://nexus.test");
      e.name = "ControlUnreachableError";
      return Promise.reject(e);
    };
    const io = new FakeIO({
      isTTY: { stdin: true, stdout: false, stderr: false },
      stdinLines: ["y"],
    });
    const kept = await run(["logout", "--state-dir", dir], io, network);
    assert.equal(kept.code, ExitCode.NEXUS_UNREACHABLE);
    assert.match(io.err, /state is kept/);
    assert.ok(await exists(stateFilePath(dir)));
    const forced = await run(["logout", "--force", "--state-dir", dir], undefined, network);
    assert.equal(forced.code, ExitCode.OK);
    assert.match(forced.io.err, /warning: .*deleted the local state anyway/);
    assert.ok(!await exists(stateFilePath(dir)));
  });
});

Deno.test("logout of a node Nexus already deleted cleans up and succeeds", async () => {
  await withState(async (dir) => {
    const network = new FakeNetwork();
    network.onLogout = () => {
      const e = new Error("node not found");
      e.name = "NodeNotFoundError";
      return Promise.reject(e);
    };
    const { code, io } = await run(["logout", "-f", "--state-dir", dir], undefined, network);
    assert.equal(code, ExitCode.OK, io.err);
    assert.match(io.out, /already removed at Nexus/);
    assert.ok(!await exists(stateFilePath(dir)));
  });
});

Deno.test("logout --force discards a corrupt state file; without --force it is reported", async () => {
  const { dir, cleanup } = await tempStateDir();
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(stateFilePath(dir), "{not json");
    const plain = await run(["logout", "--state-dir", dir]);
    assert.equal(plain.code, ExitCode.STATE_CORRUPT);
    assert.match(plain.io.err, /corrupt/);
    const forced = await run(["logout", "--force", "--state-dir", dir]);
    assert.equal(forced.code, ExitCode.OK, forced.io.err);
    assert.equal(forced.network.logoutCalls.length, 0, "Nexus cannot be told");
    assert.match(forced.io.err, /Nexus was not told/);
    assert.ok(!await exists(stateFilePath(dir)));
  } finally {
    await cleanup();
  }
});

Deno.test("logout refuses while a citadel work holds the state directory", async () => {
  await withState(async (dir) => {
    const lock = await InstanceLock.acquire(dir);
    try {
      const { code, io, network } = await run(["logout", "--force", "--state-dir", dir]);
      assert.equal(code, ExitCode.ALREADY_RUNNING);
      assert.match(io.err, /already running/);
      assert.equal(network.logoutCalls.length, 0);
    } finally {
      await lock.release();
    }
  });
});

Deno.test("while logout is not implemented, it says so and keeps the state", async () => {
  await withState(async (dir) => {
    const { NotImplementedError } = await import("../../../network/mod.ts");
    const network = new FakeNetwork();
    network.onLogout = () => Promise.reject(new NotImplementedError("logout"));
    const { code, io } = await run(["logout", "--force", "--state-dir", dir], undefined, network);
    assert.equal(code, ExitCode.NOT_IMPLEMENTED);
    assert.match(io.err, /logout is not implemented yet/);
    assert.equal(io.out, "");
    assert.ok(await exists(stateFilePath(dir)));
  });
});
