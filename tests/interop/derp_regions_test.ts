/**
 * DERP as two regions, with real derpers (plain HTTP on 127.0.0.1), a real Headscale serving
 * them as its DERP map (no embedded DERP), `citadel work --no-direct` homed where its netcheck
 * says (call it B) and a real tailscaled forced into the other region (A). DERP servers of
 * different regions do not forward to each other, so:
 * - `citadel ping` of the tailscaled (before tailscaled ever sent us anything) works only
 *   through a connection to A opened on demand;
 * - `tailscale ping` of the citadel node works through tailscaled's connection to B;
 * - when B's derper is killed, citadel moves its home to A (three failed connects), tells
 *   Nexus (tailscaled then shows the citadel node's relay as A), and pings work again both ways.
 *
 * Both derpers answer STUN on loopback in well under a millisecond, so which one citadel's
 * netcheck prefers is not fixed: the test reads it from work's log and forces tailscaled into
 * the other one.
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
const REGION_IDS = [901, 902] as const;
const NETCHECK_LINE = /netcheck: UDP \S+, nearest DERP region (\d+)/;
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

function derpLines(log: string): string {
  return log.split("\n").filter((line) => /DERP|netcheck/.test(line)).map((l) => `    ${l}`)
    .join("\n");
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    ...TEST,
    name: `DERP regions (Headscale ${version}): citadel homed in B reaches tailscaled homed in A ` +
      `on demand; B dies, citadel moves home to A and tells Nexus`,
    fn: async () => {
      const derpers = [await startDerper(), await startDerper()];
      try {
        const codes = ["r1", "r2"];
        await using hs = await startHeadscale({
          version,
          embeddedDerp: false,
          derpRegions: REGION_IDS.map((id, i) => region(id, codes[i], derpers[i])),
        });
        const user = await hs.createUser("regions");
        const key = await hs.createPreAuthKey(user, { reusable: true });

        await using citadel = await createCitadel({ nexus: hs.url, label: "regions" });
        const ip = await citadel.join("citadel-b", key);
        // DERP only: on loopback a direct path would carry every ping.
        const work = citadel.startWork(["--no-direct"]);
        try {
          await work.waitOnline();
          const chosen = Number((await work.waitForLog(NETCHECK_LINE))[1]);
          const b = REGION_IDS.indexOf(chosen as typeof REGION_IDS[number]);
          assert.ok(b >= 0, `netcheck chose one of the two regions (${chosen})`);
          const a = 1 - b;
          const [REGION_A, REGION_B] = [REGION_IDS[a], REGION_IDS[b]];
          const [derperA, derperB] = [derpers[a], derpers[b]];
          const [codeA, codeB] = [codes[a], codes[b]];
          await work.waitForLog(new RegExp(`DERP home is (now )?region ${REGION_B}\\b`));

          await using ts = await startTailscaled({ headscale: hs, authKey: key, hostname: "ts-a" });
          // The forced home applies at tailscaled's next netcheck, which a re-STUN starts.
          await ts.cli(["debug", "force-prefer-derp", String(REGION_A)]);
          await waitFor(`tailscaled homed in region ${codeA}`, async () => {
            if ((await ts.status()).Self?.Relay === codeA) return true;
            await ts.cli(["debug", "restun"]);
            return false;
          }, { timeoutMs: 20_000, intervalMs: 1_000 });
          await waitFor(`tailscaled to see citadel homed in ${codeB}`, async () => {
            const peer = (await ts.peers()).find((p) => p.HostName === "citadel-b");
            return peer?.Relay === codeB;
          }, { timeoutMs: 20_000 });

          // Citadel must know the new home too: until its netmap says A, it sends through B,
          // where tailscaled still holds its previous home connection for a while.
          await waitFor(`citadel to see ts-a homed in ${REGION_A}`, async () => {
            const { json } = await citadel.status();
            return json.peers.find((p) => p.hostname === "ts-a")?.relayRegion === REGION_A;
          }, { timeoutMs: 20_000 });

          // Citadel speaks first: only a connection to A reaches tailscaled.
          const ours = await citadel.run(["ping", "ts-a", "-c", "3"]);
          assert.equal(ours.code, 0, describeResult(ours));
          assert.match(ours.stdout, REPLY);
          // Region A is opened on demand, unless it was the home before netcheck moved it to B.
          const firstHome = Number(work.log().match(/DERP home is region (\d+)/)![1]);
          assert.match(
            work.log(),
            new RegExp(
              `DERP region ${REGION_A} connected${
                firstHome === REGION_A ? "( \\(home\\))?" : ""
              }: ` +
                `http://127\\.0\\.0\\.1:${derperA.port}`,
            ),
            `region A connected; work's DERP lines:\n${derpLines(work.log())}`,
          );
          const theirs = await ts.ping(ip, { timeoutSeconds: 20 });
          assert.equal(theirs.nodeIp, ip);
          assert.equal(theirs.via, `DERP(${codeB})`);
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
          await waitFor(`tailscaled to see citadel homed in ${codeA}`, async () => {
            const peer = (await ts.peers()).find((p) => p.HostName === "citadel-b");
            return peer?.Relay === codeA;
          }, { timeoutMs: 20_000 });
          const toldMs = Math.round(performance.now() - killedAt);
          const after = await ts.ping(ip, { timeoutSeconds: 20 });
          assert.equal(after.via, `DERP(${codeA})`);
          const backMs = Math.round(performance.now() - killedAt);
          const again = await citadel.run(["ping", "ts-a", "-c", "3"]);
          assert.equal(again.code, 0, describeResult(again));
          console.log(
            `  B killed: home moved after ${movedMs} ms, tailscaled saw it after ${toldMs} ms, ` +
              `tailscale ping answered via ${after.via} after ${backMs} ms`,
          );
          assert.ok(backMs < 10_000, `peers reach citadel again within 10 s (${backMs} ms)`);
          console.log(`  work's DERP log:\n${derpLines(work.log())}`);
        } finally {
          assert.equal(await work.stop(), 0, work.logTail());
        }
      } finally {
        for (const derper of derpers) await derper.stop();
      }
    },
  });
}
