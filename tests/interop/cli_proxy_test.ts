/**
 * `citadel init` and `citadel work` behind an HTTP proxy, as on a corporate network: the only
 * way to Nexus and DERP is a CONNECT proxy on 127.0.0.1 that wants a password. Nexus
 * (Headscale over HTTPS) and its DERP (a derper over HTTPS) are named `nexus.test` and
 * `derp-a.test`; the proxy resolves those names, and Go's proxy rules (which Citadel follows)
 * never proxy loopback addresses. Everything is TLS with a test CA (`CITADEL_CA_FILE`), verified
 * inside the tunnel. A real tailscaled (direct, not proxied) then pings the citadel node over
 * DERP, and the proxy's log shows the Nexus and DERP CONNECTs. A wrong proxy password gives
 * exit PROXY_AUTH with its own message and hint, and never shows the password.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../cli/exit_codes.ts";
import type { DERPRegion } from "../../network/control/map_response.ts";
import { assertCliError, createCitadel, describeResult, pollUntil } from "./citadel_cli.ts";
import { startConnectProxy } from "./connect_proxy.ts";
import { startDerper } from "./derper.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { makeTempDir, removeTempDir } from "./process.ts";
import { startTailscaled } from "./tailscaled.ts";
import { createTestCa } from "./test_ca.ts";

const TEST = { sanitizeOps: false, sanitizeResources: false };
const PROXY_USER = "citadel";
const PROXY_PASSWORD = "c0rp pr0xy:secret";

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    ...TEST,
    name: `citadel init and work through an HTTP CONNECT proxy with a password (TLS to ` +
      `Nexus and DERP inside the tunnel), pinged by tailscaled over DERP, Headscale ${version}`,
    fn: async () => {
      const dir = await makeTempDir("proxy-ca");
      try {
        const ca = await createTestCa(dir, {
          ipAddresses: ["127.0.0.1"],
          dnsNames: ["localhost", "nexus.test", "derp-a.test"],
        });
        await using derper = await startDerper({ tls: true, testCa: ca });
        const region: DERPRegion = {
          RegionID: 901,
          RegionCode: "a",
          RegionName: "derper a",
          Nodes: [{
            Name: "901a",
            RegionID: 901,
            HostName: "derp-a.test",
            IPv4: "127.0.0.1",
            IPv6: "none",
            STUNPort: derper.stunPort,
            DERPPort: derper.port,
          }],
        };
        await using hs = await startHeadscale({
          version,
          tls: true,
          testCa: ca,
          embeddedDerp: false,
          derpRegions: [region],
        });
        const nexus = `https://nexus.test:${hs.ports.http}`;
        await using proxy = startConnectProxy({
          credentials: { username: PROXY_USER, password: PROXY_PASSWORD },
        });
        const user = await hs.createUser("proxied");
        const key = await hs.createPreAuthKey(user, { reusable: true });

        // A wrong password: its own error, exit code and hint; the password shown nowhere.
        await using wrong = await createCitadel({
          nexus,
          label: "proxy-wrong",
          env: {
            CITADEL_CA_FILE: ca.caCertPath,
            HTTPS_PROXY: proxy.urlWith(PROXY_USER, "not-the-password"),
          },
        });
        wrong.secret(key);
        wrong.secret("not-the-password");
        const refused = await wrong.run(["init", "--node-name", "citadel-wrong"], {
          env: { CITADEL_AUTHKEY: key },
        });
        assertCliError(
          refused,
          ExitCode.PROXY_AUTH,
          /proxy 127\.0\.0\.1:\d+ refused our credentials/,
          {
            hint: /proxy user name and password in HTTPS_PROXY/,
          },
        );
        console.log(
          `  wrong password → exit ${refused.code}:\n    ${
            refused.stderr.trim().replaceAll("\n", "\n    ")
          }`,
        );
        const workRefused = wrong.startWork([], { env: { CITADEL_AUTHKEY: key } });
        assert.equal(
          await workRefused.waitExit(30_000),
          ExitCode.PROXY_AUTH,
          workRefused.logTail(),
        );
        assert.ok(proxy.log.every((e) => e.status === 407 && e.hadCredentials));
        const refusedCount = proxy.log.length;
        assert.ok(refusedCount >= 2);

        // A proxy that forbids the destination, and one that is not there: PROXY_FAILED.
        await using forbidding = startConnectProxy({
          forbid: (target) => target.startsWith("nexus."),
        });
        const forbidden = await wrong.run(["init"], {
          env: { CITADEL_AUTHKEY: key, HTTPS_PROXY: forbidding.url },
        });
        assertCliError(forbidden, ExitCode.PROXY_FAILED, /refused CONNECT nexus\.test:\d+: 403/, {
          hint: /allow CONNECT to that host and port, or list the host in NO_PROXY/,
        });
        const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const closedPort = (closed.addr as Deno.NetAddr).port;
        closed.close();
        const unreachable = await wrong.run(["init"], {
          env: { CITADEL_AUTHKEY: key, HTTPS_PROXY: `127.0.0.1:${closedPort}` },
        });
        assertCliError(
          unreachable,
          ExitCode.PROXY_FAILED,
          /cannot connect to the proxy 127\.0\.0\.1:\d+: connection refused/,
          { hint: /Check the proxy address in HTTPS_PROXY/ },
        );

        // The right password: init and work join through the proxy.
        await using citadel = await createCitadel({
          nexus,
          label: "proxy",
          env: {
            CITADEL_CA_FILE: ca.caCertPath,
            HTTPS_PROXY: proxy.urlWith(PROXY_USER, PROXY_PASSWORD),
          },
        });
        citadel.secret(key);
        const ip = await citadel.join("citadel-proxied", key);
        const afterInit = proxy.log.slice(refusedCount);
        assert.ok(afterInit.length >= 2, "at least /key and /ts2021");
        for (const entry of afterInit) {
          assert.deepEqual(entry, {
            target: `nexus.test:${hs.ports.http}`,
            status: 200,
            hadCredentials: true,
          });
        }

        // Behind a proxy there is no UDP: DERP through the proxy carries everything.
        const work = citadel.startWork(["--no-direct"]);
        try {
          await work.waitOnline();
          await work.waitForLog(/DERP region 901 connected \(home\): https:\/\/derp-a\.test:/);
          // tailscaled talks to Headscale and the derper directly (by address), trusting the CA.
          await using ts = await startTailscaled({
            headscale: hs,
            authKey: key,
            hostname: "ts-direct",
            env: { NO_PROXY: "127.0.0.1,localhost,.test" },
          });
          await ts.waitForPeer("citadel-proxied");
          const pong = await ts.ping(ip, { timeoutSeconds: 30 });
          assert.equal(pong.via, "DERP(a)");
          const icmp = await ts.ping(ip, { type: "icmp", timeoutSeconds: 30 });
          assert.equal(icmp.nodeIp, ip);
          const ours = await citadel.run(["ping", "ts-direct", "-c", "2"]);
          assert.equal(ours.code, 0, describeResult(ours));
          await pollUntil("citadel status (through the proxy) to list ts-direct", async () => {
            const { json } = await citadel.status();
            return json.peers.some((p) => p.hostname === "ts-direct") || undefined;
          });
          const targets = new Set(proxy.log.slice(refusedCount).map((e) => e.target));
          assert.deepEqual(
            [...targets].sort(),
            [`derp-a.test:${derper.port}`, `nexus.test:${hs.ports.http}`],
            "the proxy carried Nexus and DERP, nothing else",
          );
          assert.ok(proxy.log.slice(refusedCount).every((e) => e.status === 200));
          console.log(
            `  Headscale ${version}: ${proxy.log.length - refusedCount} CONNECTs ` +
              `(${[...targets].join(", ")}); tailscale ping ${pong.latencyMs} ms via ${pong.via}`,
          );
        } finally {
          assert.equal(await work.stop(), 0, work.logTail());
        }
      } finally {
        await removeTempDir(dir);
      }
    },
  });
}
