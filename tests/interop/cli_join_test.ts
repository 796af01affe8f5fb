/**
 * "Join the mesh" end to end through `bin/citadel`, against every pinned Headscale and real
 * tailscaled: `init` with a pre-auth key, `status`, `work` online through the local API, a
 * restart after the single-use key is spent (same node, no re-registration), peers both ways
 * under a policy that hides other users, the interactive `login`, and `logout`.
 *
 * One Headscale per version is shared by the steps; each step has its own user, and the policy
 * keeps users from seeing each other's nodes.
 */

import assert from "node:assert/strict";
import { ExitCode } from "../../cli/exit_codes.ts";
import {
  assertCliError,
  type CitadelCli,
  type CitadelStatusJson,
  createCitadel,
  describeResult,
  pollUntil,
} from "./citadel_cli.ts";
import {
  authIdFromUrl,
  type HeadscaleNode,
  type HeadscaleServer,
  OWN_NODES_ONLY_POLICY,
  startHeadscale,
} from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { readLogTail } from "./process.ts";
import { startTailscaled, type TailscaledNode } from "./tailscaled.ts";

const IPV4 = /\b(100\.\d{1,3}\.\d{1,3}\.\d{1,3})\b/;

function withLog(error: unknown, hs: HeadscaleServer): unknown {
  if (error instanceof Error) {
    error.message += `\n--- headscale ${hs.version} (${hs.logPath}) ---\n${
      readLogTail(hs.logPath, 25)
    }`;
  }
  return error;
}

async function nodeNamed(hs: HeadscaleServer, name: string): Promise<HeadscaleNode | undefined> {
  return (await hs.listNodes()).find((node) => node.name === name);
}

/**
 * Whether Headscale lists an expiry. 0.28 prints Go's zero time (year 1) for "no expiry", 0.29
 * prints nothing; a logout asks for an expiry of 123 s after the epoch, which 0.28 stores as is.
 */
function hasExpiry(node: HeadscaleNode): boolean {
  return node.expiry !== undefined && node.expiry.getTime() > 0;
}

async function waitNodeOnline(hs: HeadscaleServer, name: string, online = true) {
  return await pollUntil(`Headscale to show ${name} ${online ? "online" : "offline"}`, async () => {
    const node = await nodeNamed(hs, name);
    return node?.online === online ? node : undefined;
  }, { timeoutMs: 30_000 });
}

