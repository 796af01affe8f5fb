/**
 * Citadel to citadel over a direct path: two `citadel work` nodes of one user (direct paths on,
 * bound to 127.0.0.1) on a real Headscale find each other by disco within seconds, and
 * `citadel ping` then reports the direct path while neither node's DERP counters move.
 */
import assert from "node:assert/strict";
import { type CitadelCli, createCitadel, pollUntil } from "./citadel_cli.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";

async function derpTraffic(citadel: CitadelCli): Promise<unknown> {
  const { json } = await citadel.status();
  return (json as { dataPlane?: { traffic?: { derp?: unknown } } }).dataPlane?.traffic?.derp;
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name: `citadel ping goes direct between two citadel works, Headscale ${version}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("pair");
      await using a = await createCitadel({ nexus: hs.url, label: "direct-a" });
      await using b = await createCitadel({ nexus: hs.url, label: "direct-b" });
      const key = a.secret(await hs.createPreAuthKey(user, { reusable: true }));
      b.secret(key);
      await a.ok(["init", "--node-name", "direct-a"], { env: { CITADEL_AUTHKEY: key } });
      await b.ok(["init", "--node-name", "direct-b"], { env: { CITADEL_AUTHKEY: key } });
      const workA = a.startWork();
      const workB = b.startWork();
      try {
        await workA.waitOnline();
        await workB.waitOnline();
        const direct = await pollUntil("a direct reply from direct-b", async () => {
          const result = await a.run(["ping", "direct-b", "-c", "1", "--json"]);
          const reply = result.code === 0 ? JSON.parse(result.stdout).replies[0] : undefined;
          return reply?.path === "direct" ? reply : undefined;
        }, { timeoutMs: 20_000 });
        console.log(
          `  Headscale ${version}: direct after ${direct.elapsedMs.toFixed(0)} ms, ` +
            `${direct.value.latencyMs.toFixed(2)} ms`,
        );
        const beforeA = await derpTraffic(a), beforeB = await derpTraffic(b);
        assert.ok(beforeA && beforeB, "status shows DERP counters");
        const pinged = JSON.parse((await a.ok(["ping", "direct-b", "-c", "5", "--json"])).stdout);
        assert.equal(pinged.received, 5);
        for (const reply of pinged.replies) assert.equal(reply.path, "direct");
        assert.deepEqual(await derpTraffic(a), beforeA, "A sent nothing more over DERP");
        assert.deepEqual(await derpTraffic(b), beforeB, "B sent nothing more over DERP");
      } finally {
        assert.equal(await workA.stop(), 0, workA.logTail());
        assert.equal(await workB.stop(), 0, workB.logTail());
      }
    },
  });
}
