/**
 * Proves the interop harness against every pinned Headscale: real tailscaled nodes register
 * (by pre-auth key and interactively), nodes of one user see and ping each other, a policy
 * keeps another user's node invisible, Headscale and tailscaled restart from their state, and
 * the TLS mode is trusted through the generated CA.
 */

import assert from "node:assert/strict";
import {
  authIdFromUrl,
  type HeadscaleServer,
  OWN_NODES_ONLY_POLICY,
  startHeadscale,
} from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { readLogTail, runCommand } from "./process.ts";
import { startTailscaled, type TailscaledNode } from "./tailscaled.ts";

/** Adds the tails of the peers' logs to an error, since their temp folders are removed. */
function withLogs(error: unknown, peers: readonly (HeadscaleServer | TailscaledNode)[]): unknown {
  if (!(error instanceof Error)) return error;
  for (const peer of peers) {
    const name = "hostname" in peer ? `tailscaled ${peer.hostname}` : `headscale ${peer.version}`;
    error.message += `\n--- ${name} (${peer.logPath}) ---\n${readLogTail(peer.logPath, 25)}`;
  }
  return error;
}

async function startBoth(
  stack: AsyncDisposableStack,
  starts: Promise<TailscaledNode>[],
): Promise<TailscaledNode[]> {
  const results = await Promise.allSettled(starts);
  for (const result of results) {
    if (result.status === "fulfilled") stack.use(result.value);
  }
  const failed = results.find((result) => result.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return results.map((result) => (result as PromiseFulfilledResult<TailscaledNode>).value);
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test(`interop harness, Headscale ${version}: users see and ping only their own nodes`, async () => {
    await using stack = new AsyncDisposableStack();
    const peers: (HeadscaleServer | TailscaledNode)[] = [];
    try {
      const hs = stack.use(await startHeadscale({ version, policy: OWN_NODES_ONLY_POLICY }));
      peers.push(hs);
      const alice = await hs.createUser("alice");
      const bob = await hs.createUser("bob");
      assert.notEqual(alice, bob);

      // Bob's node logs in interactively and is approved through the CLI.
      const b1 = stack.use(await startTailscaled({ headscale: hs, hostname: "b1" }));
      peers.push(b1);
      const registered = await hs.registerAuthId(authIdFromUrl(await b1.authUrl()), "bob");
      assert.equal(registered.user.name, "bob");
      assert.equal(registered.name, "b1");
      await b1.waitForRunning();

      // Alice's two nodes join with one reusable key, after b1 is known to Headscale, so a
      // policy that leaked b1 would show it in the same netmap that shows the other a-node.
      const key = await hs.createPreAuthKey(alice, { reusable: true });
      const [a1, a2] = await startBoth(stack, [
        startTailscaled({ headscale: hs, authKey: key, hostname: "a1" }),
        startTailscaled({ headscale: hs, authKey: key, hostname: "a2" }),
      ]);
      peers.push(a1, a2);
      const [a1Ip, a2Ip, b1Ip] = await Promise.all([a1.ip(), a2.ip(), b1.ip()]);

      const nodes = await hs.listNodes();
      assert.deepEqual(
        nodes.map((node) => `${node.name}:${node.user.name}`).sort(),
        ["a1:alice", "a2:alice", "b1:bob"],
      );
      assert.ok(nodes.find((node) => node.name === "a1")?.ipAddresses.includes(a1Ip));

      assert.equal((await a1.waitForPeer("a2")).TailscaleIPs?.[0], a2Ip);
      assert.equal((await a2.waitForPeer("a1")).TailscaleIPs?.[0], a1Ip);

      const pong = await a1.ping(a2Ip, { timeoutSeconds: 30 });
      assert.equal(pong.nodeIp, a2Ip);
      assert.equal((await a2.ping(a1Ip, { timeoutSeconds: 30 })).nodeIp, a1Ip);

      const hostnames = async (node: TailscaledNode) =>
        (await node.peers()).map((peer) => peer.HostName).sort();
      assert.deepEqual(await hostnames(a1), ["a2"]);
      assert.deepEqual(await hostnames(a2), ["a1"]);
      assert.deepEqual(await hostnames(b1), []);
      await assert.rejects(a1.ping(b1Ip, { timeoutSeconds: 2 }), { name: "TailscalePingError" });

      // State survives restarts: tailscaled keeps its identity, Headscale its nodes.
      await a2.restart();
      assert.equal(await a2.ip(), a2Ip);
      assert.equal((await a1.ping(a2Ip, { timeoutSeconds: 30 })).nodeIp, a2Ip);
      await hs.restart();
      assert.equal((await hs.listNodes()).length, 3);

      // Node administration.
      const b1Id = nodes.find((node) => node.name === "b1")!.id;
      await hs.expireNode(b1Id);
      const expiry = (await hs.listNodes()).find((node) => node.id === b1Id)?.expiry;
      assert.ok(expiry && expiry.getTime() <= Date.now() + 1000, `b1 expiry ${expiry}`);
      await hs.deleteNode(b1Id);
      assert.deepEqual((await hs.listNodes()).map((node) => node.name).sort(), ["a1", "a2"]);
    } catch (error) {
      throw withLogs(error, peers);
    }
  });

  Deno.test(`interop harness, Headscale ${version}: TLS with the generated test CA`, async () => {
    await using stack = new AsyncDisposableStack();
    const peers: (HeadscaleServer | TailscaledNode)[] = [];
    try {
      const hs = stack.use(await startHeadscale({ version, tls: true }));
      peers.push(hs);
      assert.match(hs.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(hs.caCertPath);

      const response = await hs.fetch("/key?v=113");
      assert.equal(response.status, 200);
      assert.match((await response.json()).publicKey, /^mkey:[0-9a-f]{64}$/);
      await assert.rejects(fetch(`${hs.url}/key?v=113`), "the test CA is not trusted by default");
      const curl = await runCommand("curl", ["-sS", "--cacert", hs.caCertPath, `${hs.url}/health`]);
      assert.match(curl.stdout, /pass/);

      // A real client trusts it too (control over HTTPS, DERP over HTTPS).
      const user = await hs.createUser("carol");
      const key = await hs.createPreAuthKey(user);
      const [c1, c2] = await startBoth(stack, [
        startTailscaled({ headscale: hs, authKey: key, hostname: "c1" }),
        startTailscaled({
          headscale: hs,
          authKey: await hs.createPreAuthKey(user),
          hostname: "c2",
        }),
      ]);
      peers.push(c1, c2);
      await c1.waitForPeer("c2");
      assert.equal(
        (await c1.ping(await c2.ip(), { timeoutSeconds: 30 })).nodeName.split(".")[0],
        "c2",
      );
    } catch (error) {
      throw withLogs(error, peers);
    }
  });
}
