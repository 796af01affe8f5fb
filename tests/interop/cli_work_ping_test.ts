/**
 * `citadel work` is reachable from a real Tailscale client: a tailscaled of
 * the same user pings the citadel node through `bin/citadel work` — a disco
 * ping and an ICMP ping over WireGuard.
 * - With `--no-direct` both are relayed by Headscale's embedded DERP, and
 *   `citadel status` lists that peer with path `relay`.
 * - By default (direct paths on, bound to 127.0.0.1 here) the disco pong
 *   comes over UDP from work's socket within 10 s of both being up, `--icmp`
 *   and `--tsmp` are answered too, status shows path `direct`, `citadel ping`
 *   of the tailscaled reports the direct path, and WireGuard leaves DERP:
 *   work's DERP counters stay flat while the pings flow.
 */
import assert from "node:assert/strict";
import { type CitadelCli, createCitadel, pollUntil } from "./citadel_cli.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { startTailscaled } from "./tailscaled.ts";

/** How many WireGuard datagrams work sent and received over DERP, from its status. */
async function derpCounters(citadel: CitadelCli): Promise<unknown> {
  const { json } = await citadel.status();
  const dp = (json as { dataPlane?: { traffic?: { derp?: unknown } } }).dataPlane;
  assert.ok(dp?.traffic?.derp, "status shows the data plane's DERP counters");
  return dp.traffic.derp;
}

for (const version of readPeerPins().headscaleVersions) {
  for (const direct of [false, true]) {
    Deno.test({
      name: direct
        ? `citadel work answers tailscale ping over a direct path by default, Headscale ${version}`
        : `citadel work --no-direct answers tailscale ping over DERP, Headscale ${version}`,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        await using hs = await startHeadscale({ version });
        const user = await hs.createUser("pinged");
        await using citadel = await createCitadel({ nexus: hs.url, label: "work-ping" });
        const key = citadel.secret(await hs.createPreAuthKey(user, { reusable: true }));
        const ip = await citadel.join("work-pinged", key);
        const work = citadel.startWork(direct ? [] : ["--no-direct"]);
        try {
          await work.waitOnline();
          await using ts = await startTailscaled({
            headscale: hs,
            authKey: key,
            hostname: "pinger",
          });
          await ts.waitForPeer("work-pinged");
          const upAt = performance.now();
          const disco = await ts.ping(ip, { timeoutSeconds: 30, untilDirect: direct });
          const toPong = performance.now() - upAt;
          if (direct) assert.ok(toPong < 10_000, `direct pong after ${toPong.toFixed(0)} ms`);
          assert.equal(disco.nodeIp, ip);
          if (direct) assert.match(disco.via, /^127\.0\.0\.1:\d+$/, `pong via ${disco.via}`);
          else assert.match(disco.via, /^DERP\(/, `pong via ${disco.via}`);
          const icmp = await ts.ping(ip, { type: "icmp", timeoutSeconds: 30 });
          assert.equal(icmp.nodeIp, ip);
          const tsmp = await ts.ping(ip, { type: "tsmp", timeoutSeconds: 30 });
          assert.equal(tsmp.nodeIp, ip);
          console.log(
            `  Headscale ${version}: tailscale ping ${disco.latencyMs} ms via ${disco.via}; ` +
              `--icmp ${icmp.latencyMs} ms via ${icmp.via}`,
          );
          const want = direct ? "direct" : "relay";
          const peer = await pollUntil(
            `citadel status to show the pinger, path ${want}`,
            async () => {
              const { json } = await citadel.status();
              const p = json.peers.find((x) => x.hostname === "pinger");
              // Headscale 0.28 may send the peer's Online flag and home region a moment after
              // the peer.
              const known = p?.online === true && p.relayRegion !== null;
              return p?.path === want && known ? p : undefined;
            },
            { timeoutMs: 15_000 },
          );
          assert.equal(peer.value.online, true);
          // What the data plane knows of the pinger, after the pings above.
          const seen = peer.value;
          if (direct) assert.match(seen.endpoint ?? "", /^127\.0\.0\.1:\d+$/, "direct endpoint");
          else assert.equal(seen.endpoint, null, "no direct endpoint over DERP");
          assert.ok(Number.isInteger(seen.relayRegion) && seen.relayRegion! > 0, "relay region");
          const handshakeAgeMs = Date.now() - Date.parse(seen.lastHandshake ?? "");
          assert.ok(
            handshakeAgeMs >= 0 && handshakeAgeMs < 120_000,
            `handshake ${seen.lastHandshake}`,
          );
          assert.ok(
            seen.rxBytes! > 0 && seen.txBytes! > 0,
            `bytes ${seen.rxBytes}/${seen.txBytes}`,
          );
          if (direct) assert.ok(seen.latencyMs! > 0, `latency ${seen.latencyMs}`);
          const { json: withNetcheck } = await citadel.status();
          const netcheck = (withNetcheck as { dataPlane?: { netcheck?: { udp: boolean } | null } })
            .dataPlane?.netcheck;
          if (direct) assert.equal(netcheck?.udp, true, "netcheck summary in status");
          console.log(
            `  status: path ${seen.path} ${seen.endpoint ?? `DERP ${seen.relayRegion}`}, ` +
              `${seen.latencyMs} ms, rx ${seen.rxBytes} B, tx ${seen.txBytes} B`,
          );
          if (direct) {
            const before = await derpCounters(citadel);
            const pinged = await citadel.ok(["ping", "pinger", "-c", "5", "--json"]);
            const summary = JSON.parse(pinged.stdout);
            assert.equal(summary.received, 5, pinged.stdout);
            for (const reply of summary.replies) assert.equal(reply.path, "direct");
            const after = await derpCounters(citadel);
            assert.deepEqual(after, before, "nothing more went over DERP");
          }
        } finally {
          assert.equal(await work.stop(), 0, work.logTail());
        }
      },
    });
  }
}
