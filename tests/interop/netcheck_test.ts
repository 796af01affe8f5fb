/**
 * Netcheck against real STUN servers on loopback: Headscale's embedded DERP (both pinned
 * versions) and derper instances, one region each, plus a region whose STUN server is down;
 * then side by side with the real `tailscale netcheck --format=json` on a tailscaled joined to
 * a Headscale that serves the same regions.
 *
 * Everything listens on 127.0.0.1 (and on ::1 when this host has an IPv6 loopback: a derper
 * there is an IPv6-only region). Nothing is sent anywhere else: every DERP node is an IP
 * literal, so no DNS either.
 */
import assert from "node:assert/strict";
import type { DERPMap, DERPRegion } from "../../network/control/map_response.ts";
import { AddrPort } from "../../network/netaddr/addr_port.ts";
import { probeOSHasIPv6 } from "../../network/netcheck/local_addresses.ts";
import { NetcheckClient } from "../../network/netcheck/netcheck_client.ts";
import { NetcheckDriver } from "../../network/netcheck/netcheck_driver.ts";
import { emptyReport, type NetcheckReport } from "../../network/netcheck/netcheck_report.ts";
import { ReportHistory } from "../../network/netcheck/preferred_derp.ts";
import { addrPortOfNetAddr, StandaloneNetcheck } from "../../network/netcheck/netcheck_sockets.ts";
import { formatNetcheckReport, netcheckReportJSON } from "../../cli/netcheck_format.ts";
import { isStunOnSharedSocket } from "../../network/stun/stun_message.ts";
import { StunClient } from "../../network/stun/stun_client.ts";
import { type DerperServer, startDerper } from "./derper.ts";
import { freeTcpPort, freeUdpPort } from "./free_port.ts";
import { EMBEDDED_DERP_REGION_ID, type HeadscaleServer, startHeadscale } from "./headscale.ts";
import { readPeerPins, tailscaleBinary } from "./peers.ts";
import { makeTempDir, removeTempDir, runCommand } from "./process.ts";
import { startTailscaled } from "./tailscaled.ts";

const TEST = { sanitizeOps: false, sanitizeResources: false };
const PINS = readPeerPins();

/** Whether this host has an IPv6 loopback we can bind (reported, never required). */
const HAS_V6_LOOPBACK = Deno.networkInterfaces().some((i) => i.address === "::1") &&
  probeOSHasIPv6();
console.log(`netcheck interop: IPv6 loopback ::1 ${HAS_V6_LOOPBACK ? "present" : "absent"}`);

/** A region of one STUN (and DERP) node on a loopback address, shaped as Headscale writes its own. */
function loopbackRegion(
  id: number,
  code: string,
  name: string,
  stunPort: number,
  derpPort: number,
  host: "127.0.0.1" | "::1" = "127.0.0.1",
): DERPRegion {
  const v6 = host === "::1";
  return {
    RegionID: id,
    RegionCode: code,
    RegionName: name,
    Nodes: [{
      Name: `${id}a`,
      RegionID: id,
      HostName: host,
      IPv4: v6 ? "none" : "127.0.0.1",
      IPv6: v6 ? "::1" : "none",
      // A test node whatever this host's interfaces are (tailcfg IsTestNode).
      ...(v6 ? { STUNTestIP: "::1" } : {}),
      STUNPort: stunPort,
      DERPPort: derpPort,
    }],
  };
}

function mapOf(regions: DERPRegion[]): DERPMap {
  return { Regions: Object.fromEntries(regions.map((r) => [String(r.RegionID), r])) };
}

/** Waits until a STUN server answers (servers may open their UDP socket after /health is up). */
async function waitForStun(hostname: string, port: number, label: string): Promise<void> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  const stun = new StunClient(socket);
  try {
    for (let attempt = 1;; attempt++) {
      try {
        await stun.request({ hostname, port }, { timeoutMs: 500 });
        return;
      } catch (error) {
        if (attempt >= 10) throw new Error(`${label}: STUN never answered`, { cause: error });
      }
    }
  } finally {
    stun.close();
  }
}

function latencyText(report: NetcheckReport): string {
  return [...report.regionLatency].sort(([a], [b]) => a - b)
    .map(([id, ms]) => `${id}=${ms.toFixed(3)}ms`).join(" ");
}

