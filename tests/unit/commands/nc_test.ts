/**
 * `citadel nc`: stdin and stdout over a mesh connection, with half-close;
 * as the node itself when no work runs (the lock taken and released, the
 * data plane asked for, a local API served meanwhile), through a running
 * work's local API when one does (no connect of its own); each failure's
 * exit code; usage errors.
 */
import assert from "node:assert/strict";
import { NamedRemoteError } from "../../../bridge/mesh_dialer.ts";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { localApiSocketPath, startLocalApi } from "../../../localapi/mod.ts";
import type { TcpConn } from "../../../network/mod.ts";
import { inspectInstanceLock } from "../../../state/mod.ts";
import { bytes, memoryPair, text } from "../bridge/memory_stream.ts";
import { FakeIO, FakeNetwork, run, withStateDir, writeRegisteredState } from "../cli/fake_cli.ts";

/** A peer that answers `echo:<everything it read>` once our side has ended. */
function echoPeer(): { conn: TcpConn; seen: () => boolean } {
  const [ours, theirs] = memoryPair();
  let done = false;
  void (async () => {
    const all = await theirs.readAll();
    await theirs.write(bytes(`echo:${text(all)}`));
    await theirs.closeWrite();
    done = true;
  })();
  return { conn: ours as unknown as TcpConn, seen: () => done };
}

function stdout(io: FakeIO): string {
  return io.stdoutBytes.map(text).join("");
}

Deno.test("nc: as the node itself, stdin goes to the peer and its answer to stdout", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const io = new FakeIO();
    io.stdinBytes = [bytes("hello "), bytes("mesh")];
    const network = new FakeNetwork();
    let lockHeld = false;
    let apiServed = false;
    network.onDial = async () => {
      lockHeld = (await inspectInstanceLock(dir)).held;
      apiServed = await Deno.lstat(localApiSocketPath(dir)).then(() => true, () => false);
      return echoPeer().conn;
    };
    const { code } = await run(["nc", "db-host", "5432", "--state-dir", dir], io, network);
    assert.equal(code, ExitCode.OK, io.err);
    assert.equal(stdout(io), "echo:hello mesh");
    assert.ok(io.stdoutClosed, "the peer's end ended stdout");
    assert.equal(network.connectCalls.length, 1);
    assert.ok(network.connectCalls[0].options.dataPlane, "connected with the data plane");
    assert.equal(network.connectCalls[0].options.allowInteractive, false);
    assert.deepEqual(
      network.dialCalls.map((c) => [c.host, c.port, c.options.timeoutMs]),
      [["db-host", 5432, 15_000]],
    );
    assert.ok(lockHeld, "the instance lock was held while connected");
    assert.ok(apiServed, "a local API was served meanwhile");
    assert.equal((await inspectInstanceLock(dir)).held, false, "lock released");
    assert.equal(network.disconnects, 1);
  });
});

Deno.test("nc: each failure has its exit code", async () => {
  const cases: [string, number][] = [
    ["PeerNotFoundError", ExitCode.PEER_NOT_FOUND],
    ["ConnectionRefusedError", ExitCode.CONNECTION_REFUSED],
    ["ConnectionTimedOutError", ExitCode.PEER_UNREACHABLE],
    ["ConnectionForbiddenError", ExitCode.CONNECTION_FORBIDDEN],
  ];
  for (const [name, exit] of cases) {
    await withStateDir(async (dir) => {
      await writeRegisteredState(dir);
      const network = new FakeNetwork();
      network.onDial = () => Promise.reject(new NamedRemoteError(name, `it failed: ${name}`));
      const { code, io } = await run(
        ["nc", "peer", "80", "--state-dir", dir],
        new FakeIO(),
        network,
      );
      assert.equal(code, exit, `${name}: ${io.err}`);
      assert.match(io.err, new RegExp(`it failed: ${name}`));
      assert.equal((await inspectInstanceLock(dir)).held, false);
    });
  }
});

Deno.test("nc: through a running work, without a connection of its own", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const dials: string[] = [];
    const server = await startLocalApi({
      stateDir: dir,
      nexus: "https://nexus.test",
      status: () => null,
      dial: (host, port) => {
        dials.push(`${host}:${port}`);
        return Promise.resolve(echoPeer().conn);
      },
    });
    try {
      const io = new FakeIO();
      io.stdinBytes = [bytes("through work")];
      const { code, network } = await run(["nc", "peer", "7000", "--state-dir", dir], io);
      assert.equal(code, ExitCode.OK, io.err);
      assert.equal(stdout(io), "echo:through work");
      assert.deepEqual(dials, ["peer:7000"]);
      assert.equal(network.connectCalls.length, 0, "no second session");
    } finally {
      await server?.close();
    }
  });
});

Deno.test("nc: usage errors and a node that has not joined", async () => {
  await withStateDir(async (dir) => {
    for (const args of [["nc"], ["nc", "peer"], ["nc", "peer", "0"], ["nc", "peer", "http"]]) {
      const { code } = await run([...args, "--state-dir", dir]);
      assert.equal(code, ExitCode.USAGE, args.join(" "));
    }
    const slow = await run(["nc", "peer", "80", "--timeout", "2m", "--state-dir", dir]);
    assert.equal(slow.code, ExitCode.USAGE);
    const { code, io } = await run(["nc", "peer", "80", "--state-dir", dir]);
    assert.equal(code, ExitCode.NOT_LOGGED_IN, io.err);
  });
});
