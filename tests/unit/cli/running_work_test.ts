/**
 * One node key, one session: while `citadel work` holds the state directory, `init`, `login`
 * and `status` never connect beside it (a second session would replace the worker's disco key
 * at Nexus, and peers' disco pings would go unanswered). `status` waits a moment for a worker
 * that is still starting, then says so.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { STARTING_WORK_WAIT_MS } from "../../../cli/running_work.ts";
import { InstanceLock } from "../../../state/mod.ts";
import { ensureStateDir } from "../../../state/state_dir.ts";
import { startLocalApi } from "../../../localapi/mod.ts";
import { FakeIO, FakeNetwork, run, withStateDir, writeRegisteredState } from "./fake_cli.ts";

Deno.test("init and login refuse to connect while work holds the state directory", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    await using _lock = await InstanceLock.acquire(dir);
    for (const args of [["init", "--authkey", "hskey-auth-x"], ["login"]]) {
      const network = new FakeNetwork();
      const { code, io } = await run([...args, "--state-dir", dir], new FakeIO(), network);
      assert.equal(code, ExitCode.ALREADY_RUNNING, io.err);
      assert.match(io.err, /citadel work \(pid \d+\) runs on this state directory/);
      assert.equal(network.connectCalls.length, 0, `${args[0]} did not connect`);
    }
  });
});

Deno.test("status waits for a starting work, then refuses to connect beside it", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    await using _lock = await InstanceLock.acquire(dir);
    const network = new FakeNetwork();
    const started = performance.now();
    const { code, io } = await run(["status", "--state-dir", dir], new FakeIO(), network);
    const waited = performance.now() - started;
    assert.equal(code, ExitCode.ALREADY_RUNNING, io.err);
    assert.match(io.err, /does not answer yet/);
    assert.equal(network.connectCalls.length, 0, "status did not connect");
    assert.ok(waited >= STARTING_WORK_WAIT_MS - 100, `waited ${waited} ms`);
  });
});

Deno.test("status answers from a work whose local API comes up while it waits", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    await ensureStateDir(dir);
    await using _lock = await InstanceLock.acquire(dir);
    const network = new FakeNetwork();
    let server: Awaited<ReturnType<typeof startLocalApi>> = null;
    const later = setTimeout(async () => {
      server = await startLocalApi({
        stateDir: dir,
        nexus: "https://nexus.test",
        status: () => ({ ...network.statusWhenConnected("https://nexus.test") }),
        ping: () => Promise.reject(new Error("unused")),
      });
    }, 500);
    try {
      const { code, io } = await run(
        ["status", "--json", "--state-dir", dir],
        new FakeIO(),
        network,
      );
      assert.equal(code, ExitCode.OK, io.err);
      assert.equal(JSON.parse(io.out).connected, true);
      assert.equal(network.connectCalls.length, 0);
    } finally {
      clearTimeout(later);
      await (server as { close(): Promise<void> } | null)?.close();
    }
  });
});
