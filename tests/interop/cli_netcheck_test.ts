/**
 * `citadel netcheck` through bin/citadel against a real Headscale: after `init` the DERP map is
 * the one cached in the state, STUN goes to Headscale's embedded STUN server on 127.0.0.1, and
 * the report (text and `--json`, tailscale's keys) shows UDP working, our loopback address and
 * the embedded region's latency.
 */
import assert from "node:assert/strict";
import { createCitadel } from "./citadel_cli.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";

const EMBEDDED_REGION = "999";

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name: `citadel netcheck measures Headscale ${version}'s embedded STUN`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("netcheck");
      await using citadel = await createCitadel({ nexus: hs.url, label: "netcheck" });
      const key = citadel.secret(await hs.createPreAuthKey(user));
      await citadel.ok(["init", "--node-name", "checker"], { env: { CITADEL_AUTHKEY: key } });

      const json = JSON.parse((await citadel.ok(["netcheck", "--json"])).stdout);
      assert.equal(json.UDP, true);
      assert.match(json.GlobalV4, /^127\.0\.0\.1:\d+$/);
      assert.equal(json.MappingVariesByDestIP, null, "one STUN server cannot tell");
      assert.ok(json.RegionLatency[EMBEDDED_REGION] > 0, JSON.stringify(json.RegionLatency));
      assert.equal(json.PreferredDERP, Number(EMBEDDED_REGION));

      const text = (await citadel.ok(["netcheck"])).stdout;
      assert.match(text, /^\s*\* UDP: true$/m);
      assert.match(text, /^\s*\* Nearest DERP: /m);
      console.log(
        `  Headscale ${version}: ${
          text.split("\n").filter((l) => /UDP|IPv4|Nearest/.test(l)).join(" |")
        }`,
      );
    },
  });
}
