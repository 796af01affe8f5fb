/**
 * The failures a user meets when joining, through `bin/citadel` against every pinned Headscale:
 * each prints one `citadel: …` line and a hint on stderr, exits with its own code from
 * cli/exit_codes.ts, shows no stack trace, and never prints the auth key (the driver checks
 * every output for every key it was given).
 *
 * Covered: an unreachable Nexus (closed port), a URL that is not Headscale (404 and 200 HTML),
 * TLS without the test CA (then with it, through CITADEL_CA_FILE), bad, spent and expired keys,
 * and a node deleted or expired at Nexus (status, work, and a running work).
 */

import assert from "node:assert/strict";
import { ExitCode } from "../../cli/exit_codes.ts";
import { assertCliError, type CitadelCli, createCitadel, describeResult } from "./citadel_cli.ts";
import { freeTcpPort } from "./free_port.ts";
import { type HeadscaleServer, startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { readLogTail } from "./process.ts";

function withLogs(error: unknown, servers: readonly HeadscaleServer[]): unknown {
  if (error instanceof Error) {
    for (const hs of servers) {
      error.message += `\n--- headscale ${hs.version} ${hs.url} (${hs.logPath}) ---\n${
        readLogTail(hs.logPath, 20)
      }`;
    }
  }
  return error;
}

/** An HTTP server on 127.0.0.1 that is not Headscale: every path answers `status` with HTML. */
function startNotHeadscale(status: number): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      new Response("<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>", {
        status,
        headers: { "content-type": "text/html" },
      }),
  );
}

