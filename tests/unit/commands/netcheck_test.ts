/**
 * `citadel netcheck` against a fake network: the DERP map comes from the saved state when it is
 * cached, else from a brief connection; a node that never joined is told to `init`; text and
 * JSON output in tailscale's layout.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../../cli/exit_codes.ts";
import type { DERPMap } from "../../../network/mod.ts";
import { AddrPort } from "../../../network/netaddr/addr_port.ts";
import { emptyReport } from "../../../network/netcheck/netcheck_report.ts";
import { FakeIO, FakeNetwork, run, withStateDir, writeRegisteredState } from "../cli/fake_cli.ts";

const DERP_MAP: DERPMap = {
  Regions: {
    999: {
      RegionID: 999,
      RegionCode: "hs",
      RegionName: "Headscale Embedded DERP",
      Nodes: [{ Name: "999a", RegionID: 999, HostName: "127.0.0.1", STUNPort: 3478 }],
    },
  },
};

function report() {
  const r = emptyReport();
  r.udp = r.ipv4 = r.ipv4CanSend = true;
  r.globalV4 = AddrPort.parse("127.0.0.1:40000");
  r.mappingVariesByDestIP = false;
  r.regionLatency.set(999, 1.5);
  r.regionV4Latency.set(999, 1.5);
  r.preferredDERP = 999;
  return r;
}

Deno.test("netcheck: a node that never joined is told to init", async () => {
  await withStateDir(async (dir) => {
    const { code, io, network } = await run(["netcheck", "--state-dir", dir]);
    assert.equal(code, ExitCode.NOT_LOGGED_IN);
    assert.match(io.err, /citadel init/);
    assert.equal(network.netcheckCalls.length, 0);
  });
});

Deno.test("netcheck: the cached DERP map is used without connecting; text like tailscale's", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const network = new FakeNetwork();
    network.cachedDerpMap = DERP_MAP;
    network.onNetcheck = () => Promise.resolve(report());
    const { code, io } = await run(["netcheck", "--state-dir", dir], new FakeIO(), network);
    assert.equal(code, ExitCode.OK, io.err);
    assert.equal(network.connectCalls.length, 0);
    assert.deepEqual(network.netcheckCalls, [DERP_MAP]);
    assert.match(io.out, /^Report:/m);
    assert.match(io.out, /\* UDP: true/);
    assert.match(io.out, /\* IPv4: yes, 127\.0\.0\.1:40000/);
    assert.match(io.out, /\* Nearest DERP: Headscale Embedded DERP/);
  });
});

Deno.test("netcheck: without a cached map it connects briefly, then --json has tailscale's keys", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const network = new FakeNetwork();
    network.liveDerpMap = DERP_MAP;
    network.onNetcheck = () => Promise.resolve(report());
    const { code, io } = await run(
      ["netcheck", "--json", "--state-dir", dir],
      new FakeIO(),
      network,
    );
    assert.equal(code, ExitCode.OK, io.err);
    assert.equal(network.connectCalls.length, 1);
    assert.equal(network.connectCalls[0].options.allowInteractive, false);
    assert.equal(network.disconnects, 1, "disconnected after fetching the map");
    const json = JSON.parse(io.out);
    assert.equal(json.UDP, true);
    assert.equal(json.GlobalV4, "127.0.0.1:40000");
    assert.equal(json.PreferredDERP, 999);
    assert.deepEqual(Object.keys(json.RegionLatency), ["999"]);
    assert.equal(json.UPnP, null, "not measured is null, never false");
  });
});
