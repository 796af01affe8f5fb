/**
 * `citadel work` is reachable from a real Tailscale client: a tailscaled of
 * the same user pings the citadel node through `bin/citadel work` — a disco
 * ping and an ICMP ping over WireGuard, relayed by Headscale's embedded DERP —
 * and then `citadel status` lists that peer with path `relay`.
 */
import assert from "node:assert/strict";
import { createCitadel, pollUntil } from "./citadel_cli.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { startTailscaled } from "./tailscaled.ts";

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name: `citadel work answers tailscale ping over DERP, Headscale ${version}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("pinged");
      await using citadel = await createCitadel({ nexus: hs.url, label: "work-ping" });
      const key = citadel.secret(await hs.createPreAuthKey(user, { reusable: true }));
      const init = await citadel.ok(["init", "--node-name", "work-pinged"], {
        env: { CITADEL_AUTHKEY: key },
      });
      const ip = init.stdout.match(/IPv4:\s+(\S+)/)![1];
      const work = citadel.startWork();
      try {
        await work.waitOnline();
        await using ts = await startTailscaled({ headscale: hs, authKey: key, hostname: "pinger" });
        await ts.waitForPeer("work-pinged");
        const disco = await ts.ping(ip, { timeoutSeconds: 30 });
        assert.equal(disco.nodeIp, ip);
        const icmp = await ts.ping(ip, { type: "icmp", timeoutSeconds: 30 });
        assert.equal(icmp.nodeIp, ip);
        console.log(
          `  Headscale ${version}: tailscale ping ${disco.latencyMs} ms via ${disco.via}; ` +
            `--icmp ${icmp.latencyMs} ms via ${icmp.via}`,
        );
        const peer = await pollUntil("citadel status to show the pinger over DERP", async () => {
          const { json } = await citadel.status();
          const p = json.peers.find((x) => x.hostname === "pinger");
          return p?.path === "relay" ? p : undefined;
        }, { timeoutMs: 10_000 });
        assert.equal(peer.value.online, true);
      } finally {
        assert.equal(await work.stop(), 0, work.logTail());
      }
    },
  });
}
