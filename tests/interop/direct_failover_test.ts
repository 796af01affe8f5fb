/**
 * A direct path that dies mid-run and comes back (issue 6): a CitadelNode and a real tailscaled
 * on one Headscale reach each other directly over 127.0.0.1; pings every 200 ms; then every
 * UDP datagram of the node's direct-path socket is lost both ways (the engine's fault
 * injection: a firewall starting to drop UDP). The pings keep flowing through DERP with at most
 * 5 s without a reply, and go direct again within 70 s of the loss ending.
 */
import assert from "node:assert/strict";
import { CitadelNode } from "../../network/node.ts";
import { MemoryStateStore } from "../../state/memory_store.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { readLogTail, waitFor } from "./process.ts";
import { startTailscaled } from "./tailscaled.ts";

const INTERVAL_MS = 200;

interface Sample {
  at: number;
  ok: boolean;
  path?: string;
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name:
      `direct path lost mid-run: DERP carries on within 5 s, direct again after (headscale ${version})`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("failover");
      const authKey = await hs.createPreAuthKey(user, { reusable: true });
      await using ts = await startTailscaled({ headscale: hs, authKey, hostname: "real-ts" });
      const node = new CitadelNode({
        controlURL: hs.url,
        store: new MemoryStateStore(),
        authKey,
        hostname: "citadel-failover",
        dataPlane: {
          plainHTTPDerp: hs.url.startsWith("http:"),
          udp: { hostname: "127.0.0.1", advertise: "loopback-only" },
        },
      });
      try {
        await node.start();
        const tsIP = await ts.ip();
        await waitFor("a direct path to tailscaled", async () => {
          const r = await node.ping(tsIP, { timeoutMs: 2_000 }).catch(() => null);
          return r?.path === "direct" ? r : undefined;
        }, { timeoutMs: 30_000 });

        // A ping every 200 ms, each waiting up to 1 s, several in flight: the first answered
        // ping after the loss began says within 200 ms when replies came back.
        const samples: Sample[] = [];
        const pingFor = async (ms: number, until?: (s: Sample) => boolean) => {
          const end = performance.now() + ms;
          const inFlight: Promise<void>[] = [];
          let found: Sample | undefined;
          while (performance.now() < end && !found) {
            const at = performance.now();
            inFlight.push(
              node.ping(tsIP, { timeoutMs: 1_000 }).catch(() => null).then((result) => {
                const sample = { at, ok: !!result, path: result?.path };
                samples.push(sample);
                if (!found && until?.(sample)) found = sample;
              }),
            );
            await new Promise((r) => setTimeout(r, INTERVAL_MS));
          }
          await Promise.all(inFlight);
          samples.sort((a, b) => a.at - b.at);
          return found;
        };

        await pingFor(2_000);
        const blockedAt = performance.now();
        node.dataPlane!.simulateUDPLoss(true);
        await pingFor(15_000);
        const during = samples.filter((s) => s.at >= blockedAt);
        const firstRelay = during.find((s) => s.ok);
        // (Replies over the dead path still in flight at the instant of loss are not lost.)
        assert.ok(firstRelay, "replies came back through DERP");
        const gap = firstRelay.at - blockedAt;
        assert.ok(gap <= 5_000, `no reply for ${gap.toFixed(0)} ms after the loss began`);
        const late = during.filter((s) => s.at > firstRelay.at);
        assert.ok(late.every((s) => s.ok), "no more losses once on DERP");
        assert.ok(late.every((s) => s.path === "relay"), "over DERP while UDP is lost");

        const unblockedAt = performance.now();
        node.dataPlane!.simulateUDPLoss(false);
        const back = await pingFor(70_000, (s) => s.ok && s.path === "direct");
        assert.ok(back, "direct again within 70 s");
        const after = samples.filter((s) => s.at >= unblockedAt);
        assert.ok(after.every((s) => s.ok), "nothing lost while moving back");
        console.log(
          `  headscale ${version}: ${during.length} pings while UDP was lost; first DERP reply ` +
            `${gap.toFixed(0)} ms after the loss; direct again ${
              (back.at - unblockedAt).toFixed(0)
            } ms after it ended`,
        );
      } catch (error) {
        if (error instanceof Error) {
          error.message += `\n--- tailscaled ---\n${readLogTail(ts.logPath, 30)}`;
        }
        throw error;
      } finally {
        await node.close();
      }
    },
  });
}