async function workStatus(citadel: CitadelCli): Promise<CitadelStatusJson> {
  const { json, result } = await citadel.status();
  assert.equal(result.code, 0, describeResult(result));
  return json;
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test(`citadel CLI joins the mesh, Headscale ${version}`, async (t) => {
    const hs = await startHeadscale({ version, policy: OWN_NODES_ONLY_POLICY });
    const step = (name: string, fn: () => Promise<void>) =>
      t.step(name, async () => {
        try {
          await fn();
        } catch (error) {
          throw withLog(error, hs);
        }
      });
    try {
      await step("init --authkey, status from saved state, then work online", async () => {
        const user = await hs.createUser("join");
        await using citadel = await createCitadel({ nexus: hs.url, label: "join" });
        const key = citadel.secret(await hs.createPreAuthKey(user));

        const init = await citadel.ok(["init", "--authkey", key, "--node-name", "join-1"]);
        console.log(`  Headscale ${version}: citadel init took ${init.durationMs} ms`);
        assert.match(init.stdout, /Node:\s+join-1\b/, describeResult(init));
        const ip = init.stdout.match(/IPv4:\s+(\S+)/)?.[1];
        assert.ok(ip && IPV4.test(ip), `init prints an IPv4\n${describeResult(init)}`);

        const node = await nodeNamed(hs, "join-1");
        assert.ok(node, "headscale nodes list has join-1");
        assert.equal(node.user.name, "join");
        assert.ok(node.ipAddresses.includes(ip), `Headscale has ${ip}: ${node.ipAddresses}`);

        // No work running: status connects briefly from the saved state.
        const offline = await workStatus(citadel);
        assert.equal(offline.nodeIP, ip);
        assert.equal(offline.nodeName, "join-1");
        assert.equal(offline.nexus, hs.url);
        assert.equal(offline.connected, true);

        const work = citadel.startWork();
        await work.waitOnline();
        await waitNodeOnline(hs, "join-1");
        assert.ok(
          Deno.statSync(`${citadel.stateDir}/citadel.sock`).isSocket,
          "work serves the local API socket",
        );
        const live = await workStatus(citadel);
        assert.equal(live.connected, true);
        assert.equal(live.nodeIP, ip);
        const human = await citadel.ok(["status"]);
        assert.match(human.stdout, /Source:\s+citadel work \(running\)/, describeResult(human));
        assert.match(human.stdout, /Connected:\s+yes/);

        assert.equal(await work.stop(), 0, work.logTail());
        assert.ok(!/\bat \S+:\d+:\d+/.test(work.log()), `no stack trace in work's log`);
      });

      await step("work restarts on the saved identity once the key is spent", async () => {
        const user = await hs.createUser("restart");
        await using citadel = await createCitadel({ nexus: hs.url, label: "restart" });
        const key = citadel.secret(await hs.createPreAuthKey(user));
        const env = { CITADEL_AUTHKEY: key };

        // First run: work itself joins with the single-use key.
        const first = citadel.startWork(["--node-name", "restart-1"], { env });
        await first.waitOnline();
        const before = (await waitNodeOnline(hs, "restart-1")).value;
        assert.equal(await first.stop(), 0, first.logTail());
        await waitNodeOnline(hs, "restart-1", false);

        // The spent key is still set: it must not be used (it would be refused).
        const second = citadel.startWork(["--node-name", "restart-1"], { env });
        await second.waitOnline();
        assert.match(second.log(), /resuming the saved identity/);
        const again = (await waitNodeOnline(hs, "restart-1")).value;
        assert.equal(await second.stop(), 0, second.logTail());

        // And without any key (Headscale keeps showing the node online for a grace period after
        // a disconnect, so this one only checks the identity, not the offline-online flip).
        const third = citadel.startWork();
        await third.waitOnline();
        const third3 = (await waitNodeOnline(hs, "restart-1")).value;
        const live = await workStatus(citadel);
        assert.equal(await third.stop(), 0, third.logTail());

        for (const after of [again, third3]) {
          assert.equal(after.id, before.id, "same Headscale node");
          assert.equal(after.nodeKey, before.nodeKey, "same node key");
          assert.equal(after.machineKey, before.machineKey, "same machine key");
          assert.deepEqual(after.ipAddresses, before.ipAddresses, "same addresses");
        }
        assert.equal(live.connected, true);
        assert.ok(before.ipAddresses.includes(live.nodeIP!), `status IP ${live.nodeIP}`);
        const mine = (await hs.listNodes()).filter((node) => node.user.name === "restart");
        assert.deepEqual(mine.map((node) => node.name), ["restart-1"], "exactly one node");
      });

      await step("peers: same user both ways, another user never", async () => {
        const [alice, bob] = await Promise.all([
          hs.createUser("peers-a"),
          hs.createUser("peers-b"),
        ]);
        await using stack = new AsyncDisposableStack();
        const citadel = stack.use(await createCitadel({ nexus: hs.url, label: "peers" }));
        const citadelKey = citadel.secret(await hs.createPreAuthKey(alice));
        const [aliceKey, bobKey] = await Promise.all([
          hs.createPreAuthKey(alice),
          hs.createPreAuthKey(bob),
        ]);
        const started = await Promise.allSettled([
          startTailscaled({ headscale: hs, authKey: aliceKey, hostname: "peers-ts-a" }),
          startTailscaled({ headscale: hs, authKey: bobKey, hostname: "peers-ts-b" }),
        ]);
        for (const s of started) if (s.status === "fulfilled") stack.use(s.value);
        for (const s of started) if (s.status === "rejected") throw s.reason;
        const [tsA, tsB] = started.map((s) => (s as PromiseFulfilledResult<TailscaledNode>).value);
        const [ipA, ipB] = await Promise.all([tsA.ip(), tsB.ip()]);

        await citadel.ok(["init", "--node-name", "peers-cit"], {
          env: { CITADEL_AUTHKEY: citadelKey },
        });
        const work = citadel.startWork();
        await work.waitOnline();

        const leaks: string[] = [];
        const { value: seen } = await pollUntil("citadel to list peers-ts-a online", async () => {
          const status = await workStatus(citadel);
          for (const peer of status.peers) {
            if (peer.hostname === "peers-ts-b" || peer.ip === ipB) leaks.push(JSON.stringify(peer));
          }
          const found = status.peers.find((p) => p.hostname === "peers-ts-a" && p.online);
          return leaks.length > 0 || found ? status : undefined;
        }, { timeoutMs: 30_000, process: work.process });
        assert.deepEqual(leaks, [], "another user's node is never listed");
        assert.deepEqual(seen.peers.map((peer) => peer.hostname), ["peers-ts-a"]);
        const peer = seen.peers[0];
        assert.equal(peer.ip, ipA);
        assert.equal(peer.online, true);
        assert.equal(peer.os, "linux");

        // The reverse: the same-user tailscaled lists the citadel node; the other does not.
        const reverse = await tsA.waitForPeer("peers-cit");
        assert.ok(reverse.TailscaleIPs?.includes(seen.nodeIP!), `${reverse.TailscaleIPs}`);
        assert.deepEqual((await tsB.peers()).map((p) => p.HostName), []);

        // Still invisible once everything has settled.
        const later = await workStatus(citadel);
        assert.deepEqual(later.peers.map((p) => p.hostname), ["peers-ts-a"]);
        assert.equal(await work.stop(), 0, work.logTail());
      });

      await step("interactive login: link on stderr, approved with the Headscale CLI", async () => {
        await hs.createUser("login");
        await using citadel = await createCitadel({ nexus: hs.url, label: "login" });
        const login = citadel.start(["login", "--node-name", "login-1", "--timeout", "60s"]);
        const [url] = await login.waitForStderr(/https?:\/\/127\.0\.0\.1:\d+\/register\/\S+/);
        assert.equal(login.stdout, "", "nothing on stdout before the approval");
        const approved = await hs.registerAuthId(authIdFromUrl(url), "login");
        assert.equal(approved.name, "login-1");
        const result = await login.result(30_000);
        assert.equal(result.code, 0, describeResult(result));
        assert.match(result.stdout, /Node:\s+login-1\b/);
        const ip = result.stdout.match(/IPv4:\s+(\S+)/)?.[1];
        const node = await nodeNamed(hs, "login-1");
        assert.ok(node && ip && node.ipAddresses.includes(ip), `${ip} vs ${node?.ipAddresses}`);
        assert.equal(node.user.name, "login");

        const work = citadel.startWork();
        await work.waitOnline();
        await waitNodeOnline(hs, "login-1");
        assert.equal((await workStatus(citadel)).connected, true);
        assert.equal(await work.stop(), 0, work.logTail());
      });

      await step("logout --force expires the node and deletes the state", async () => {
        const user = await hs.createUser("logout");
        await using citadel = await createCitadel({ nexus: hs.url, label: "logout" });
        const key = citadel.secret(await hs.createPreAuthKey(user));
        await citadel.ok(["init", "--authkey", key, "--node-name", "logout-1"]);
        const before = await nodeNamed(hs, "logout-1");
        assert.ok(before && !hasExpiry(before), `not expired yet: ${before?.expiry}`);

        const out = await citadel.ok(["logout", "--force"]);
        assert.match(out.stdout, /Logged out/);
        const after = await nodeNamed(hs, "logout-1");
        assert.ok(
          after === undefined ||
            (hasExpiry(after) && after.expiry!.getTime() <= Date.now() + 1_000),
          `Headscale shows the node expired or gone: ${after?.expiry}`,
        );
        await assert.rejects(Deno.stat(citadel.stateDir), Deno.errors.NotFound);

        const { json, result } = await citadel.status();
        assert.equal(json.connected, false);
        assertCliError(result, ExitCode.NOT_LOGGED_IN, /not logged in/, {
          hint: /citadel init/,
          stdoutOk: true,
        });
        assertCliError(await citadel.run(["status"]), ExitCode.NOT_LOGGED_IN, /not logged in/);

        const again = await citadel.ok(["logout", "--force"]);
        assert.match(again.stdout, /not logged in/i);

        const work = await citadel.run(["work"]);
        assertCliError(work, ExitCode.NOT_LOGGED_IN, /not logged in/, {
          hint: /citadel init/,
          stdoutOk: true,
        });
      });
    } finally {
      await hs.stop();
    }
  });
}
