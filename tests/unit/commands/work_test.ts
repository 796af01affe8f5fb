import assert from "node:assert/strict";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { localApiSocketPath, queryLocalStatus } from "../../../localapi/mod.ts";
import type { ConnectResult, NodeEvent } from "../../../network/mod.ts";
import { inspectInstanceLock, InstanceLock } from "../../../state/mod.ts";
import {
  exists,
  FakeIO,
  FakeNetwork,
  run,
  waitFor,
  withStateDir,
  writeRegisteredState,
} from "../cli/fake_cli.ts";

const ONLINE: ConnectResult = {
  nodeName: "box",
  nodeIP: "100.64.0.5",
  nodeIPv6: null,
  newlyRegistered: false,
};

Deno.test("work serves status over the local API and exits 0 on SIGTERM, cleaning up", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir, "https://nexus.test");
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    const network = new FakeNetwork();
    const running = run(["work"], io, network);
    const socket = localApiSocketPath(dir);
    await waitFor(() => io.out.includes("ready:"));

    // While it runs: the lock is held, and status asks it instead of connecting.
    assert.equal((await inspectInstanceLock(dir)).held, true);
    const fromApi = await queryLocalStatus(socket);
    assert.equal(fromApi?.nodeName, "box");
    assert.equal(fromApi?.connected, true);
    const statusIO = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    const statusNetwork = new FakeNetwork();
    const status = await run(["status", "--json"], statusIO, statusNetwork);
    assert.equal(status.code, ExitCode.OK, statusIO.err);
    assert.equal(statusNetwork.connectCalls.length, 0);
    assert.equal(JSON.parse(statusIO.out).nodeIP, "100.64.0.5");

    io.raise("SIGTERM");
    const { code } = await running;
    assert.equal(code, ExitCode.OK, io.err);
    assert.match(io.out, /received SIGTERM; shutting down/);
    assert.equal(network.disconnects, 1);
    assert.equal(await exists(socket), false, "socket removed");
    assert.equal((await inspectInstanceLock(dir)).held, false, "lock released");
    assert.equal(io.signalListeners, 0);
    // Lines are timestamped.
    for (const line of io.out.trim().split("\n")) {
      assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /, line);
    }
    const call = network.connectCalls[0];
    assert.equal(call.nexus, "https://nexus.test");
    assert.equal(call.options.allowInteractive, false);
  });
});

Deno.test("work logs network events as timestamped lines", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    const network = new FakeNetwork();
    let emit: ((event: NodeEvent) => void) | undefined;
    network.onConnect = (call) => {
      emit = call.options.onEvent;
      return Promise.resolve(ONLINE);
    };
    const running = run(["work"], io, network);
    await waitFor(() => io.out.includes("ready:"));
    emit!({ kind: "netmap", summary: "2 peers (+1: peer-b)" });
    emit!({ kind: "disconnected", reason: "EOF", retryInMs: 2_000 });
    emit!({ kind: "reconnected" });
    io.raise("SIGINT");
    assert.equal((await running).code, ExitCode.OK);
    assert.match(io.out, /Z netmap: 2 peers \(\+1: peer-b\)\n/);
    assert.match(io.err, /Z warning: disconnected from Nexus \(EOF\); retrying in 2s\n/);
    assert.match(io.out, /Z reconnected to Nexus\n/);
  });
});

Deno.test("work refuses to start when connect fails, and releases everything", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const network = new FakeNetwork();
    network.onConnect = () => {
      const e = new Error("registration refused: the auth key has expired");
      e.name = "AuthKeyRejectedError";
      return Promise.reject(e);
    };
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    const { code } = await run(["work"], io, network);
    assert.equal(code, ExitCode.AUTH_REJECTED);
    assert.ok(!io.out.includes("ready:"));
    assert.match(io.err, /citadel: registration refused/);
    assert.equal(await exists(localApiSocketPath(dir)), false);
    assert.equal((await inspectInstanceLock(dir)).held, false);
  });
});

Deno.test("work waits while Nexus is unreachable, saying so, then comes online", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const network = new FakeNetwork();
    let attempts = 0;
    const online = network.onConnect;
    network.onConnect = (call) => {
      attempts += 1;
      if (attempts < 3) {
        const e = new Error("cannot reach https://nexus.test");
        e.name = "ControlUnreachableError";
        return Promise.reject(e);
      }
      return online(call);
    };
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    // Waits are skipped: the test is about what work does between them.
    const sleeps: number[] = [];
    io.clock = {
      ...io.clock,
      sleep: (ms: number) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
    };
    const running = run(["work"], io, network);
    const deadline = Date.now() + 5_000;
    while (!io.out.includes("ready:") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    io.raise("SIGTERM");
    assert.equal((await running).code, ExitCode.OK);
    assert.equal(attempts, 3);
    assert.equal(sleeps.length, 2);
    assert.equal(
      io.err.match(
        /warning: Nexus is unreachable \(cannot reach https:\/\/nexus\.test\); retrying in/g,
      )
        ?.length,
      2,
    );
    assert.match(io.out, /ready: no job loop/);
  });
});

