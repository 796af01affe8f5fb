/**
 * The node API under load against a real tailscaled (userspace networking,
 * forwarding to services on its host's loopback), on a real Headscale, in a
 * process whose heap is measured after a collection (mesh_load_driver.ts):
 *
 * - 1,000 short connections one after the other, then 100 at once, each
 *   `hello\n` read to its end: all succeed, and afterwards the stack holds no
 *   connection, no timer and no buffer, and the heap is back near where it
 *   started.
 * - A peer that vanishes in the middle of a download (its tailscaled killed,
 *   then the node deleted at Headscale): the read fails with
 *   ConnectionResetError as soon as the netmap drops the peer, and nothing of
 *   the connection stays.
 */
import assert from "node:assert/strict";
import { startHeadscale } from "./headscale.ts";
import { startMeshDriver } from "./mesh_driver.ts";
import { MiB, startTcpService } from "./mesh_services.ts";
import { readPeerPins } from "./peers.ts";
import { startTailscaled } from "./tailscaled.ts";

interface Snapshot {
  tcpConnections: number;
  halfOpen: number;
  timeWait: number;
  listeners: number;
  udpSockets: number;
  timers: number;
  bufferedBytes: number;
}

/** Heap growth tolerated over the whole run (caches warm up: JIT code, maps). */
const HEAP_SLACK = 4 * MiB;

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name: `node API under load against a real tailscaled, Headscale ${version}: 1,000 short ` +
      "connections, 100 at once, a peer vanishing mid-download; the stack and heap back to baseline",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("load");
      const hello = startTcpService({ kind: "hello" });
      const source = startTcpService({ kind: "source", bytes: 1024 * MiB });
      const ts = await startTailscaled({
        headscale: hs,
        authKey: await hs.createPreAuthKey(user),
        hostname: "ts-load",
      });
      const { driver } = await startMeshDriver(
        hs.url,
        await hs.createPreAuthKey(user),
        "citadel-load",
        await ts.ip(),
      );
      try {
        // Warm up (JIT, the WireGuard session, the direct path), then take the baseline.
        assert.ok((await driver.call({ cmd: "short", count: 50, port: hello.port }, 60_000)).ok);
        await new Promise((r) => setTimeout(r, 1_000));
        const base = await driver.call({ cmd: "snapshot" });
        const baseSnapshot = base.snapshot as Snapshot;
        assert.equal(baseSnapshot.tcpConnections - baseSnapshot.timeWait, 0);

        const short = await driver.call({ cmd: "short", count: 1000, port: hello.port }, 300_000);
        assert.equal(short.failures, 0, JSON.stringify(short));
        const concurrent = await driver.call(
          { cmd: "concurrent", count: 100, port: hello.port },
          120_000,
        );
        assert.equal(concurrent.failures, 0, JSON.stringify(concurrent));
        await new Promise((r) => setTimeout(r, 1_000)); // the last FINs and ACKs
        const after = await driver.call({ cmd: "snapshot" });
        const snapshot = after.snapshot as Snapshot;
        // The peer closes first (it says hello and closes), so nothing of ours waits in TIME-WAIT.
        assert.deepEqual(
          { ...snapshot },
          { ...baseSnapshot, timeWait: snapshot.timeWait, tcpConnections: snapshot.timeWait },
        );
        assert.equal(snapshot.timeWait, 0, "no TIME-WAIT: the peer closed first");
        assert.equal(snapshot.timers, 0, "no timer pending");
        assert.equal(snapshot.bufferedBytes, 0, "no buffer held");
        const growth = (after.heap as number) - (base.heap as number);
        assert.ok(growth < HEAP_SLACK, `heap grew ${growth} bytes over 1,100 connections`);
        console.log(
          `  1,000 in a row: ${((short.ms as number) / 1000).toFixed(1)} s (set-up median ` +
            `${(short.setupMedianMs as number).toFixed(1)} ms, p90 ${
              (short.setupP90Ms as number).toFixed(1)
            } ms); ` +
            `100 at once: ${(concurrent.ms as number).toFixed(0)} ms; heap ${
              (growth / 1024).toFixed(0)
            } KiB from baseline`,
        );

        // A peer vanishing mid-download: killed, then removed from the netmap.
        const started = await driver.call({ cmd: "download-start", port: source.port }, 60_000);
        assert.ok(started.ok, JSON.stringify(started));
        await ts.stopDaemon();
        const node = (await hs.listNodes()).find((n) => n.name === "ts-load")!;
        await hs.deleteNode(node.id);
        const ended = await driver.call({ cmd: "download-wait" }, 60_000);
        assert.equal(ended.ended, "ConnectionResetError", JSON.stringify(ended));
        assert.match(String(ended.message), /the peer left the netmap/);
        assert.ok((ended.bytes as number) >= MiB && (ended.bytes as number) < 1024 * MiB);
        const gone = (await driver.call({ cmd: "snapshot" })).snapshot as Snapshot;
        assert.equal(gone.tcpConnections, 0, "nothing of the vanished peer's connection stays");
        assert.equal(gone.timers, 0);
        assert.equal(gone.bufferedBytes, 0);
        console.log(
          `  vanished peer: the download ended with ${ended.ended} after ${
            ((ended.bytes as number) / MiB).toFixed(1)
          } MiB`,
        );
      } finally {
        await driver.stop();
        await ts.stop();
        await hello.close();
        await source.close();
      }
    },
  });
}