Deno.test({
  ...TEST,
  name: `netcheck: Headscale ${PINS.headscaleVersions.join(" and ")} embedded STUN and derpers ` +
    `as regions; latencies, our 127.0.0.1:port, a dead region missing`,
  fn: async (t) => {
    const [hsNew, hsOld] = PINS.headscaleVersions;
    const servers: { stop(): Promise<void> }[] = [];
    try {
      const [hs1, hs2, d1, d2, d6] = await Promise.all([
        startHeadscale({ version: hsNew }),
        startHeadscale({ version: hsOld }),
        startDerper(),
        startDerper(),
        HAS_V6_LOOPBACK ? startDerper({ hostname: "::1" }) : Promise.resolve(undefined),
      ]);
      servers.push(hs1, hs2, d1, d2, ...(d6 ? [d6] : []));
      await Promise.all([
        waitForStun("127.0.0.1", hs1.ports.stun, `headscale ${hsNew}`),
        waitForStun("127.0.0.1", hs2.ports.stun, `headscale ${hsOld}`),
        waitForStun("127.0.0.1", d1.stunPort, "derper 1"),
        waitForStun("127.0.0.1", d2.stunPort, "derper 2"),
        d6 ? waitForStun("::1", d6.stunPort, "derper ::1") : undefined,
      ]);
      const deadStunPort = freeUdpPort(); // nothing listens there
      const regions = [
        loopbackRegion(901, "hs1", `Headscale ${hsNew}`, hs1.ports.stun, hs1.ports.http),
        loopbackRegion(902, "hs2", `Headscale ${hsOld}`, hs2.ports.stun, hs2.ports.http),
        loopbackRegion(903, "d1", "derper 1", d1.stunPort, d1.port),
        loopbackRegion(904, "d2", "derper 2", d2.stunPort, d2.port),
        loopbackRegion(905, "dead", "STUN down", deadStunPort, freeTcpPort()),
      ];
      if (d6) regions.push(loopbackRegion(906, "v6", "derper on ::1", d6.stunPort, d6.port, "::1"));
      const derpMap = mapOf(regions);
      const live = regions.map((r) => r.RegionID).filter((id) => id !== 905);

      await t.step("own sockets (StandaloneNetcheck)", async () => {
        // enoughRegions 100 as tailscale's --verbose: every region gets its chance, so the dead
        // one keeps the report open until the 3 s STUN timeout.
        using netcheck = StandaloneNetcheck.open({
          hostname4: "127.0.0.1",
          hostname6: d6 ? "::1" : null,
          client: new NetcheckClient({ enoughRegions: 100 }),
        });
        const started = performance.now();
        const report = await netcheck.run(derpMap);
        const elapsed = performance.now() - started;
        console.log(formatNetcheckReport(report, derpMap, { verbose: true }));
        console.log(`report took ${elapsed.toFixed(0)} ms; ${latencyText(report)}`);
        assert.equal(report.udp, true);
        assert.equal(report.ipv4, true);
        assert.equal(report.ipv4CanSend, true);
        assert.equal(
          report.globalV4?.key,
          netcheck.sockets.local4!.key,
          "our bound 127.0.0.1:port",
        );
        assert.equal(report.globalV4?.address, "127.0.0.1");
        assert.equal(report.mappingVariesByDestIP, false, "every server saw the same ip:port");
        assert.deepEqual([...report.regionLatency.keys()].sort(), live);
        for (const id of live) {
          const ms = report.regionLatency.get(id)!;
          assert.ok(ms > 0 && ms < 500, `region ${id}: ${ms} ms on loopback`);
        }
        assert.equal(report.regionLatency.has(905), false, "the dead region is missing");
        assert.ok(elapsed >= 2990 && elapsed < 4500, `dead region waited out in ${elapsed} ms`);
        const fastest = [...report.regionLatency].sort(([, a], [, b]) => a - b)[0][0];
        assert.equal(report.preferredDERP, fastest, "no history: the fastest region is home");
        if (d6) {
          assert.equal(report.ipv6, true);
          assert.equal(report.globalV6?.key, netcheck.sockets.local6!.key, "our [::1]:port");
          assert.deepEqual([...report.regionV6Latency.keys()], [906]);
          assert.equal(report.regionV4Latency.has(906), false);
        } else {
          assert.equal(report.ipv6, false, "no IPv6 loopback on this host");
        }
      });

      await t.step("a caller's shared socket (magicsock's I/O boundary)", async () => {
        // One socket carries STUN and other traffic, as magicsock's does; only STUN goes to
        // netcheck. A second socket sends non-STUN datagrams to it during the report.
        const shared = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
        const local = addrPortOfNetAddr(shared.addr)!;
        const driver = new NetcheckDriver({
          transport: {
            send: async (datagram, to) => {
              await shared.send(datagram, {
                transport: "udp",
                hostname: to.address,
                port: to.port,
              });
            },
          },
          client: new NetcheckClient({ enoughRegions: 100 }),
        });
        let other = 0;
        const reading = (async () => {
          for await (const [data, from] of shared) {
            if (isStunOnSharedSocket(data)) driver.receiveStun(data, addrPortOfNetAddr(from)!);
            else other++;
          }
        })().catch(() => {});
        const noise = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
        const sendNoise = setInterval(() => {
          const disco = new TextEncoder().encode("TS💬 not a real disco message, just noise....");
          noise.send(disco, shared.addr).catch(() => {});
        }, 20);
        try {
          const v4Only = mapOf(regions.filter((r) => r.RegionID !== 906));
          const report = await driver.run(v4Only);
          assert.equal(report.globalV4?.key, local.key, "the shared socket's own 127.0.0.1:port");
          assert.deepEqual(
            [...report.regionLatency.keys()].sort(),
            live.filter((id) => id !== 906),
          );
          assert.ok(other > 10, `other traffic kept flowing (${other} datagrams)`);
          assert.equal(driver.receiveCounts["not-stun"], 0, "the demux kept non-STUN away");
        } finally {
          clearInterval(sendNoise);
          noise.close();
          shared.close();
          await reading;
        }
      });
    } finally {
      await Promise.allSettled(servers.map((s) => s.stop()));
    }
  },
});

