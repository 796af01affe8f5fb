/**
 * A running node's life at a real Headscale:
 * - key expiry and rotation: an admin expires the node (`headscale nodes
 *   expire`) while it runs; the node learns it from the map stream, makes a
 *   new node key and registers it with OldNodeKey and its (reusable) auth
 *   key; Headscale keeps the node — same ID, same IP — with the new key, and
 *   the node is online again, and its data plane speaks for the new key;
 * - deletion: an admin deletes the node (`headscale nodes delete`); Headscale
 *   keeps the deleted node's map stream open with keep-alives only, and the
 *   node's periodic registration check finds out and stops it for good.
 */
import assert from "node:assert/strict";
import { CitadelNode } from "../../network/node.ts";
import type { NodeEvent } from "../../network/node_types.ts";
import { FileStateStore } from "../../state/file_store.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { makeTempDir, removeTempDir, waitFor } from "./process.ts";

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name: `node rotation (headscale ${version}): an expired node key is replaced, same node and IP`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const dir = await makeTempDir("rotation-state");
      const events: NodeEvent[] = [];
      let node: CitadelNode | undefined;
      try {
        const user = await hs.createUser("rot");
        const key = await hs.createPreAuthKey(user, { reusable: true });
        const store = await FileStateStore.open({ dir });
        node = new CitadelNode({
          controlURL: hs.url,
          store,
          authKey: key,
          hostname: "rot-node",
          onEvent: (e) => events.push(e),
          dataPlane: { plainHTTPDerp: hs.url.startsWith("http:") },
        });
        const started = await node.start();
        assert.equal(
          node.dataPlane?.nodePublicKey.toText(),
          (await store.load())!.nodeKey.publicKey().toText(),
        );
        const [before] = await hs.listNodes();
        assert.equal(before.ipAddresses[0], started.nodeIP);
        const savedBefore = (await store.load())!.nodeKey.publicKey().toText();
        assert.equal(before.nodeKey, savedBefore);

        await hs.expireNode(before.id);
        const after = await waitFor("the node back online with a new node key", async () => {
          const [n] = await hs.listNodes();
          return n && n.nodeKey !== before.nodeKey && n.online && node!.connected ? n : undefined;
        }, { timeoutMs: 30_000, intervalMs: 250 });

        assert.equal(after.id, before.id, "the same node, not a new registration");
        assert.deepEqual(after.ipAddresses, before.ipAddresses);
        // Headscale 0.28 reports "no expiry" as the zero time, 0001-01-01.
        const expiry = after.expiry;
        assert.ok(
          !expiry || expiry.getUTCFullYear() <= 1 || expiry.getTime() > Date.now(),
          `no longer expired (expiry ${expiry?.toISOString()})`,
        );
        const savedAfter = (await store.load())!;
        assert.equal(savedAfter.nodeKey.publicKey().toText(), after.nodeKey);
        assert.equal(savedAfter.oldNodeKey, undefined, "rotation finished");
        assert.equal((await hs.listNodes()).length, 1);
        assert.equal(node.status().nodeIP, started.nodeIP);
        // The data plane was restarted with the new WireGuard identity and is back on DERP.
        const engine = await waitFor("the data plane on the new key", () => {
          const e = node!.dataPlane;
          return e?.nodePublicKey.toText() === after.nodeKey && e.derpConnected ? e : undefined;
        }, { timeoutMs: 15_000, intervalMs: 100 });
        assert.ok(engine.derpConnected);
      } finally {
        await node?.close();
        await removeTempDir(dir);
      }
    },
  });
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name: `node deletion (headscale ${version}): a running node learns it was deleted`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const dir = await makeTempDir("deletion-state");
      let node: CitadelNode | undefined;
      try {
        const user = await hs.createUser("del");
        const key = await hs.createPreAuthKey(user);
        const store = await FileStateStore.open({ dir });
        const first = new CitadelNode({ controlURL: hs.url, store, authKey: key });
        await first.start();
        await first.close();
        node = new CitadelNode({
          controlURL: hs.url,
          store,
          allowInteractive: false,
          registrationCheckIntervalMs: 500,
        });
        await node.start();
        const [registered] = await hs.listNodes();
        await hs.deleteNode(registered.id);
        const t0 = performance.now();
        const outcome = await Promise.race([
          node.stopped,
          new Promise((r) => setTimeout(() => r("still running after 15 s"), 15_000)),
        ]);
        assert.ok(outcome instanceof Error, String(outcome));
        assert.equal(outcome.name, "NodeNotFoundError");
        assert.equal(node.connected, false);
        assert.ok(performance.now() - t0 < 5_000, "noticed within a few check intervals");
      } finally {
        await node?.close();
        await removeTempDir(dir);
      }
    },
  });
}
