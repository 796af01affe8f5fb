/**
 * Control pings against real Headscale: the debug page's ping
 * (`/debug/ping?node=ID` on the metrics listener) sends the node a
 * PingRequest, and the node answers with a HEAD to the callback URL. Only
 * Headscale 0.29 has that page (0.28 sends PingRequests only to HA subnet
 * routers), so this test runs against the 0.29 pins alone.
 */
import assert from "node:assert/strict";
import { CitadelNode } from "../../network/node.ts";
import { MemoryStateStore } from "../../state/memory_store.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";

const versions = readPeerPins().headscaleVersions.filter((v) => v.startsWith("v0.29."));
assert.ok(versions.length > 0, "peers.env pins no Headscale 0.29.x");

for (const version of versions) {
  Deno.test({
    name: `control ping (headscale ${version}): the node answers Headscale's debug ping`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("pinger");
      const key = await hs.createPreAuthKey(user);
      const node = new CitadelNode({
        controlURL: hs.url,
        store: new MemoryStateStore(),
        authKey: key,
        hostname: "ping-me",
      });
      try {
        await node.start();
        const [registered] = await hs.listNodes();
        const response = await fetch(
          `http://127.0.0.1:${hs.ports.metrics}/debug/ping?node=${registered.id}`,
        );
        const page = await response.text();
        assert.equal(response.status, 200);
        // On success the page says "Pong Node N responded in 375ms"; otherwise it
        // waits 30 s and says "No response after 30s".
        const text = page.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");
        assert.match(text, new RegExp(`Node ${registered.id} responded in \\d`));
      } finally {
        await node.close();
      }
    },
  });
}