/** Headscale's `derp.paths` file (YAML: tailcfg field names in lower case). */
function derpPathsYaml(regions: DERPRegion[]): string {
  const lines = ["regions:"];
  for (const r of regions) {
    const n = r.Nodes![0];
    lines.push(
      `  ${r.RegionID}:`,
      `    regionid: ${r.RegionID}`,
      `    regioncode: ${r.RegionCode}`,
      `    regionname: "${r.RegionName}"`,
      `    nodes:`,
      `      - name: "${n.Name}"`,
      `        regionid: ${r.RegionID}`,
      `        hostname: "${n.HostName}"`,
      `        ipv4: "${n.IPv4}"`,
      `        ipv6: "${n.IPv6}"`,
      `        stunport: ${n.STUNPort}`,
      `        derpport: ${n.DERPPort}`,
    );
  }
  return lines.join("\n") + "\n";
}

/** `tailscale netcheck --format=json`, the fields compared. */
interface TailscaleNetcheckJSON {
  UDP: boolean;
  IPv4: boolean;
  MappingVariesByDestIP: boolean | null;
  PreferredDERP: number;
  RegionLatency: Record<string, number>;
  GlobalV4: string;
  UPnP: boolean | null;
  CaptivePortal: boolean | null;
}

/** The region that leads clearly (runner-up ≥ 1.5× and ≥ 0.2 ms slower), or undefined. */
function clearLeader(latencies: [number, number][]): number | undefined {
  const sorted = [...latencies].sort(([, a], [, b]) => a - b);
  if (sorted.length < 2) return sorted[0]?.[0];
  const [[id, best], [, second]] = sorted;
  return second >= 1.5 * best && second - best >= 0.2 ? id : undefined;
}

