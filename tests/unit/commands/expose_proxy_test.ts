/**
 * `citadel expose` and `citadel proxy` (and `work --socks5`) against fakes:
 * a forward from a mesh listener to a real loopback service, as the node and
 * through a running work (whose forward ends when the command ends); the
 * SOCKS5 proxy dialling through the node; each running until a signal,
 * which exits 0; usage errors.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { runCli } from "../../../cli/dispatch.ts";
import { COMMANDS } from "../../../commands/mod.ts";
import { startLocalApi } from "../../../localapi/mod.ts";
import type { TcpConn, TcpListener } from "../../../network/mod.ts";
import { inspectInstanceLock } from "../../../state/mod.ts";
import { bytes, MemoryListener, memoryPair, text } from "../bridge/memory_stream.ts";
import {
  FakeIO,
  FakeNetwork,
  run,
  waitFor,
  withStateDir,
  writeRegisteredState,
} from "../cli/fake_cli.ts";

/** A loopback service answering "upper-cased input" once the input ends. */
function upperService() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    for await (const conn of listener) {
      (async () => {
        let all = "";
        const buf = new Uint8Array(1024);
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          all += text(buf.subarray(0, n));
        }
        await conn.write(bytes(all.toUpperCase()));
        conn.close();
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await served;
    },
  };
}

function start(args: string[], io: FakeIO, network: FakeNetwork): Promise<number> {
  return runCli(args, COMMANDS, io, { network });
}

Deno.test("expose: as the node, mesh connections reach the service until SIGINT (exit 0)", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const service = upperService();
    const io = new FakeIO();
    const network = new FakeNetwork();
    const listener = new MemoryListener();
    const ports: number[] = [];
    network.onListen = (port) => {
      ports.push(port);
      return listener as unknown as TcpListener;
    };
    const exit = start(
      ["expose", "7000", "--to", `127.0.0.1:${service.port}`, "--state-dir", dir],
      io,
      network,
    );
    try {
      await waitFor(() => io.out.includes("forwarding mesh port 7000"));
      assert.deepEqual(ports, [7000]);
      assert.ok((await inspectInstanceLock(dir)).held);
      const [peer, ours] = memoryPair();
      listener.push(ours);
      await peer.write(bytes("via the mesh"));
      await peer.closeWrite();
      assert.equal(text(await peer.readAll()), "VIA THE MESH");
      await waitFor(() => io.out.includes("closed 100.64.0.9:40000"));
      io.raise("SIGINT");
      assert.equal(await exit, ExitCode.OK, io.err);
      assert.ok(listener.closed, "the mesh listener is closed");
      assert.equal((await inspectInstanceLock(dir)).held, false);
      assert.match(io.out, /connection from 100\.64\.0\.9:40000/);
    } finally {
      await service.close();
    }
  });
});

Deno.test("expose: through a running work, the forward ends when the command does", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const forwards: { port: number; closed: boolean }[] = [];
    const server = await startLocalApi({
      stateDir: dir,
      nexus: "https://nexus.test",
      status: () => null,
      expose: (port, _target, onEvent) => {
        const entry = { port, closed: false };
        forwards.push(entry);
        setTimeout(() => onEvent({ kind: "accepted", from: "100.64.0.9:1234" }), 10);
        return {
          close: () => {
            entry.closed = true;
            return Promise.resolve();
          },
        };
      },
    });
    try {
      const io = new FakeIO();
      const network = new FakeNetwork();
      const exit = start(["expose", "8080", "--to", "3000", "--state-dir", dir], io, network);
      await waitFor(() => io.out.includes("connection from 100.64.0.9:1234"));
      assert.match(io.out, /inside the running citadel work/);
      assert.equal(network.connectCalls.length, 0);
      io.raise("SIGTERM");
      assert.equal(await exit, ExitCode.OK, io.err);
      await waitFor(() => forwards[0]?.closed === true);
      assert.equal(forwards[0].port, 8080);
    } finally {
      await server?.close();
    }
  });
});

