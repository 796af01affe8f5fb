/**
 * Bad input to `citadel nc` gets a clear answer, against a real tailscaled
 * on a real Headscale whose policy lets the citadel node reach two ports of
 * the tailscaled and nothing else of it: a peer that does not exist (exit
 * 13), a port with nothing behind it (tailscaled's forward refuses: 18), a
 * peer that is in the netmap but gone (its tailscaled stopped: no answer
 * within --timeout, 19), and a port the ACL forbids (tailscaled drops the SYN
 * and says so with a TSMP rejection: 20, at once rather than after the
 * timeout). Each case as the node itself (no work) and through a running
 * work's local API; a working connection in both as the baseline.
 */
import assert from "node:assert/strict";
import { assertCliError, type CitadelCli, createCitadel, pollUntil } from "./citadel_cli.ts";
import { describeResult } from "./citadel_cli.ts";
import { freeTcpPort } from "./free_port.ts";
import { type HeadscalePolicy, startHeadscale } from "./headscale.ts";
import { startTcpService } from "./mesh_services.ts";
import { readPeerPins } from "./peers.ts";
import { startTailscaled } from "./tailscaled.ts";

/** The exit codes of cli/exit_codes.ts these cases expect. */
const EXIT = { OK: 0, PEER_NOT_FOUND: 13, REFUSED: 18, UNREACHABLE: 19, FORBIDDEN: 20 };

async function checkCases(
  citadel: CitadelCli,
  ports: { open: number; closed: number; forbidden: number },
  mode: string,
) {
  const ok = await citadel.run(["nc", "outsider", String(ports.open)]);
  assert.equal(ok.code, EXIT.OK, `${mode}: ${describeResult(ok)}`);
  assert.equal(ok.stdout, "hello\n", `${mode}: the service's answer`);

  const nobody = await citadel.run(["nc", "nobody", "80"]);
  assertCliError(nobody, EXIT.PEER_NOT_FOUND, /no peer named or addressed "nobody"/);

  const refused = await citadel.run(["nc", "outsider", String(ports.closed)]);
  assertCliError(refused, EXIT.REFUSED, /connection to .* refused/, { hint: /Nothing listens/ });

  const ghost = await citadel.run(["nc", "ghost", "80", "--timeout", "3s"]);
  assertCliError(ghost, EXIT.UNREACHABLE, /timed out \(no answer within 3000 ms\)/, {
    hint: /offline/,
  });

  const forbidden = await citadel.run([
    "nc",
    "outsider",
    String(ports.forbidden),
    "--timeout",
    "20s",
  ]);
  assertCliError(forbidden, EXIT.FORBIDDEN, /forbidden by the peer's ACL/, {
    hint: /access rules/,
  });
  // A fresh node's first connection may wait one WireGuard handshake retry (5 s) while the
  // peer learns its new disco key; still far from the 20 s the timeout would take.
  assert.ok(
    forbidden.durationMs < 15_000,
    `${mode}: told by the peer, not by the 20 s timeout (${forbidden.durationMs} ms)`,
  );
  console.log(
    `  ${mode}: ok ${ok.durationMs} ms, unknown ${nobody.durationMs} ms, refused ` +
      `${refused.durationMs} ms, unreachable ${ghost.durationMs} ms, forbidden ` +
      `${forbidden.durationMs} ms`,
  );
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name: `citadel nc: unknown peer 13, refused 18, unreachable 19, ACL-forbidden 20, ` +
      `alone and through work, Headscale ${version}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const open = startTcpService({ kind: "hello" });
      const walled = startTcpService({ kind: "hello" });
      const ports = { open: open.port, closed: freeTcpPort(), forbidden: walled.port };
      const policy: HeadscalePolicy = {
        acls: [{
          action: "accept",
          src: ["citadel@"],
          dst: [`outsider@:${ports.open}`, `outsider@:${ports.closed}`, "ghost@:*"],
        }],
      };
      try {
        await using hs = await startHeadscale({ version, policy, policyInDatabase: true });
        const citadelUser = await hs.createUser("citadel");
        const outsiderUser = await hs.createUser("outsider");
        const ghostUser = await hs.createUser("ghost");
        await hs.setPolicy(policy);
        await using citadel = await createCitadel({ nexus: hs.url, label: "mesh-errors" });
        const key = citadel.secret(await hs.createPreAuthKey(citadelUser));
        await citadel.ok(["init", "--node-name", "citadel-errors"], {
          env: { CITADEL_AUTHKEY: key },
        });
        await using outsider = await startTailscaled({
          headscale: hs,
          authKey: await hs.createPreAuthKey(outsiderUser),
          hostname: "outsider",
        });
        await using ghost = await startTailscaled({
          headscale: hs,
          authKey: await hs.createPreAuthKey(ghostUser),
          hostname: "ghost",
        });
        await outsider.waitForPeer("citadel-errors");
        await ghost.waitForPeer("citadel-errors");
        // The ghost leaves without a word: still in the netmap, nothing answers for it.
        await ghost.stopDaemon();
        await pollUntil("the ghost and the outsider in citadel's netmap", async () => {
          const { json } = await citadel.status();
          const names = json.peers.map((p) => p.hostname);
          return names.includes("ghost") && names.includes("outsider");
        }, { timeoutMs: 30_000 });

        await checkCases(citadel, ports, `Headscale ${version}, alone`);

        const work = citadel.startWork();
        try {
          await work.waitOnline();
          await checkCases(citadel, ports, `Headscale ${version}, through work`);
        } finally {
          assert.equal(await work.stop(), 0, work.logTail());
        }
      } finally {
        await open.close();
        await walled.close();
      }
    },
  });
}
