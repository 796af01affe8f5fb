/**
 * DERP as two regions, with real derpers (plain HTTP on 127.0.0.1), a real Headscale serving
 * them as its DERP map (no embedded DERP), a real tailscaled homed in region A and
 * `citadel work` homed in region B. DERP servers of different regions do not forward to each
 * other, so:
 * - `citadel ping` of the tailscaled (before tailscaled ever sent us anything) works only
 *   through a connection to A opened on demand;
 * - `tailscale ping` of the citadel node works through tailscaled's connection to B;
 * - when B's derper is killed, citadel moves its home to A (three failed connects), tells
 *   Nexus (tailscaled then shows the citadel node's relay as A), and pings work again both ways.
 */
import assert from "node:assert/strict";
import type { DERPRegion } from "../../network/control/map_response.ts";
import { createCitadel, describeResult } from "./citadel_cli.ts";
import { startDerper } from "./derper.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { waitFor } from "./process.ts";
import { startTailscaled } from "./tailscaled.ts";

const TEST = { sanitizeOps: false, sanitizeResources: false };
/** Citadel's home: the lowest ID, so that citadel picks it without netcheck. */
const REGION_B = 901;
/** tailscaled's home, forced with `tailscale debug force-prefer-derp`. */
const REGION_A = 902;
const REPLY = /^reply from (\S+) \((\S+)\) via DERP in ([\d.]+) ms$/m;

function region(id: number, code: string, derper: { port: number; stunPort: number }): DERPRegion {
  return {
    RegionID: id,
    RegionCode: code,
    RegionName: `derper ${code}`,
    Nodes: [{
      Name: `${id}a`,
      RegionID: id,
      HostName: "127.0.0.1",
      IPv4: "127.0.0.1",
      IPv6: "none",
      STUNPort: derper.stunPort,
      DERPPort: derper.port,
    }],
  };
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    ...TEST,
    name: `DERP regions (Headscale ${version}): citadel homed in B reaches tailscaled homed in A ` +
      `on demand; B dies, citadel moves home to A and tells Nexus`,
    fn: async () => {
      const derperB = await startDerper();
      await using derperA = await startDerper();
      try {
        await using hs = await startHeadscale({
          version,
          embeddedDerp: false,
          derpRegions: [region(REGION_B, "b", derperB), region(REGION_A, "a", derperA)],
        });
        const user = await hs.createUser("regions");
        const key = await hs.createPreAuthKey(user, { reusable: true });
        await using ts = await startTailscaled({ headscale: hs, authKey: key, hostname: "ts-a" });
        // The forced home applies at tailscaled's next netcheck, which a re-STUN starts.
        await ts.cli(["debug", "force-prefer-derp", String(REGION_A)]);
        await waitFor("tailscaled homed in region a", async () => {
          if ((await ts.status()).Self?.Relay === "a") return true;
          await ts.cli(["debug", "restun"]);
          return false;
        }, { timeoutMs: 20_000, intervalMs: 1_000 });

        await using citadel = await createCitadel({ nexus: hs.url, label: "regions" });
        citadel.secret(key);
        const init = await citadel.ok(["init", "--node-name", "citadel-b"], {
          env: { CITADEL_AUTHKEY: key },
        });
        const ip = init.stdout.match(/IPv4:\s+(\S+)/)![1];
        const work = citadel.startWork();
        try {
          await work.waitOnline();
          await work.waitForLog(new RegExp(`DERP home is region ${REGION_B}\\b`));
          await waitFor("tailscaled to see citadel homed in b", async () => {
            const peer = (await ts.peers()).find((p) => p.HostName === "citadel-b");
            return peer?.Relay === "b";
          }, { timeoutMs: 20_000 });

          // Citadel speaks first: only a connection to A reaches tailscaled.
          const ours = await citadel.run(["ping", "ts-a", "-c", "3"]);
          assert.equal(ours.code, 0, describeResult(ours));
          assert.match(ours.stdout, REPLY);
          assert.match(
            work.log(),
            new RegExp(`DERP region ${REGION_A} connected: http://127\\.0\\.0\\.1:${derperA.port}`),
            "region A opened on demand, not as home",
          );
          const theirs = await ts.ping(ip, { timeoutSeconds: 20 });
          assert.equal(theirs.nodeIp, ip);
          assert.equal(theirs.via, "DERP(b)");
          console.log(
            `  before: citadel → ts-a ${ours.stdout.match(REPLY)![3]} ms; ` +
              `tailscale ping ${theirs.latencyMs} ms via ${theirs.via}`,
          );

          // Region B dies: citadel's home moves to A, Nexus is told, tailscaled follows.
          const killedAt = performance.now();
          await derperB.stop();
          await work.waitForLog(
            new RegExp(
              `DERP home is now region ${REGION_A} \\(was ${REGION_B}\\): failover`,
            ),
            20_000,
          );
          const movedMs = Math.round(performance.now() - killedAt);
          await waitFor("tailscaled to see citadel homed in a", async () => {
            const peer = (await ts.peers()).find((p) => p.HostName === "citadel-b");
            return peer?.Relay === "a";
          }, { timeoutMs: 20_000 });
          const toldMs = Math.round(performance.now() - killedAt);
          const after = await ts.ping(ip, { timeoutSeconds: 20 });
          assert.equal(after.via, "DERP(a)");
          const backMs = Math.round(performance.now() - killedAt);
          const again = await citadel.run(["ping", "ts-a", "-c", "3"]);
          assert.equal(again.code, 0, describeResult(again));
          console.log(
            `  B killed: home moved after ${movedMs} ms, tailscaled saw it after ${toldMs} ms, ` +
              `tailscale ping answered via ${after.via} after ${backMs} ms`,
          );
          assert.ok(backMs < 10_000, `peers reach citadel again within 10 s (${backMs} ms)`);
          const derpLines = work.log().split("\n").filter((line) => / DERP /.test(line));
          console.log(`  work's DERP log:\n    ${derpLines.join("\n    ")}`);
        } finally {
          assert.equal(await work.stop(), 0, work.logTail());
        }
      } finally {
        await derperB.stop();
      }
    },
  });
}
