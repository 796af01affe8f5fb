/**
 * The ACL on every packet, against a real Tailscale client (issue 6, point 4). Headscale's policy
 * lets the citadel node's user reach the tailscaled's user on TCP 22, and nothing the other way:
 * tailscaled still sees the citadel node (Headscale shows peers that can reach either way), but
 * what it sends through WireGuard must be dropped by `citadel work`'s packet filter before
 * anything local answers. Disco (outside WireGuard) and TSMP (which the filter admits, as
 * tailscaled's does) still get answers. `citadel status --json` counts the drops by reason.
 */
import assert from "node:assert/strict";
import { createCitadel, pollUntil } from "./citadel_cli.ts";
import { type HeadscalePolicy, startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { startTailscaled } from "./tailscaled.ts";

const ONE_WAY: HeadscalePolicy = {
  acls: [{ action: "accept", src: ["citadel@"], dst: ["outsider@:22"] }],
};

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name:
      `citadel work drops what the ACL does not admit from a real tailscaled, Headscale ${version}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version, policy: ONE_WAY });
      const citadelUser = await hs.createUser("citadel");
      const outsiderUser = await hs.createUser("outsider");
      await using citadel = await createCitadel({ nexus: hs.url, label: "acl" });
      const key = citadel.secret(await hs.createPreAuthKey(citadelUser));
      const ip = await citadel.join("guarded", key);
      const work = citadel.startWork();
      try {
        await work.waitOnline();
        const outsiderKey = await hs.createPreAuthKey(outsiderUser);
        await using ts = await startTailscaled({
          headscale: hs,
          authKey: outsiderKey,
          hostname: "outsider",
        });
        await ts.waitForPeer("guarded");

        // Disco is magicsock's, outside WireGuard and the filter: answered.
        const disco = await ts.ping(ip, { timeoutSeconds: 20 });
        assert.equal(disco.nodeIp, ip);
        // TSMP is admitted by the filter (data-plane reference §6.4): answered.
        const tsmp = await ts.ping(ip, { type: "tsmp", timeoutSeconds: 20 });
        assert.equal(tsmp.nodeIp, ip);
        // ICMP from a source no rule admits: dropped before the echo responder.
        await assert.rejects(ts.ping(ip, { type: "icmp", timeoutSeconds: 5 }));

        const dropped = await pollUntil("status to count the ACL drops", async () => {
          const { json } = await citadel.status();
          const counts = (json as { dataPlane?: { dropped: Record<string, number> } }).dataPlane
            ?.dropped;
          return counts?.["acl:no-rule-matched"] ? counts : undefined;
        }, { timeoutMs: 10_000 });
        assert.ok(dropped.value["acl:no-rule-matched"] >= 1);
        console.log(`  Headscale ${version}: dropped ${JSON.stringify(dropped.value)}`);
      } finally {
        assert.equal(await work.stop(), 0, work.logTail());
      }
    },
  });
}

/** Policies of the live-change test: who may reach the citadel node ("guarded"). */
const ADMIT_FRIEND: HeadscalePolicy = {
  acls: [
    { action: "accept", src: ["friend@"], dst: ["citadel@:*"] },
    { action: "accept", src: ["citadel@"], dst: ["friend@:*", "stranger@:22"] },
  ],
};
const ADMIT_STRANGER: HeadscalePolicy = {
  acls: [
    { action: "accept", src: ["stranger@"], dst: ["citadel@:*"] },
    { action: "accept", src: ["citadel@"], dst: ["friend@:22", "stranger@:*"] },
  ],
};

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name:
      `headscale policy set changes who reaches citadel work, without a restart, Headscale ${version}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({
        version,
        policy: ADMIT_FRIEND,
        policyInDatabase: true,
      });
      const citadelUser = await hs.createUser("citadel");
      const friendUser = await hs.createUser("friend");
      const strangerUser = await hs.createUser("stranger");
      // Users must exist before a policy naming them is accepted by every version.
      await hs.setPolicy(ADMIT_FRIEND);
      await using citadel = await createCitadel({ nexus: hs.url, label: "acl-live" });
      const key = citadel.secret(await hs.createPreAuthKey(citadelUser));
      const ip = await citadel.join("guarded", key);
      const work = citadel.startWork();
      try {
        await work.waitOnline();
        await using friend = await startTailscaled({
          headscale: hs,
          authKey: await hs.createPreAuthKey(friendUser),
          hostname: "friend",
        });
        await using stranger = await startTailscaled({
          headscale: hs,
          authKey: await hs.createPreAuthKey(strangerUser),
          hostname: "stranger",
        });
        await friend.waitForPeer("guarded");
        await stranger.waitForPeer("guarded");
        const drops = async () => {
          const { json } = await citadel.status();
          return (json as { dataPlane?: { dropped: Record<string, number> } }).dataPlane
            ?.dropped["acl:no-rule-matched"] ?? 0;
        };

        const allowed = await friend.ping(ip, { type: "icmp", timeoutSeconds: 20 });
        assert.equal(allowed.nodeIp, ip);
        const before = await drops();
        await assert.rejects(stranger.ping(ip, { type: "icmp", timeoutSeconds: 4 }));
        assert.ok((await drops()) > before, "the stranger's ICMP was dropped and counted");

        // The admin swaps the roles; work takes the new filter from its map stream.
        await hs.setPolicy(ADMIT_STRANGER);
        const turned = await stranger.ping(ip, { type: "icmp", timeoutSeconds: 30 });
        assert.equal(turned.nodeIp, ip);
        const afterSwap = await drops();
        await assert.rejects(friend.ping(ip, { type: "icmp", timeoutSeconds: 4 }));
        assert.ok((await drops()) > afterSwap, "the friend's ICMP is now dropped and counted");
      } finally {
        assert.equal(await work.stop(), 0, work.logTail());
      }
    },
  });
}
