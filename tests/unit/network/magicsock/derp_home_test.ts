import assert from "node:assert/strict";
import type { DERPMap } from "../../../../network/control/map_response.ts";
import {
  chooseHomeRegion,
  derpNodeOf,
  derpNodeURL,
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