for (const version of PINS.headscaleVersions) {
  Deno.test({
    ...TEST,
    name: `netcheck vs real tailscale netcheck (tailscaled ${PINS.tailscaleVersion} on ` +
      `Headscale ${version}): same regions measured, same home where latencies allow`,
    fn: async () => {
      const dir = await makeTempDir("netcheck-derpmap");
      const derpers: DerperServer[] = [];
      let hs: HeadscaleServer | undefined;
      try {
        derpers.push(await startDerper(), await startDerper());
        const [d1, d2] = derpers;
        // Three live regions (the embedded DERP and two derpers), so that tailscale netcheck
        // stops at its "enough regions" rule within a few ms, long before its captive-portal
        // check would start (200 ms) and reach out of this machine.
        const extra = [
          loopbackRegion(901, "d1", "derper 1", d1.stunPort, d1.port),
          loopbackRegion(902, "d2", "derper 2", d2.stunPort, d2.port),
          loopbackRegion(903, "dead", "STUN down", freeUdpPort(), freeTcpPort()),
        ];
        const pathsFile = `${dir}/derp.yaml`;
        await Deno.writeTextFile(pathsFile, derpPathsYaml(extra));
        hs = await startHeadscale({ version, config: { derp: { paths: [pathsFile] } } });
        await Promise.all([
          waitForStun("127.0.0.1", hs.ports.stun, `headscale ${version}`),
          waitForStun("127.0.0.1", d1.stunPort, "derper 1"),
          waitForStun("127.0.0.1", d2.stunPort, "derper 2"),
        ]);
        const user = await hs.createUser("netcheck");
        const key = await hs.createPreAuthKey(user);
        await using node = await startTailscaled({
          headscale: hs,
          authKey: key,
          hostname: "ts-netcheck",
        });

        // The DERP map tailscaled got from Headscale: the one both netchecks use.
        const { stdout: mapText } = await node.cli(["debug", "derp-map"]);
        const derpMap = JSON.parse(mapText) as DERPMap;
        const ids = Object.keys(derpMap.Regions ?? {}).map(Number).sort((a, b) => a - b);
        assert.deepEqual(ids, [901, 902, 903, EMBEDDED_DERP_REGION_ID]);

        const command = [`--socket=${node.socketPath}`, "netcheck", "--format=json"];
        const result = await runCommand(tailscaleBinary(), command, {
          env: {
            TS_DISABLE_PORTMAPPER: "1",
            TS_DISABLE_UPNP: "1",
            HTTP_PROXY: "http://127.0.0.1:9",
            HTTPS_PROXY: "http://127.0.0.1:9",
            NO_PROXY: "127.0.0.1,localhost",
          },
          timeoutMs: 20_000,
        });
        console.log(`$ tailscale --socket=… netcheck --format=json\n${result.stdout.trim()}`);
        const theirs = JSON.parse(result.stdout) as TailscaleNetcheckJSON;

        using netcheck = StandaloneNetcheck.open({ hostname4: "127.0.0.1", hostname6: null });
        const report = await netcheck.run(derpMap);
        const ours = netcheckReportJSON(report);
        console.log(`citadel netcheck (JSON form):\n${JSON.stringify(ours, null, "\t")}`);

        const measured = (latency: Record<string, number>) =>
          Object.keys(latency).map(Number).sort((a, b) => a - b);
        const live = [901, 902, EMBEDDED_DERP_REGION_ID];
        assert.deepEqual(measured(theirs.RegionLatency), live, "tailscale: the live regions");
        assert.deepEqual(measured(ours.RegionLatency), live, "citadel: the same regions");
        assert.equal(theirs.UDP, true);
        assert.equal(ours.UDP, true);
        assert.equal(AddrPort.parse(theirs.GlobalV4).address, "127.0.0.1");
        assert.equal(ours.GlobalV4, netcheck.sockets.local4!.key);
        assert.equal(theirs.MappingVariesByDestIP, false);
        assert.equal(ours.MappingVariesByDestIP, false);
        assert.equal(theirs.CaptivePortal, null, "tailscale's captive-portal check never ran");

        // Home region: each picks its own fastest (no history, no scores); they must agree
        // when the numbers give both the same clear leader.
        const theirLatencies = Object.entries(theirs.RegionLatency)
          .map(([id, ns]) => [Number(id), ns / 1e6] as [number, number]);
        const ourLatencies = [...report.regionLatency];
        const theirLeader = clearLeader(theirLatencies);
        const ourLeader = clearLeader(ourLatencies);
        assert.equal(theirs.PreferredDERP, [...theirLatencies].sort(([, a], [, b]) => a - b)[0][0]);
        assert.equal(ours.PreferredDERP, [...ourLatencies].sort(([, a], [, b]) => a - b)[0][0]);
        // Our home rule, fed tailscale's own measurements, picks tailscale's home region.
        const replay = emptyReport();
        replay.regionLatency = new Map(theirLatencies);
        new ReportHistory().add(replay, 0, { startedAt: 0, homeParams: derpMap.HomeParams });
        assert.equal(replay.preferredDERP, theirs.PreferredDERP);
        if (theirLeader !== undefined && theirLeader === ourLeader) {
          assert.equal(ours.PreferredDERP, theirs.PreferredDERP);
          console.log(`home region: both ${ours.PreferredDERP} (clear leader)`);
        } else {
          console.log(
            `home region: tailscale ${theirs.PreferredDERP}, citadel ${ours.PreferredDERP}; ` +
              `no clear leader on loopback (tailscale ${
                theirLatencies.map(([id, ms]) => `${id}=${ms.toFixed(3)}ms`).join(" ")
              }; citadel ${latencyText(report)})`,
          );
        }
      } finally {
        await hs?.stop();
        await Promise.allSettled(derpers.map((d) => d.stop()));
        await removeTempDir(dir);
      }
    },
  });
}