Deno.test("expose and proxy: usage errors", async () => {
  await withStateDir(async (dir) => {
    for (
      const args of [
        ["expose"],
        ["expose", "7000"],
        ["expose", "7000", "--to", "nowhere"],
        ["expose", "70000", "--to", "1"],
        ["proxy"],
        ["proxy", "--socks5", "somewhere"],
        ["proxy", "--http", "1.2.3.4"],
      ]
    ) {
      const { code, io } = await run([...args, "--state-dir", dir]);
      assert.equal(code, ExitCode.USAGE, `${args.join(" ")}: ${io.err}`);
    }
  });
});

/** A SOCKS5 CONNECT by name through the proxy at `port`; the reply code and the connection. */
async function socks(port: number, host: string, dstPort: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const name = bytes(host);
  await conn.write(
    Uint8Array.of(5, 1, 0, 5, 1, 0, 3, name.length, ...name, dstPort >> 8, dstPort & 255),
  );
  const head = new Uint8Array(12);
  let got = 0;
  while (got < 12) got += (await conn.read(head.subarray(got)))!;
  return { reply: head[3], conn };
}

function echoConn(): TcpConn {
  const [ours, theirs] = memoryPair();
  void (async () => {
    const all = await theirs.readAll();
    await theirs.write(bytes(`echo:${text(all)}`));
    await theirs.closeWrite();
  })().catch(() => {}); // a client that hung up early
  return ours as unknown as TcpConn;
}

Deno.test("proxy: SOCKS5 into the mesh as the node, until SIGINT", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const io = new FakeIO();
    const network = new FakeNetwork();
    network.onDial = () => Promise.resolve(echoConn());
    const exit = start(["proxy", "--socks5", "127.0.0.1:0", "--state-dir", dir], io, network);
    await waitFor(() => /proxy into the mesh on 127\.0\.0\.1:\d+/.test(io.out));
    const port = Number(/on 127\.0\.0\.1:(\d+)/.exec(io.out)![1]);
    const { reply, conn } = await socks(port, "db-host", 5432);
    assert.equal(reply, 0);
    await conn.write(bytes("q"));
    await conn.closeWrite();
    const buf = new Uint8Array(64);
    let answer = "";
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      answer += text(buf.subarray(0, n));
    }
    conn.close();
    assert.equal(answer, "echo:q");
    assert.deepEqual(network.dialCalls.map((c) => `${c.host}:${c.port}`), ["db-host:5432"]);
    io.raise("SIGINT");
    assert.equal(await exit, ExitCode.OK, io.err);
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }), "the listener is closed");
  });
});

Deno.test("proxy: a non-loopback address works with a warning", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const io = new FakeIO();
    const exit = start(["proxy", "--http", "0.0.0.0:0", "--state-dir", dir], io, new FakeNetwork());
    await waitFor(() => io.out.includes("HTTP CONNECT proxy into the mesh"));
    assert.match(io.err, /other machines may reach/);
    io.raise("SIGINT");
    assert.equal(await exit, ExitCode.OK, io.err);
  });
});

Deno.test("work --socks5: the proxy runs inside work and dials through its node", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const io = new FakeIO();
    const network = new FakeNetwork();
    network.onDial = () => Promise.resolve(echoConn());
    const exit = start(["work", "--socks5", "127.0.0.1:0", "--state-dir", dir], io, network);
    await waitFor(() => /SOCKS5 proxy into the mesh on 127\.0\.0\.1:\d+/.test(io.out));
    const port = Number(/on 127\.0\.0\.1:(\d+)/.exec(io.out)![1]);
    const { reply, conn } = await socks(port, "peer", 22);
    assert.equal(reply, 0);
    conn.close();
    assert.deepEqual(network.dialCalls.map((c) => `${c.host}:${c.port}`), ["peer:22"]);
    io.raise("SIGTERM");
    assert.equal(await exit, ExitCode.OK, io.err);
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
  });
});
