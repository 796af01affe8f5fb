/**
 * The forward from a mesh port to a local service: each accepted connection
 * relayed to a real loopback TCP server (half-close both ways), a service
 * that cannot be reached answered with a reset, connections past the limit
 * reset at once, and close() ending everything.
 */
import assert from "node:assert/strict";
import { type ForwardedConn, Forwarder, type ForwardEvent } from "../../../bridge/forwarder.ts";
import { bytes, type MemoryEnd, memoryPair, text } from "./memory_stream.ts";

/** A listener the test feeds connections into. */
class FakeListener implements AsyncIterable<ForwardedConn> {
  #queue: ForwardedConn[] = [];
  #wake: (() => void) | null = null;
  closed = false;
  push(conn: ForwardedConn) {
    this.#queue.push(conn);
    this.#wake?.();
  }
  close() {
    this.closed = true;
    this.#wake?.();
  }
  async *[Symbol.asyncIterator]() {
    for (;;) {
      const next = this.#queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((r) => this.#wake = r);
      this.#wake = null;
    }
  }
}

/** A loopback server that answers "upper-cased request" after reading to the end. */
function startUpperServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    for await (const conn of listener) {
      (async () => {
        const chunks: Uint8Array[] = [];
        const buf = new Uint8Array(1024);
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          chunks.push(buf.slice(0, n));
        }
        await conn.write(bytes(chunks.map(text).join("").toUpperCase()));
        conn.close();
      })();
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close(), served };
}

Deno.test("forwarder: mesh connections reach the local service, answers come back", async () => {
  const service = startUpperServer();
  const listener = new FakeListener();
  const events: ForwardEvent["kind"][] = [];
  const forwarder = new Forwarder({
    listener,
    target: { hostname: "127.0.0.1", port: service.port },
    onEvent: (e) => events.push(e.kind),
  });
  try {
    const [peer, ours] = memoryPair();
    listener.push(ours as MemoryEnd & ForwardedConn);
    await peer.write(bytes("hello mesh"));
    await peer.closeWrite();
    assert.equal(text(await peer.readAll()), "HELLO MESH");
    await forwarder.close();
    assert.deepEqual(events, ["accepted", "closed"]);
    assert.equal(forwarder.counters.forwarded, 1);
    assert.equal(forwarder.openConnections, 0);
    assert.ok(listener.closed);
  } finally {
    service.close();
    await service.served;
  }
});

Deno.test("forwarder: connections past the limit are reset at once", async () => {
  const listener = new FakeListener();
  const forwarder = new Forwarder({
    listener,
    target: { hostname: "127.0.0.1", port: 9 },
    maxConnections: 1,
    connect: () => new Promise<never>(() => {}), // the first one hangs, holding the only slot
  });
  const [, first] = memoryPair();
  listener.push(first as MemoryEnd & ForwardedConn);
  await new Promise((r) => setTimeout(r, 10));
  const [, second] = memoryPair();
  listener.push(second as MemoryEnd & ForwardedConn);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(second.resets, 1, "past the limit: reset at once");
  assert.equal(forwarder.counters.overLimit, 1);
  listener.close();
  await forwarder.done;
});

Deno.test("forwarder: a refused local connect resets the mesh side", async () => {
  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (free.addr as Deno.NetAddr).port;
  free.close();
  const listener = new FakeListener();
  const forwarder = new Forwarder({ listener, target: { hostname: "127.0.0.1", port: deadPort } });
  const [, conn] = memoryPair();
  listener.push(conn as MemoryEnd & ForwardedConn);
  await forwarder.close();
  assert.equal(conn.resets, 1);
  assert.equal(forwarder.counters.targetFailed, 1);
});