/** `init` with the key in CITADEL_AUTHKEY (so ps never shows it); the result. */
function initWithKey(citadel: CitadelCli, key: string, name: string) {
  citadel.secret(key);
  return citadel.run(["init", "--node-name", name, "--timeout", "60s"], {
    env: { CITADEL_AUTHKEY: key },
  });
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test(`citadel CLI errors, Headscale ${version}`, async (t) => {
    const started = await Promise.allSettled([
      startHeadscale({ version }),
      startHeadscale({ version, tls: true }),
    ]);
    const servers = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
    try {
      for (const s of started) if (s.status === "rejected") throw s.reason;
      const [hs, tlsHs] = servers;
      const step = (name: string, fn: () => Promise<void>) =>
        t.step(name, async () => {
          try {
            await fn();
          } catch (error) {
            throw withLogs(error, servers);
          }
        });
      const user = await hs.createUser("errors");

      await step("Nexus unreachable: a closed port", async () => {
        await using citadel = await createCitadel({
          nexus: `http://127.0.0.1:${freeTcpPort()}`,
          label: "unreachable",
        });
        const result = await initWithKey(citadel, await hs.createPreAuthKey(user), "unreach");
        assertCliError(result, ExitCode.NEXUS_UNREACHABLE, /refused|unreachable/i, {
          hint: /network connection/,
        });
        assert.ok(result.durationMs < 10_000, describeResult(result));
        await assert.rejects(Deno.stat(`${citadel.stateDir}/state.json`), Deno.errors.NotFound);
      });

      await step("wrong URL: an HTTP server that is not Headscale", async () => {
        for (const status of [404, 200]) {
          const server = startNotHeadscale(status);
          try {
            await using citadel = await createCitadel({
              nexus: `http://127.0.0.1:${server.addr.port}`,
              label: "not-headscale",
            });
            const result = await initWithKey(citadel, await hs.createPreAuthKey(user), "wrong");
            assertCliError(result, ExitCode.NEXUS_PROTOCOL, /Headscale|Nexus/, {
              hint: /--nexus/,
            });
          } finally {
            await server.shutdown();
          }
        }
      });

      await step("TLS: untrusted without the CA, joins with CITADEL_CA_FILE", async () => {
        assert.ok(tlsHs.caCertPath);
        await using citadel = await createCitadel({ nexus: tlsHs.url, label: "tls" });
        const tlsUser = await tlsHs.createUser("tls");
        const key = citadel.secret(await tlsHs.createPreAuthKey(tlsUser));
        const refused = await initWithKey(citadel, key, "tls-1");
        assertCliError(refused, ExitCode.TLS, /certificate|TLS/i, { hint: /certificate/ });
        assert.equal(await tlsHs.listNodes().then((nodes) => nodes.length), 0);

        const missing = await citadel.run(["init", "--node-name", "tls-1"], {
          env: { CITADEL_AUTHKEY: key, CITADEL_CA_FILE: `${citadel.dir}/absent.pem` },
        });
        assertCliError(missing, ExitCode.USAGE, /CITADEL_CA_FILE/, { hint: /PEM/ });

        const env = { CITADEL_CA_FILE: tlsHs.caCertPath };
        const joined = await citadel.run(["init", "--node-name", "tls-1"], {
          env: { ...env, CITADEL_AUTHKEY: key },
        });
        assert.equal(joined.code, 0, describeResult(joined));
        const { json, result } = await citadel.status({ env });
        assert.equal(result.code, 0, describeResult(result));
        assert.equal(json.connected, true);
        // Without the CA, the saved node cannot be reached either.
        const statusNoCa = await citadel.run(["status"]);
        assertCliError(statusNoCa, ExitCode.TLS, /certificate|TLS/i);
        const work = citadel.startWork([], { env });
        await work.waitOnline();
        assert.equal(await work.stop(), 0, work.logTail());
        await citadel.ok(["logout", "--force"], { env });
        const node = (await tlsHs.listNodes()).find((n) => n.name === "tls-1");
        assert.ok(
          node === undefined || (node.expiry && node.expiry.getTime() <= Date.now() + 1_000),
          `logout over TLS expired the node: ${node?.expiry}`,
        );
      });

      await step("a bad auth key", async () => {
        await using citadel = await createCitadel({ nexus: hs.url, label: "bad-key" });
        const real = await hs.createPreAuthKey(user);
        // Key-shaped but unknown to Headscale, and plain garbage.
        const forged = real.slice(0, -8) + (real.endsWith("AAAAAAAA") ? "BBBBBBBB" : "AAAAAAAA");
        for (const key of [forged, "not-a-key-at-all"]) {
          const result = await initWithKey(citadel, key, "bad-key");
          assertCliError(result, ExitCode.AUTH_REJECTED, /auth key|refused/i, {
            hint: /auth key/,
          });
        }
        const alsoFlag = await citadel.run(["init", "--authkey", forged, "--node-name", "x"]);
        assertCliError(alsoFlag, ExitCode.AUTH_REJECTED, /auth key|refused/i);
      });

      await step("a spent single-use key", async () => {
        const key = await hs.createPreAuthKey(user);
        await using first = await createCitadel({ nexus: hs.url, label: "spent-1" });
        const ok = await initWithKey(first, key, "spent-1");
        assert.equal(ok.code, 0, describeResult(ok));
        await using second = await createCitadel({ nexus: hs.url, label: "spent-2" });
        const result = await initWithKey(second, key, "spent-2");
        assertCliError(result, ExitCode.AUTH_REJECTED, /used|auth key/i, { hint: /auth key/ });
        const spentWork = await second.run(["work"], { env: { CITADEL_AUTHKEY: key } });
        assertCliError(spentWork, ExitCode.AUTH_REJECTED, /used|auth key/i, {
          hint: /auth key/,
          stdoutOk: true,
        });
      });

      await step("an expired key", async () => {
        const key = await hs.createPreAuthKey(user, { expiration: "1s" });
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        await using citadel = await createCitadel({ nexus: hs.url, label: "expired-key" });
        const result = await initWithKey(citadel, key, "expired-key");
        assertCliError(result, ExitCode.AUTH_REJECTED, /expired|auth key/i, { hint: /auth key/ });
      });

      await step("node deleted at Nexus: status and work say so", async () => {
        await using citadel = await createCitadel({ nexus: hs.url, label: "deleted" });
        const joined = await initWithKey(citadel, await hs.createPreAuthKey(user), "deleted-1");
        assert.equal(joined.code, 0, describeResult(joined));
        const node = (await hs.listNodes()).find((n) => n.name === "deleted-1");
        assert.ok(node);
        await hs.deleteNode(node.id);

        const status = await citadel.run(["status"]);
        assertCliError(status, ExitCode.NODE_REMOVED, /does not know|deleted/, {
          hint: /citadel (init|login)/,
        });
        const { json, result } = await citadel.status();
        assert.equal(result.code, ExitCode.NODE_REMOVED, describeResult(result));
        assert.equal(json.connected, false);
        const work = await citadel.run(["work"]);
        assertCliError(work, ExitCode.NODE_REMOVED, /does not know|deleted/, {
          hint: /citadel (init|login)/,
          stdoutOk: true,
        });
        assert.deepEqual((await hs.listNodes()).filter((n) => n.name === "deleted-1"), []);
      });

      await step(
        "node deleted while work runs: it stops with NODE_REMOVED on reconnect",
        async () => {
          await using citadel = await createCitadel({ nexus: hs.url, label: "deleted-live" });
          const joined = await initWithKey(citadel, await hs.createPreAuthKey(user), "deleted-2");
          assert.equal(joined.code, 0, describeResult(joined));
          const work = citadel.startWork();
          await work.waitOnline();
          const node = (await hs.listNodes()).find((n) => n.name === "deleted-2");
          assert.ok(node);
          // Headscale keeps the deleted node's map stream open (keep-alives only), so a client
          // learns of the deletion when it next registers: make that happen with a restart.
          await hs.deleteNode(node.id);
          await hs.restart();
          const code = await work.waitExit(30_000);
          assert.equal(code, ExitCode.NODE_REMOVED, work.logTail());
          assert.match(work.log(), /^citadel: .+\n.*citadel (init|login)/m, work.logTail());
          assert.ok(!/^\s+at\s/m.test(work.log()), `no stack trace\n${work.logTail()}`);
        },
      );

      await step("node expired at Nexus: status says so", async () => {
        await using citadel = await createCitadel({ nexus: hs.url, label: "expired-node" });
        const joined = await initWithKey(citadel, await hs.createPreAuthKey(user), "expired-1");
        assert.equal(joined.code, 0, describeResult(joined));
        const node = (await hs.listNodes()).find((n) => n.name === "expired-1");
        assert.ok(node);
        await hs.expireNode(node.id);
        const status = await citadel.run(["status"]);
        assertCliError(status, ExitCode.NODE_REMOVED, /expired/i, { hint: /citadel (init|login)/ });
      });
    } finally {
      await Promise.all(servers.map((hs) => hs.stop()));
    }
  });
}
