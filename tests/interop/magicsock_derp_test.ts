/**
 * The first data path with a real Tailscale client, over DERP only (every pinned Headscale,
 * embedded DERP region 999 on plain HTTP). A CitadelNode with its data plane (MagicSock) and a
 * tailscaled of the same user, forced onto DERP (`TS_DEBUG_ALWAYS_USE_DERP=1`):
 * 1. `tailscale ping` (disco) of Citadel's address gets a Pong via DERP: our disco key and home
 *    DERP reached tailscaled through Headscale, and our Pong is sealed right;
 * 2. `tailscale ping --icmp` gets an echo reply: tailscaled's WireGuard handshake with us (we are
 *    the responder) and transport both ways, over DERP;
 * 3. `tailscale ping --tsmp` gets a TSMP Pong, written by our data plane inside WireGuard;
 * 4. Citadel pings tailscaled's address itself through the same session, and the reply from
 *    tailscaled's userspace stack is decrypted here.
 * Round-trip times are printed.
 */
import assert from "node:assert/strict";
import { parseIPAddress } from "../../network/netaddr/ip_address.ts";
import type { DataPlaneEvent } from "../../network/engine/engine.ts";
import { CitadelNode } from "../../network/node.ts";
import { MemoryStateStore } from "../../state/memory_store.ts";
import { EMBEDDED_DERP_REGION_ID, startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { readLogTail, waitFor } from "./process.ts";
import { startTailscaled } from "./tailscaled.ts";

const TEST = { sanitizeOps: false, sanitizeResources: false };

/** An ICMPv4 echo request from `source` to `destination` (RFC 792), checksums filled in. */
function icmpEchoRequest(source: string, destination: string, sequence: number): Uint8Array {
  const payload = new TextEncoder().encode("citadel magicsock");
  const packet = new Uint8Array(20 + 8 + payload.length);
  packet[0] = 0x45;
  packet[2] = packet.length >> 8;
  packet[3] = packet.length & 0xff;
  packet[8] = 64;
  packet[9] = 1;
  packet.set(parseIPAddress(source)!, 12);
  packet.set(parseIPAddress(destination)!, 16);
  packet[20] = 8;
  packet[24] = 0x12;
  packet[25] = 0x34;
  packet[26] = sequence >> 8;
  packet[27] = sequence & 0xff;
  packet.set(payload, 28);
  const checksum = (from: number, to: number) => {
    let sum = 0;
    for (let i = from; i < to; i += 2) sum += (packet[i] << 8) | (packet[i + 1] ?? 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    return ~sum & 0xffff;
  };
  const ip = checksum(0, 20);
  packet[10] = ip >> 8;
  packet[11] = ip & 0xff;
  const icmp = checksum(20, packet.length);
  packet[22] = icmp >> 8;
  packet[23] = icmp & 0xff;
  return packet;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    ...TEST,
    name:
      `magicsock over DERP (headscale ${version} embedded): tailscaled's disco, ICMP and TSMP pings are answered; our ICMP ping is answered too`,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("mesh");
      const authKey = await hs.createPreAuthKey(user, { reusable: true });
      await using ts = await startTailscaled({
        headscale: hs,
        authKey,
        hostname: "real-ts",
        env: { TS_DEBUG_ALWAYS_USE_DERP: "1" },
      });
      const events: DataPlaneEvent[] = [];
      const echoReplies: { sequence: number; at: number }[] = [];
      const node = new CitadelNode({
        controlURL: hs.url,
        store: new MemoryStateStore(),
        authKey,
        hostname: "citadel-ms",
        dataPlane: {
          plainHTTPDerp: hs.url.startsWith("http:"),
          onEvent: (event) => events.push(event),
          onPacket: (packet) => {
            // ICMPv4 echo reply (type 0) to our request: note its sequence number.
            if (packet[0] === 0x45 && packet[9] === 1 && packet[20] === 0) {
              echoReplies.push({ sequence: (packet[26] << 8) | packet[27], at: performance.now() });
            }
          },
        },
      });
      try {
        const { nodeIP } = await node.start();
        assert.ok(nodeIP, "Citadel has an IPv4 address");
        const sock = node.dataPlane;
        assert.ok(sock, "the data plane started");
        assert.equal(sock.homeRegion, EMBEDDED_DERP_REGION_ID);
        assert.ok(sock.derpConnected, "connected to the home DERP");

        // Headscale publishes our home DERP (lite update) and disco key to tailscaled.
        await waitFor("tailscaled to see Citadel's home DERP", async () => {
          const status = await ts.status();
          const peer = Object.values(status.Peer ?? {}).find((p) => p.HostName === "citadel-ms");
          return peer?.Relay ? peer : undefined;
        }, { timeoutMs: 30_000 });

        // (1) disco ping, answered by our Pong over DERP.
        const disco = await ts.ping(nodeIP, { timeoutSeconds: 30 });
        assert.match(disco.via, /^DERP\(/, `disco pong via ${disco.via}`);
        assert.equal(disco.nodeIp, nodeIP);
        assert.ok(sock.stats.discoPingsAnswered > 0);
        const discoRtts = [disco.latencyMs];
        for (let i = 0; i < 4; i++) discoRtts.push((await ts.ping(nodeIP)).latencyMs);

        // (2) ICMP over WireGuard over DERP: tailscaled initiates, we answer the echo.
        const icmp = await ts.ping(nodeIP, { type: "icmp", timeoutSeconds: 30 });
        assert.equal(icmp.nodeIp, nodeIP);
        assert.ok(sock.stats.echoRepliesSent > 0, "our echo reply went out through WireGuard");
        assert.ok(events.some((e) => e.kind === "handshake"), "a WireGuard handshake completed");
        // After the handshake we advertised our disco key inside WireGuard; tailscaled takes it.
        await waitFor("tailscaled to take our TSMP disco-key advertisement", async () => {
          const log = await Deno.readTextFile(ts.logPath);
          return log.includes(`got TSMP disco key advertisement from ${nodeIP}`) || undefined;
        }, { timeoutMs: 10_000 });
        const icmpRtts = [icmp.latencyMs];
        for (let i = 0; i < 4; i++) {
          icmpRtts.push((await ts.ping(nodeIP, { type: "icmp" })).latencyMs);
        }

        // (3) TSMP over WireGuard over DERP: our data plane writes the Pong.
        const tsmp = await ts.ping(nodeIP, { type: "tsmp", timeoutSeconds: 30 });
        assert.equal(tsmp.nodeIp, nodeIP);
        assert.ok(sock.stats.tsmpPongsSent > 0, "our TSMP Pong went out through WireGuard");
        const tsmpRtts = [tsmp.latencyMs];
        for (let i = 0; i < 4; i++) {
          tsmpRtts.push((await ts.ping(nodeIP, { type: "tsmp" })).latencyMs);
        }

        // (4) Citadel pings tailscaled through the same session; its userspace stack answers.
        const tsIP = await ts.ip();
        const ourRtts: number[] = [];
        for (let sequence = 1; sequence <= 5; sequence++) {
          const sentAt = performance.now();
          assert.ok(
            sock.sendPacket(icmpEchoRequest(nodeIP, tsIP, sequence)),
            "routed to tailscaled",
          );
          const reply = await waitFor(
            `echo reply ${sequence} from tailscaled`,
            () => echoReplies.find((r) => r.sequence === sequence),
            { timeoutMs: 10_000 },
          );
          ourRtts.push(reply.at - sentAt);
        }

        const fmt = (v: number[]) =>
          `median ${median(v).toFixed(2)} ms (${v.map((x) => x.toFixed(1)).join(", ")})`;
        console.log(
          `headscale ${version}: tailscale ping (disco, via ${disco.via}): ${fmt(discoRtts)}`,
        );
        console.log(
          `headscale ${version}: tailscale ping --icmp (WireGuard over DERP): ${fmt(icmpRtts)}`,
        );
        console.log(
          `headscale ${version}: tailscale ping --tsmp (WireGuard over DERP): ${fmt(tsmpRtts)}`,
        );
        console.log(
          `headscale ${version}: Citadel → tailscaled ICMP echo (WireGuard over DERP): ${
            fmt(ourRtts)
          }`,
        );
        console.log(`headscale ${version}: stats ${JSON.stringify(sock.stats)}`);
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
