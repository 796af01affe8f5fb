import assert from "node:assert/strict";
import type { DERPMap } from "../../../../network/control/map_response.ts";
import {
  chooseHomeRegion,
  derpDialAddress,
  derpNodeOf,
  derpNodeURL,
  derpTLSName,
  homeCandidates,
  NoDerpRegionError,
} from "../../../../network/magicsock/derp_home.ts";

const MAP: DERPMap = {
  Regions: {
    "1": { RegionID: 1, RegionCode: "a", RegionName: "A", Nodes: [], Avoid: false },
    "2": {
      RegionID: 2,
      RegionCode: "b",
      RegionName: "B",
      Nodes: [{ Name: "2a", RegionID: 2, HostName: "derp2.example" }],
    },
    "900": {
      RegionID: 900,
      RegionCode: "n",
      RegionName: "No home",
      NoMeasureNoHome: true,
      Nodes: [{ Name: "900a", RegionID: 900, HostName: "x" }],
    },
    "999": {
      RegionID: 999,
      RegionCode: "hs",
      RegionName: "Headscale",
      Nodes: [
        { Name: "999s", RegionID: 999, HostName: "stun", STUNOnly: true },
        { Name: "999a", RegionID: 999, HostName: "127.0.0.1", DERPPort: 8080 },
      ],
    },
  },
};

Deno.test("chooseHomeRegion: the preference when usable, else the lowest usable region", () => {
  assert.equal(chooseHomeRegion(MAP, 999).RegionID, 999);
  assert.equal(chooseHomeRegion(MAP).RegionID, 2, "region 1 has no nodes");
  assert.equal(chooseHomeRegion(MAP, 900).RegionID, 2, "NoMeasureNoHome is never home");
  assert.throws(() => chooseHomeRegion(null), NoDerpRegionError);
  assert.throws(() => chooseHomeRegion({ Regions: {} }), NoDerpRegionError);
});

Deno.test("derpNodeOf and derpNodeURL: first relay node; https unless plain HTTP; port when set", () => {
  const node = derpNodeOf(MAP.Regions!["999"]!);
  assert.equal(node.Name, "999a", "STUN-only nodes are skipped");
  assert.equal(derpNodeURL(node, true).href, "http://127.0.0.1:8080/derp");
  assert.equal(derpNodeURL(node).href, "https://127.0.0.1:8080/derp");
  assert.equal(
    derpNodeURL({ Name: "x", RegionID: 1, HostName: "derp.example" }).href,
    "https://derp.example/derp",
  );
  assert.equal(
    derpNodeURL({ Name: "x", RegionID: 1, HostName: "::1", DERPPort: 3340 }, true).href,
    "http://[::1]:3340/derp",
  );
});

Deno.test("homeCandidates: preference, then the caller's order, then ascending IDs; homes only", () => {
  const ids = (preferred?: number, order: number[] = []) =>
    homeCandidates(MAP, preferred, order).map((r) => r.RegionID);
  assert.deepEqual(ids(), [2, 999]);
  assert.deepEqual(ids(999), [999, 2]);
  assert.deepEqual(ids(undefined, [999, 900, 1, 4]), [999, 2], "no-home and unknown skipped");
  assert.deepEqual(ids(2, [999, 2]), [2, 999], "each once");
  assert.deepEqual(homeCandidates(null), []);
});

Deno.test("derpDialAddress and derpTLSName: the node's literal addresses, its names for TLS", () => {
  const node = (extra: Record<string, string>) => ({
    Name: "n",
    RegionID: 1,
    HostName: "derp-a.test",
    ...extra,
  });
  assert.equal(derpDialAddress(node({ IPv4: "127.0.0.1", IPv6: "none" })), "127.0.0.1");
  assert.equal(derpDialAddress(node({ IPv4: "none", IPv6: "::1" })), "::1");
  assert.equal(derpDialAddress(node({ IPv6: "::1" })), "::1", "a literal before DNS");
  assert.equal(derpDialAddress(node({})), "derp-a.test", "DNS without literals");
  assert.equal(derpDialAddress(node({ IPv4: "none" })), "derp-a.test", "IPv6 by DNS");
  assert.equal(derpDialAddress(node({ IPv4: "none", IPv6: "none" })), null);
  assert.equal(derpTLSName(node({})), "derp-a.test");
  assert.equal(derpTLSName(node({ CertName: "derp.example.com" })), "derp.example.com");
  assert.equal(derpTLSName(node({ CertName: "sha256-raw:00ff" })), "derp-a.test");
});
