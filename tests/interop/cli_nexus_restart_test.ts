/**
 * `citadel work` across a Headscale restart, through `bin/citadel` against every pinned
 * Headscale: the time from Headscale answering again until Headscale shows the node online and
 * `citadel status --json` says connected is measured and bounded; then Headscale goes away for
 * a while, `status` fails fast with the unreachable error instead of hanging, and a `work`
 * started meanwhile waits, logging its retries, and comes online when Headscale returns.
 */

import assert from "node:assert/strict";
import { ExitCode } from "../../cli/exit_codes.ts";
import { assertCliError, createCitadel, describeResult, pollUntil } from "./citadel_cli.ts";
import { type HeadscaleServer, startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { readLogTail } from "./process.ts";

/** Most time a node may take to be back after Nexus answers again. */
const RECONNECT_BUDGET_MS = 10_000;
/** Most time `status` may take to report an unreachable Nexus. */
const UNREACHABLE_BUDGET_MS = 5_000;

function withLog(error: unknown, hs: HeadscaleServer): unknown {
  if (error instanceof Error) {
    error.message += `\n--- headscale ${hs.version} (${hs.logPath}) ---\n${
      readLogTail(hs.logPath, 25)
    }`;
  }
  return error;
}

async function online(hs: HeadscaleServer, name: string): Promise<boolean> {
  return (await hs.listNodes()).some((node) => node.name === name && node.online);
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test(`citadel work across a Headscale restart, Headscale ${version}`, async () => {
    const hs = await startHeadscale({ version });
    await using citadel = await createCitadel({ nexus: hs.url, label: "nexus-restart" });
    try {
      const user = await hs.createUser("restart");
      const key = citadel.secret(await hs.createPreAuthKey(user));
      await citadel.ok(["init", "--node-name", "hs-restart"], { env: { CITADEL_AUTHKEY: key } });
      const work = citadel.startWork();
      await work.waitOnline();
      await pollUntil("the node online", () => online(hs, "hs-restart"));

      await hs.restart();
      const answered = performance.now();
      const { elapsedMs } = await pollUntil(
        "Headscale to show the node online and status to say connected",
        async () => {
          const [isOnline, status] = await Promise.all([
            online(hs, "hs-restart"),
            citadel.status(),
          ]);
          return isOnline && status.result.code === 0 && status.json.connected;
        },
        { timeoutMs: 30_000, intervalMs: 200, process: work.process },
      );
      const reconnected = work.log().match(/^(\S+) reconnected to Nexus$/m);
      const fromLog = reconnected
        ? `; work logged "reconnected" ${
          Math.round(Date.parse(reconnected[1]) - (performance.timeOrigin + answered))
        } ms after`
        : "";
      console.log(
        `  Headscale ${version}: back online ${elapsedMs} ms after Headscale answered` + fromLog,
      );
      assert.ok(
        elapsedMs <= RECONNECT_BUDGET_MS,
        `reconnect took ${elapsedMs} ms (budget ${RECONNECT_BUDGET_MS} ms)\n${work.logTail()}`,
      );

      // Nexus down: the running worker notices, and says so through the local API.
      await hs.pause();
      await pollUntil("work to report connected:false", async () => {
        const { json, result } = await citadel.status();
        return result.code === 0 && json.connected === false;
      }, { timeoutMs: 20_000, process: work.process });
      assert.equal(await work.stop(), 0, work.logTail());

      // Without a worker, status and work fail fast with the unreachable error.
      const status = await citadel.run(["status"]);
      assertCliError(status, ExitCode.NEXUS_UNREACHABLE, /refused|unreachable|connect/i, {
        hint: /network connection/,
      });
      assert.ok(status.durationMs <= UNREACHABLE_BUDGET_MS, describeResult(status));
      const statusJson = await citadel.status();
      assert.equal(statusJson.result.code, ExitCode.NEXUS_UNREACHABLE);
      assert.equal(statusJson.json.connected, false);
      assert.equal(statusJson.json.nodeName, "hs-restart");
      // work, though, is a service: it waits for Nexus, saying so, and comes online once
      // Nexus is back.
      const waiting = citadel.startWork();
      await pollUntil(
        "work to log that Nexus is unreachable",
        () => Promise.resolve(/warning: Nexus is unreachable .*; retrying in/.test(waiting.log())),
        { timeoutMs: 20_000, process: waiting.process },
      );
      assert.ok(waiting.process.running, "work keeps running while Nexus is down");
      await hs.start();
      const back = Date.now();
      await waiting.waitOnline(40_000);
      console.log(
        `  Headscale ${version}: status failed in ${status.durationMs} ms; ` +
          `work waiting for Nexus came online ${Date.now() - back} ms after it returned`,
      );
      assert.equal(await waiting.stop(), 0, waiting.logTail());
    } catch (error) {
      throw withLog(error, hs);
    } finally {
      await hs.stop();
    }
  });
}
