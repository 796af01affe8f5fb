/**
 * A hostile relay (issue 11): after the handshake the server sends
 * 2,000,000 Pings and never reads a byte, so every Pong we write stays
 * queued once the TCP windows are full. The client must keep its memory
 * bounded (excess Pongs dropped and counted) and stay alive: the packet the
 * server sends after the flood still arrives.
 */
import assert from "node:assert/strict";
import { NodePrivateKey } from "../../../../network/crypto/keys.ts";
import { DerpClient } from "../../../../network/derp/derp_client.ts";
import { serializeFrame } from "../../../../network/derp/derp_frame.ts";
import { peakResidentBytes, resetPeakResident, residentBytes } from "../../process_memory.ts";
import { startFakeDerpServer } from "./fake_derp_server.ts";

const PINGS = 2_000_000;
const PINGS_PER_WRITE = 10_000;
const MiB = 1024 * 1024;
/** Far above what the bounded queues hold, far below the 1.83 GiB an unbounded queue reached. */
const MAX_GROWTH_BYTES = 96 * MiB;

Deno.test({
  name: "DERP ping flood: 2,000,000 Pings from a server that never reads",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const sender = NodePrivateKey.generate().publicKey();
    const server = startFakeDerpServer({
      script: async (session) => {
        const ping = serializeFrame({ type: "ping", data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) });
        const batch = new Uint8Array(ping.length * PINGS_PER_WRITE);
        for (let i = 0; i < PINGS_PER_WRITE; i++) batch.set(ping, i * ping.length);
        for (let sent = 0; sent < PINGS; sent += PINGS_PER_WRITE) await session.write(batch);
        await session.write(
          serializeFrame({ type: "recvPacket", src: sender, data: Uint8Array.of(42) }),
        );
        await released;
      },
    });
    const client = await DerpClient.connect({
      url: server.url,
      nodeKey: NodePrivateKey.generate(),
    });
    const before = residentBytes();
    let heapPeak = Deno.memoryUsage().heapUsed;
    const sampler = setInterval(() => {
      heapPeak = Math.max(heapPeak, Deno.memoryUsage().heapUsed);
    }, 20);
    resetPeakResident();
    const start = performance.now();
    try {
      const message = await client.receive();
      const ms = performance.now() - start;
      const growth = peakResidentBytes() - before;
      console.log(
        `  ${PINGS} Pings in ${ms.toFixed(0)} ms: ${client.stats.pingsAnswered} answered, ` +
          `${client.stats.pongsDropped} dropped; peak RSS +${(growth / MiB).toFixed(1)} MiB, ` +
          `peak heap ${(heapPeak / MiB).toFixed(1)} MiB`,
      );
      assert.equal(message.type, "packet");
      assert.ok(message.type === "packet" && message.src.equals(sender));
      assert.equal(client.closed, false);
      assert.equal(client.stats.pingsAnswered + client.stats.pongsDropped, PINGS);
      assert.ok(client.stats.pongsDropped > 0, "the server never reads, so Pongs must be dropped");
      assert.ok(
        client.stats.pingsAnswered < PINGS / 2,
        `${client.stats.pingsAnswered} Pongs answered with nobody reading`,
      );
      assert.ok(growth < MAX_GROWTH_BYTES, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
    } finally {
      clearInterval(sampler);
      release();
      client.close();
      await server.close();
    }
  },
});
