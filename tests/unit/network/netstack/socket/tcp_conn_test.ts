/**
 * TcpConn as an application uses it: web streams with pipeTo (end of stream
 * becomes a FIN), BYOB reads, Deno.Conn-shaped addresses and errors.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { stackPair } from "../stack_pair.ts";
import { runFor } from "../virtual_time.ts";
import { SeededPrng } from "../link_simulator.ts";

Deno.test("tcp conn: an echo server made of readable.pipeTo(writable) returns 4 MiB intact", async () => {
  const p = stackPair({ link: { delay: 3, rate: 20_000 } });
  const listener = p.b.listenTCP(7);
  const server = (async () => {
    const conn = await listener.accept();
    await conn.readable.pipeTo(conn.writable);
  })();
  const client = await runFor(p.clock, p.a.connectTCP(p.bAddr(7)));
  assert.deepEqual(client.remoteAddr, { transport: "tcp", hostname: "10.0.0.2", port: 7 });
  assert.equal(client.localAddr.hostname, "10.0.0.1");
  const prng = new SeededPrng(11);
  const sent = createHash("sha256"), got = createHash("sha256");
  const writing = (async () => {
    const writer = client.writable.getWriter();
    for (let i = 0; i < 64; i++) {
      const chunk = prng.fill(new Uint8Array(65_536));
      sent.update(chunk);
      await writer.write(chunk);
    }
    await writer.close(); // a FIN: the echo's pipeTo ends and closes its side too
  })();
  let total = 0;
  const reading = (async () => {
    const reader = client.readable.getReader({ mode: "byob" });
    let buffer = new Uint8Array(10_000);
    for (;;) {
      const { value, done } = await reader.read(buffer);
      if (done) break;
      got.update(value);
      total += value.length;
      buffer = new Uint8Array(value.buffer);
    }
  })();
  await runFor(p.clock, Promise.all([writing, reading, server]));
  assert.equal(total, 64 * 65_536);
  assert.equal(got.digest("hex"), sent.digest("hex"));
});

Deno.test("tcp conn: errors are Deno.errors; writing after closeWrite is a broken pipe", async () => {
  const p = stackPair();
  const listener = p.b.listenTCP(7);
  const client = await runFor(p.clock, p.a.connectTCP(p.bAddr(7)));
  const server = await runFor(p.clock, listener.accept());
  await client.closeWrite();
  await assert.rejects(client.write(new Uint8Array(1)), Deno.errors.BrokenPipe);
  assert.equal(await runFor(p.clock, server.read(new Uint8Array(1))), null, "the server sees EOF");
  server.reset();
  const error = await runFor(p.clock, client.read(new Uint8Array(1)).catch((e) => e));
  assert.ok(error instanceof Deno.errors.ConnectionReset, String(error));
  assert.equal(client.error, error);
  await runFor(p.clock, client.closed);
});
