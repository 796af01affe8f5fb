/**
 * Child of derp_flood_test.ts, so that its peak RSS is its own: a hostile
 * in-process DERP server sends 2,000,000 Pings after the handshake and never
 * reads; then one RecvPacket. Prints one JSON line: what the client counted,
 * whether it is alive, the packet it got after the flood, and the memory.
 */
import { NodePrivateKey } from "../../../../../network/crypto/keys.ts";
import { DerpClient } from "../../../../../network/derp/derp_client.ts";
import { serializeFrame } from "../../../../../network/derp/derp_frame.ts";
import { peakResidentBytes, resetPeakResident, residentBytes } from "../../../process_memory.ts";
import { startFakeDerpServer } from "../fake_derp_server.ts";

const PINGS = Number(Deno.args[0] ?? 2_000_000);
const PINGS_PER_WRITE = 10_000;

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
const client = await DerpClient.connect({ url: server.url, nodeKey: NodePrivateKey.generate() });
const before = residentBytes();
let heapPeak = 0;
const sampler = setInterval(() => {
  heapPeak = Math.max(heapPeak, Deno.memoryUsage().heapUsed);
}, 20);
resetPeakResident();
const start = performance.now();
const message = await client.receive();
const ms = performance.now() - start;
const peakGrowthBytes = peakResidentBytes() - before;
clearInterval(sampler);
console.log(JSON.stringify({
  pings: PINGS,
  ms,
  pingsAnswered: client.stats.pingsAnswered,
  pongsDropped: client.stats.pongsDropped,
  closed: client.closed,
  message: message.type === "packet"
    ? { type: "packet", fromSender: message.src.equals(sender), data: [...message.data] }
    : { type: message.type },
  peakGrowthBytes,
  heapPeakBytes: heapPeak,
}));
release();
client.close();
await server.close();
