/**
 * The relay: bytes both ways, half-close carried across (each side's end of
 * stream becomes a closeWrite on the other), a failure or an abort closing
 * both ends at once.
 */
import assert from "node:assert/strict";
import { relay } from "../../../bridge/relay.ts";
import { bytes, memoryPair, text } from "./memory_stream.ts";

Deno.test("relay: carries both ways and carries each half-close across", async () => {
  const [client, clientSide] = memoryPair();
  const [serverSide, server] = memoryPair();
  const running = relay(clientSide, serverSide, { aPrefix: bytes("early ") });
  await client.write(bytes("question"));
  await client.closeWrite();
  // The server reads the request to its end, then still answers: half-close.
  assert.equal(text(await server.readAll()), "early question");
  await server.write(bytes("answer"));
  await server.closeWrite();
  assert.equal(text(await client.readAll()), "answer");
  const result = await running;
  assert.deepEqual(result, { aToB: 14, bToA: 6 });
  assert.ok(clientSide.closed && serverSide.closed, "both relayed ends are closed");
});

Deno.test("relay: a failing side ends the relay and closes both ends", async () => {
  const [client, clientSide] = memoryPair();
  const [serverSide, server] = memoryPair();
  const running = relay(clientSide, serverSide);
  await client.write(bytes("x"));
  server.close(); // the far end goes away: the write to it fails
  await client.write(bytes("y"));
  const result = await running;
  assert.ok(result.error, "the error is reported");
  assert.ok(clientSide.closed && serverSide.closed);
  assert.equal(await client.read(new Uint8Array(4)), null, "the client sees the end");
});

Deno.test("relay: an abort closes both ends", async () => {
  const [, clientSide] = memoryPair();
  const [serverSide] = memoryPair();
  const stop = new AbortController();
  const running = relay(clientSide, serverSide, { signal: stop.signal });
  stop.abort(new Error("shutting down"));
  const result = await running;
  assert.equal(result.error?.message, "shutting down");
  assert.ok(clientSide.closed && serverSide.closed);
});
