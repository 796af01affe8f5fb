/**
 * Direct UDP paths with a real Tailscale client (every pinned Headscale, embedded DERP region
 * 999 on plain HTTP). A CitadelNode whose data plane binds UDP on 127.0.0.1 and advertises only
 * that endpoint, and a tailscaled of the same user (which advertises only 127.0.0.1 too):
 * 1. `tailscale ping` gets a disco Pong over UDP, "via 127.0.0.1:<our port>";
 * 2. `tailscale ping --icmp` is answered through WireGuard;
 * 3. our own ping of tailscaled works, and `peers()` shows the path as "direct";
 * 4. WireGuard then flows over UDP, not DERP (MagicSock counters);
 * 5. our TSMP ping is answered by tailscaled's data plane, our disco ping by its magicsock
 *    over the direct path (the endpoint tailscaled advertises).
 * All traffic stays on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { CitadelNode } from "../../network/node.ts";
import { MemoryStateStore } from "../../state/memory_store.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { readLogTail, waitFor } from "./process.ts";
import { startTailscaled } from "./tailscaled.ts";

const TEST = { sanitizeOps: false, sanitizeResources: false };

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    ...TEST,
    name:
      `magicsock direct UDP (headscale ${version}): tailscaled pings us via 127.0.0.1, we ping it, WireGuard leaves DERP`,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("mesh");
      const authKey = await hs.createPreAuthKey(user, { reusable: true });
      await using ts = await startTailscaled({ headscale: hs, authKey, hostname: "real-ts" });
      const node = new CitadelNode({
        controlURL: hs.url,
        store: new MemoryStateStore(),
        authKey,
        hostname: "citadel-udp",
        dataPlane: {
          plainHTTPDerp: hs.url.startsWith("http:"),
          udp: { hostname: "127.0.0.1", advertise: "loopback-only" },
        },
      });
      try {
        const { nodeIP } = await node.start();
        assert.ok(nodeIP);
        const sock = node.dataPlane;
        assert.ok(sock, "the data plane started");
        const ours = sock.udpAddress;
        assert.ok(ours, "the UDP socket is bound");
        assert.equal(ours.address, "127.0.0.1");
        assert.deepEqual(sock.localEndpoints().map(String), [ours.key]);

        // (1) disco ping answered over UDP: our loopback endpoint reached tailscaled through
        // Headscale (the lite update), and our Pong came back over the socket.
        const disco = await ts.ping(nodeIP, { untilDirect: true, timeoutSeconds: 30 });
        assert.equal(disco.via, ours.key, `disco pong via ${disco.via}`);
        assert.ok(disco.direct);
        console.log(
          `headscale ${version}: tailscale ping: pong via ${disco.via} in ${disco.latencyMs} ms`,
        );

        // (2) ICMP through WireGuard.
        const icmp = await ts.ping(nodeIP, { type: "icmp", timeoutSeconds: 30 });
        assert.equal(icmp.nodeIp, nodeIP);
        assert.ok(sock.stats.echoRepliesSent > 0);
        console.log(`headscale ${version}: tailscale ping --icmp: ${icmp.latencyMs} ms`);

        // (3) our ping; our own disco finds tailscaled's loopback endpoint.
        const tsIP = await ts.ip();
        await node.ping(tsIP, { timeoutMs: 10_000 });
        const direct = await waitFor("a trusted direct path to tailscaled", async () => {
          await node.ping(tsIP, { timeoutMs: 5_000 }).catch(() => {});
          const peer = node.peers().find((p) => p.ip === tsIP);
          return peer?.path === "direct" ? peer : undefined;
        }, { timeoutMs: 30_000 });
        assert.equal(direct.path, "direct");
        const result = await node.ping(tsIP, { timeoutMs: 5_000 });
        assert.equal(result.path, "direct");
        console.log(
          `headscale ${version}: node.ping(${tsIP}): ${
            result.latencyMs.toFixed(2)
          } ms, path ${result.path}`,
        );

        // (4) WireGuard now goes over UDP alone.
        const before = { ...sock.stats };
        for (let i = 0; i < 5; i++) {
          const r = await node.ping(tsIP, { timeoutMs: 5_000 });
          assert.equal(r.path, "direct");
        }
        assert.ok(sock.stats.udpDatagramsSent >= before.udpDatagramsSent + 5, "sent over UDP");
        assert.ok(
          sock.stats.udpDatagramsReceived >= before.udpDatagramsReceived + 5,
          "received over UDP",
        );
        assert.equal(sock.stats.datagramsSent, before.datagramsSent, "nothing more over DERP");
        assert.equal(sock.stats.datagramsReceived, before.datagramsReceived);
        console.log(`headscale ${version}: stats ${JSON.stringify(sock.stats)}`);

        // (5) TSMP and disco pings, as `tailscale ping --tsmp` and plain `tailscale ping`.
        const tsmp = await node.ping(tsIP, { type: "tsmp", timeoutMs: 5_000 });
        assert.equal(tsmp.type, "tsmp");
        const discoOurs = await waitFor("a disco pong over the direct path", async () => {
          const r = await node.ping(tsIP, { type: "disco", timeoutMs: 5_000 }).catch(() => null);
          return r?.endpoint ? r : undefined;
        }, { timeoutMs: 20_000 });
        const tsEndpoints = ((await ts.status()).Self?.Addrs ?? []) as string[];
        assert.ok(
          tsEndpoints.includes(discoOurs.endpoint!),
          `pong from ${discoOurs.endpoint}, one of tailscaled's endpoints ${tsEndpoints}`,
        );
        console.log(
          `headscale ${version}: node.ping tsmp ${tsmp.latencyMs.toFixed(2)} ms; disco ${
            discoOurs.latencyMs.toFixed(2)
          } ms via ${discoOurs.endpoint}`,
        );
      } catch (error) {
        if (error instanceof Error) {
          error.message += `\n--- tailscaled (${ts.logPath}) ---\n${readLogTail(ts.logPath, 40)}`;
        }
        throw error;
      } finally {
        await node.close();
      }
    },
  });
}
