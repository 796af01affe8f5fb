/**
 * `citadel ping` through real peers: two `citadel work` nodes (A, B) and a
 * real tailscaled of one user on Headscale's embedded DERP. A pings B
 * (our WireGuard on both ends) and the tailscaled (our WireGuard initiating
 * to the real client); an unknown host is PEER_NOT_FOUND; with B stopped the
 * pings time out and the exit code is FAILURE.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../cli/exit_codes.ts";
import { assertCliError, createCitadel, describeResult } from "./citadel_cli.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { startTailscaled } from "./tailscaled.ts";

const REPLY = /^reply from (\S+) \((\S+)\) via DERP in ([\d.]+) ms$/;

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name: `citadel ping reaches citadel and tailscaled peers over DERP, Headscale ${version}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("pingers");
      await using a = await createCitadel({ nexus: hs.url, label: "ping-a" });
      await using b = await createCitadel({ nexus: hs.url, label: "ping-b" });
      const key = a.secret(await hs.createPreAuthKey(user, { reusable: true }));
      b.secret(key);
      await a.ok(["init", "--node-name", "citadel-a"], { env: { CITADEL_AUTHKEY: key } });
      const ipB = await b.join("citadel-b", key);

      // Without a running work there is nothing to send the pings.
      assertCliError(
        await a.run(["ping", "citadel-b", "-c", "1"]),
        ExitCode.WORK_NOT_RUNNING,
        /citadel ping needs `citadel work` running on this state directory/,
      );

      // DERP only, as the name says; direct paths are cli_work_ping_test.ts's.
      const workA = a.startWork(["--no-direct"]);
      const workB = b.startWork(["--no-direct"]);
      try {
        await workA.waitOnline();
        await workB.waitOnline();
        await using ts = await startTailscaled({
          headscale: hs,
          authKey: key,
          hostname: "ts-peer",
        });
        await ts.waitForPeer("citadel-a");

        const toB = await a.run(["ping", "citadel-b", "-c", "3"]);
        assert.equal(toB.code, ExitCode.OK, describeResult(toB));
        const lines = toB.stdout.trimEnd().split("\n");
        const replies = lines.filter((l) => REPLY.test(l));
        assert.ok(replies.length >= 1, describeResult(toB));
        for (const line of replies) assert.equal(line.match(REPLY)![2], ipB);
        assert.match(lines.at(-1)!, /^3 sent, \d received, \d+% loss, avg [\d.]+ ms$/);
        console.log(`  Headscale ${version}: citadel-a → citadel-b\n    ${lines.join("\n    ")}`);

        const toTs = await a.run(["ping", "ts-peer", "-c", "3", "--timeout", "10s"]);
        assert.equal(toTs.code, ExitCode.OK, describeResult(toTs));
        const tsLines = toTs.stdout.trimEnd().split("\n");
        assert.ok(tsLines.some((l) => REPLY.test(l) && l.startsWith("reply from ts-peer")));
        console.log(
          `  Headscale ${version}: citadel-a → tailscaled\n    ${tsLines.join("\n    ")}`,
        );

        assertCliError(
          await a.run(["ping", "no-such-host", "-c", "1"]),
          ExitCode.PEER_NOT_FOUND,
          /no peer named or addressed "no-such-host"/,
        );

        assert.equal(await workB.stop(), 0, workB.logTail());
        const dead = await a.run(["ping", ipB, "-c", "1", "--timeout", "2s"]);
        assert.equal(dead.code, ExitCode.FAILURE, describeResult(dead));
        assert.match(
          dead.stdout,
          new RegExp(`^no reply from ${ipB.replaceAll(".", "\\.")} within 2s$`, "m"),
        );
        assert.match(dead.stdout, /1 sent, 0 received, 100% loss/);
      } finally {
        if (workB.running) await workB.stop();
        assert.equal(await workA.stop(), 0, workA.logTail());
      }
    },
  });
}
