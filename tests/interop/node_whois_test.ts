/**
 * whois against real Headscale and a real tailscaled: the citadel node maps
 * the tailscaled's mesh address to the node key Headscale holds for it and
 * to its user, and knows nothing of a node it cannot see.
 */
import assert from "node:assert/strict";
import { CitadelNode } from "../../network/node.ts";
import { MemoryStateStore } from "../../state/memory_store.ts";
import { OWN_NODES_ONLY_POLICY, startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { waitFor } from "./process.ts";
import { startTailscaled } from "./tailscaled.ts";

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name: `whois (headscale ${version}): a tailscaled's address names its node key and user`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version, policy: OWN_NODES_ONLY_POLICY });
      const alice = await hs.createUser("alice");
      const bob = await hs.createUser("bob");
      await using peer = await startTailscaled({
        headscale: hs,
        authKey: await hs.createPreAuthKey(alice),
        hostname: "ts-alice",
      });
      await using stranger = await startTailscaled({
        headscale: hs,
        authKey: await hs.createPreAuthKey(bob),
        hostname: "ts-bob",
      });
      const node = new CitadelNode({
        controlURL: hs.url,
        store: new MemoryStateStore(),
        authKey: await hs.createPreAuthKey(alice),
        hostname: "citadel-alice",
      });
      try {
        await node.start();
        const peerIP = await peer.ip();
        const who = await waitFor(
          "the tailscaled in citadel's netmap",
          () => Promise.resolve(node.whois(`${peerIP}:41641`)),
          { timeoutMs: 20_000 },
        );
        const listed = (await hs.listNodes()).find((n) => n.name === "ts-alice")!;
        assert.equal(who.nodeKey, listed.nodeKey);
        assert.equal(who.nodeId, listed.id);
        assert.equal(who.hostname, "ts-alice");
        assert.equal(who.user?.loginName, "alice");
        assert.equal(who.self, false);
        assert.equal(node.whois(await stranger.ip()), null, "bob's node is not visible");
        assert.equal(node.whois(node.status().nodeIP!)?.self, true);
      } finally {
        await node.close();
      }
    },
  });
}
