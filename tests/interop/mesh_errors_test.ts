/**
 * Bad input to `citadel nc` gets a clear answer, against a real tailscaled
 * on a real Headscale whose policy lets the citadel node reach two ports of
 * the tailscaled and nothing else of it: a peer that does not exist (exit
 * 13), a port with nothing behind it (tailscaled's forward refuses: 18), a
 * peer that is in the netmap but gone (its tailscaled stopped: no answer
 * within --timeout, 19), and a port the ACL forbids (tailscaled drops the SYN
 * and says so with a TSMP rejection: 20, at once rather than after the
 * timeout). Each case as the node itself (no work) and through a running
 * work's local API; a working connection in both as the baseline. Last, the
 * outsider vanishes in the middle of a download through work (its tailscaled
 * killed, its node deleted at Headscale): nc ends with an error, and work's
 * stack and local API hold nothing of it afterwards.
 */
import assert from "node:assert/strict";
import { assertCliError, type CitadelCli, createCitadel, pollUntil } from "./citadel_cli.ts";
import { queryLocalStatus } from "../../localapi/client.ts";
import { localApiSocketPath } from "../../localapi/protocol.ts";
import { describeResult } from "./citadel_cli.ts";
import { freeTcpPort } from "./free_port.ts";
import { type HeadscalePolicy, type HeadscaleServer, startHeadscale } from "./headscale.ts";
import { MiB, startTcpService } from "./mesh_services.ts";
import { readPeerPins } from "./peers.ts";
import { startTailscaled, type TailscaledNode } from "./tailscaled.ts";

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
      const source = startTcpService({ kind: "source", bytes: 4096 * MiB });
      const ports = { open: open.port, closed: freeTcpPort(), forbidden: walled.port };
      const policy: HeadscalePolicy = {
        acls: [{
          action: "accept",
          src: ["citadel@"],
          dst: [
            `outsider@:${ports.open}`,
            `outsider@:${ports.closed}`,
            `outsider@:${source.port}`,
            "ghost@:*",
          ],
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
          await vanishMidDownload(citadel, hs, outsider, source.port);
        } finally {
          assert.equal(await work.stop(), 0, work.logTail());
        }
      } finally {
        await open.close();
        await walled.close();
        await source.close();
      }
    },
  });
}

/** The outsider vanishes while `citadel nc` (through work) downloads from it. */
async function vanishMidDownload(
  citadel: CitadelCli,
  hs: HeadscaleServer,
  outsider: TailscaledNode,
  port: number,
): Promise<void> {
  const nc = citadel.spawn(["nc", "outsider", String(port)]);
  await nc.stdin.close();
  const stderr = new Response(nc.stderr).text();
  const reader = nc.stdout.getReader();
  let received = 0;
  while (received < 4 * MiB) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`nc ended early: ${await stderr}`);
    received += value.length;
  }
  await outsider.stopDaemon();
  const node = (await hs.listNodes()).find((n) => n.name === "outsider")!;
  await hs.deleteNode(node.id);
  void (async () => {
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return;
  })();
  const status = await nc.status;
  const message = await stderr;
  assert.equal(status.code, 1, message);
  assert.match(message, /the peer left the netmap/);
  const socket = localApiSocketPath(citadel.stateDir);
  await pollUntil("work holds nothing of the vanished peer's connection", async () => {
    const body = await queryLocalStatus(socket);
    const sockets = body?.dataPlane?.sockets;
    return sockets && body?.localApi && sockets.tcpConnections - sockets.timeWait === 0 &&
      sockets.bufferedBytes === 0 && body.localApi.takeovers === 0;
  }, { timeoutMs: 10_000 });
}
