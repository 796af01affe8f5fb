/**
 * Pinged from the first moment (issue 6's first point). The bug: a tailscaled that joined and
 * pinged within seconds of `citadel work` coming online got no pong for 30 s and more, though
 * `tailscale status` showed the citadel node "active; relay". The cause: a second session with
 * the node's key (a `citadel status` run while work was starting, before its local API
 * answered) sent its own disco key to Nexus, which keeps one per node; peers then sealed their
 * disco pings to a key no running process held. Two fixes, each shown here against real
 * Headscale and tailscaled:
 * 1. no command connects beside a work that holds the state directory (status waits for it);
 * 2. work notices a foreign disco key on its own node in the netmap and restores its own.
 */
import assert from "node:assert/strict";
import { CitadelNode } from "../../network/node.ts";
import { FileStateStore } from "../../state/file_store.ts";
import { MemoryStateStore } from "../../state/memory_store.ts";
import { serializeNodeState } from "../../state/node_state.ts";
import { createCitadel } from "./citadel_cli.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { startTailscaled } from "./tailscaled.ts";

/** How long after tailscaled is up the first pong may take. */
const FIRST_PONG_BUDGET_S = 10;

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name:
      `work is pinged from the first moment while status runs during its start-up, Headscale ${version}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("early");
      await using citadel = await createCitadel({ nexus: hs.url, label: "first-moment" });
      const key = citadel.secret(await hs.createPreAuthKey(user, { reusable: true }));
      const ip = await citadel.join("early", key);
      const work = citadel.startWork(["--no-direct"]);
      try {
        // A user checks on it at once, and a peer joins at the same time.
        const joining = startTailscaled({ headscale: hs, authKey: key, hostname: "eager" });
        const codes: number[] = [];
        for (;;) {
          const status = await citadel.run(["status", "--json"]);
          codes.push(status.code);
          if (status.code === 0 && JSON.parse(status.stdout).connected) break;
          assert.equal(status.code, 10, `status never connects beside work: ${status.stderr}`);
        }
        await using ts = await joining;
        const pong = await ts.ping(ip, { timeoutSeconds: FIRST_PONG_BUDGET_S });
        assert.equal(pong.nodeIp, ip);
        console.log(
          `  Headscale ${version}: status exit codes ${codes.join(",")}; ` +
            `first pong in ${pong.latencyMs} ms via ${pong.via}`,
        );
      } finally {
        assert.equal(await work.stop(), 0, work.logTail());
      }
    },
  });

  Deno.test({
    name: `work restores its disco key after another session with its key, Headscale ${version}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("stray");
      await using citadel = await createCitadel({ nexus: hs.url, label: "stray" });
      const key = citadel.secret(await hs.createPreAuthKey(user, { reusable: true }));
      const ip = await citadel.join("owner", key);
      const work = citadel.startWork(["--no-direct"]);
      try {
        await work.waitOnline();
        // A copy of the state elsewhere connects briefly: Nexus now holds its disco key.
        const saved = await (await FileStateStore.open({ dir: citadel.stateDir })).load();
        const stray = new CitadelNode({
          controlURL: hs.url,
          store: new MemoryStateStore({ text: serializeNodeState(saved!) }),
          allowInteractive: false,
        });
        await stray.start();
        await stray.close();
        await work.waitForLog(/restoring it/, 15_000);
        await using ts = await startTailscaled({ headscale: hs, authKey: key, hostname: "peer" });
        const pong = await ts.ping(ip, { timeoutSeconds: FIRST_PONG_BUDGET_S });
        assert.equal(pong.nodeIp, ip);
      } finally {
        assert.equal(await work.stop(), 0, work.logTail());
      }
    },
  });
}