Deno.test("work refuses to start its job loop unless the node is online", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const network = new FakeNetwork();
    network.onConnect = () => Promise.resolve(ONLINE);
    network.isGlobalConnected = () => false;
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    const { code } = await run(["work"], io, network);
    assert.equal(code, ExitCode.FAILURE);
    assert.match(io.err, /refusing to start the job loop/);
    assert.ok(!io.out.includes("ready:"));
    assert.equal(network.disconnects, 1);
    assert.equal((await inspectInstanceLock(dir)).held, false);
  });
});

Deno.test("work without state and without CITADEL_AUTHKEY: not logged in", async () => {
  await withStateDir(async (dir) => {
    const { code, io, network } = await run(["work", "--state-dir", dir]);
    assert.equal(code, ExitCode.NOT_LOGGED_IN);
    assert.match(io.err, /CITADEL_AUTHKEY/);
    assert.equal(network.connectCalls.length, 0);
  });
});

Deno.test("work in a container: everything from the environment", async () => {
  await withStateDir(async (dir) => {
    const io = new FakeIO({
      envVars: {
        CITADEL_STATE_DIR: dir,
        CITADEL_NEXUS: "https://nexus.container",
        CITADEL_AUTHKEY: "hskey-auth-container-0001",
        CITADEL_NODE_NAME: "pod-7",
      },
    });
    const network = new FakeNetwork();
    const running = run(["work"], io, network);
    await waitFor(() => io.out.includes("ready:"));
    io.raise("SIGTERM");
    assert.equal((await running).code, ExitCode.OK);
    const call = network.connectCalls[0];
    assert.equal(call.nexus, "https://nexus.container");
    assert.equal(call.authKey, "hskey-auth-container-0001");
    assert.equal(call.options.nodeName, "pod-7");
    assert.equal(call.stateDir, dir);
    assert.ok(!io.all.includes("hskey-auth-container-0001"));
  });
});

Deno.test("a second work on the same state directory exits ALREADY_RUNNING", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const lock = await InstanceLock.acquire(dir);
    try {
      const { code, io, network } = await run(["work", "--state-dir", dir]);
      assert.equal(code, ExitCode.ALREADY_RUNNING);
      assert.match(io.err, /already running/);
      assert.match(io.err, new RegExp(`pid ${Deno.pid}`));
      assert.equal(network.connectCalls.length, 0);
    } finally {
      await lock.release();
    }
  });
});

Deno.test("a signal while connecting stops work cleanly with exit 0", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    const network = new FakeNetwork();
    network.onConnect = (call) =>
      new Promise((_, reject) => {
        call.options.signal!.addEventListener("abort", () => reject(call.options.signal!.reason));
        queueMicrotask(() => io.raise("SIGTERM"));
      });
    const { code } = await run(["work"], io, network);
    assert.equal(code, ExitCode.OK, io.err);
    assert.equal((await inspectInstanceLock(dir)).held, false);
  });
});

Deno.test("a second signal forces exit 130 when shutdown hangs", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    const network = new FakeNetwork();
    const gate = Promise.withResolvers<void>();
    network.disconnect = () => gate.promise;
    const running = run(["work"], io, network);
    await waitFor(() => io.out.includes("ready:"));
    io.raise("SIGTERM");
    await waitFor(() => io.out.includes("shutting down"));
    io.raise("SIGINT");
    assert.equal((await running).code, ExitCode.INTERRUPTED);
    assert.match(io.err, /received SIGINT again; exiting now/);
    // Let the abandoned shutdown finish so the test leaves nothing behind.
    gate.resolve();
    for (let i = 0; i < 100 && (await inspectInstanceLock(dir)).held; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal((await inspectInstanceLock(dir)).held, false);
  });
});

Deno.test("work exits with the node's error when the node fails for good", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    const network = new FakeNetwork();
    let emit: ((event: NodeEvent) => void) | undefined;
    network.onConnect = (call) => {
      emit = call.options.onEvent;
      return Promise.resolve(ONLINE);
    };
    const running = run(["work"], io, network);
    await waitFor(() => io.out.includes("ready:"));
    const error = new Error("node expired at Nexus");
    error.name = "NodeExpiredError";
    emit!({ kind: "failed", error });
    const { code } = await running;
    assert.equal(code, ExitCode.NODE_REMOVED);
    assert.match(io.err, /the node stopped: node expired at Nexus/);
    assert.match(io.err, /citadel: node expired at Nexus\n.*citadel login/);
    assert.equal((await inspectInstanceLock(dir)).held, false);
    assert.equal(await exists(localApiSocketPath(dir)), false);
  });
});
