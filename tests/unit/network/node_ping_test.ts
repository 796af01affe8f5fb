/**
 * CitadelNode.ping between two in-process nodes: a fake Nexus that puts both
 * in one netmap and the in-process DERP relay. The echo request goes through
 * WireGuard over DERP, the other node's data plane answers it, and the reply
 * is matched to the ping by identifier and sequence; other packets still
 * reach the caller's handler. The same path runs against real peers in
 * tests/interop/cli_ping_test.ts.
 */
import assert from "node:assert/strict";
import type * as http2 from "node:http2";
import { encodeMapFrame } from "../../../network/control/map_frame.ts";
import type { MapResponse, Node } from "../../../network/control/map_response.ts";
import { CitadelNode } from "../../../network/node.ts";
import {
  DataPlaneNotStartedError,
  PeerNotFoundError,
  PingTimeoutError,
} from "../../../network/node_errors.ts";
import { MemoryStateStore } from "../../../state/memory_store.ts";
import { FakeControlServer, respondJSON } from "./control/fake_control_server.ts";
import { startFakeDerpServer } from "./derp/fake_derp_server.ts";

const AUTH_KEY = "hskey-auth-TestTestTest-" + "x".repeat(64);
const REGION = 900;
const OK_REGISTER = {
  User: { ID: 7, DisplayName: "Alice" },
  Login: { ID: 7, LoginName: "alice@example.com", DisplayName: "Alice" },
  MachineAuthorized: true,
  AuthURL: "",
  Error: "",
};

interface Member {
  id: number;
  key: string;
  hostname: string;
  disco?: string;
}

/**
 * A Nexus that gives every registered node the others as peers, and pushes full maps on joins.
 * While `hold.maps` is set, map streams are answered but get no map until it is cleared.
 */
function startMeshNexus(derpURL: string, hold: { maps?: Promise<void> } = {}) {
  const members: Member[] = [];
  const streams = new Map<string, http2.ServerHttp2Stream>();
  const u = new URL(derpURL);
  const derpMap = {
    Regions: {
      [REGION]: {
        RegionID: REGION,
        RegionCode: "t",
        RegionName: "test",
        Nodes: [{ Name: "t", RegionID: REGION, HostName: u.hostname, DERPPort: Number(u.port) }],
      },
    },
  };
  const node = (m: Member): Node =>
    ({
      ID: m.id,
      StableID: String(m.id),
      // Like Headscale, the MagicDNS name is the hostname in lower case.
      Name: `${m.hostname.toLowerCase()}.mesh.test.`,
      User: 7,
      Key: m.key,
      DiscoKey: m.disco,
      Addresses: [`100.64.0.${m.id}/32`, `fd7a:115c:a1e0::${m.id}/128`],
      AllowedIPs: [`100.64.0.${m.id}/32`, `fd7a:115c:a1e0::${m.id}/128`],
      HomeDERP: REGION,
      Hostinfo: { Hostname: m.hostname, OS: "linux" },
      Online: true,
    }) as Node;
  const mapFor = (m: Member): MapResponse =>
    ({
      Node: node(m),
      Peers: members.filter((o) => o !== m).map(node),
      DERPMap: derpMap,
      // Headscale's default policy: everyone may reach everyone.
      PacketFilter: [{ SrcIPs: ["*"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] }],
      Domain: "mesh.test",
      UserProfiles: [{ ID: 7, LoginName: "alice@example.com", DisplayName: "Alice" }],
    }) as MapResponse;
  const pushAll = () => {
    for (const m of members) {
      const stream = streams.get(m.key);
      if (stream && !stream.closed) stream.write(encodeMapFrame(mapFor(m), { compressed: true }));
    }
  };
  const server = FakeControlServer.start((request, stream) => {
    const body = request.json as Record<string, unknown>;
    const key = body.NodeKey as string;
    if (request.path === "/machine/register") {
      if (!members.some((m) => m.key === key)) {
        const hostname = (body.Hostinfo as { Hostname: string }).Hostname;
        members.push({ id: members.length + 1, key, hostname });
      }
      return respondJSON(stream, OK_REGISTER);
    }
    if (request.path === "/machine/map") {
      const m = members.find((m) => m.key === key);
      if (!m) return respondJSON(stream, { error: "not found" }, 404);
      m.disco = body.DiscoKey as string;
      if (!body.Stream) {
        respondJSON(stream, {});
        pushAll();
        return;
      }
      stream.respond({ ":status": 200 });
      streams.set(key, stream);
      if (hold.maps) hold.maps.then(pushAll);
      else pushAll();
      return;
    }
    respondJSON(stream, {}, 404);
  });
  return server;
}

function meshNode(
  url: string,
  hostname: string,
  onPacket?: (p: Uint8Array) => void,
  store = new MemoryStateStore(),
) {
  return new CitadelNode({
    controlURL: url,
    store,
    authKey: AUTH_KEY,
    hostname,
    dataPlane: { plainHTTPDerp: true, onPacket },
  });
}

Deno.test("node ping: two nodes ping each other over WireGuard via DERP, by name and address", async () => {
  const derp = startFakeDerpServer();
  const nexus = startMeshNexus(derp.url);
  const seenByA: Uint8Array[] = [];
  const a = meshNode(nexus.url.origin, "node-a", (p) => seenByA.push(p));
  const b = meshNode(nexus.url.origin, "Node-B");
  try {
    await a.start();
    await b.start();
    // A's netmap learns B (and its disco key) from the pushed maps.
    for (let i = 0; i < 100 && a.peerCount === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const first = await a.ping("node-b", { timeoutMs: 5000 });
    assert.equal(first.ip, "100.64.0.2");
    assert.equal(first.nodeName, "node-b");
    assert.equal(first.path, "relay");
    assert.ok(first.latencyMs >= 0 && first.latencyMs < 5000);
    const exact = await a.ping("Node-B");
    assert.equal(exact.ip, "100.64.0.2");
    const anyCase = await a.ping("NODE-B");
    assert.equal(anyCase.ip, "100.64.0.2");
    const byIP = await b.ping("100.64.0.1");
    assert.equal(byIP.nodeName, "node-a");
    // Status says what A's data plane knows of B: relayed, its home region, the last ping's
    // round trip, the handshake just made and the WireGuard bytes both ways.
    const seen = a.peers().find((p) => p.hostname === "Node-B" || p.ip === "100.64.0.2")!;
    assert.equal(seen.path, "relay");
    assert.equal(seen.endpoint, null);
    assert.equal(seen.relayRegion, a.status().dataPlane!.homeDERP, "B is homed where A is");
    assert.ok(typeof seen.latencyMs === "number" && seen.latencyMs >= 0, `${seen.latencyMs}`);
    const handshakeAge = Date.now() - Date.parse(seen.lastHandshake!);
    assert.ok(handshakeAge >= 0 && handshakeAge < 10_000, `handshake ${seen.lastHandshake}`);
    assert.ok(seen.rxBytes! > 0 && seen.txBytes! > 0, `rx ${seen.rxBytes} tx ${seen.txBytes}`);
    const v6 = await a.ping("fd7a:115c:a1e0::2");
    assert.equal(v6.ip, "fd7a:115c:a1e0::2");
    // Replies to pings never reach the caller's packet handler.
    assert.equal(seenByA.length, 0);
    await assert.rejects(a.ping("nobody"), PeerNotFoundError);
    await assert.rejects(a.ping("100.64.0.99"), PeerNotFoundError);
    await b.close();
    await assert.rejects(a.ping("node-b", { timeoutMs: 300 }), PingTimeoutError);
    const aborted = new AbortController();
    const pending = a.ping("node-b", { signal: aborted.signal });
    aborted.abort(new Error("stop"));
    await assert.rejects(pending, /stop/);
  } finally {
    await a.close();
    await b.close();
    await nexus.close();
    await derp.close();
  }
});

Deno.test("node ping: a node without the data plane says so", async () => {
  const node = new CitadelNode({
    controlURL: "http://127.0.0.1:9",
    store: new MemoryStateStore(),
  });
  await assert.rejects(node.ping("anyone"), DataPlaneNotStartedError);
});

Deno.test("node: from saved state the data plane starts on the cached netmap before Nexus sends a map", async () => {
  const derp = startFakeDerpServer();
  const hold: { maps?: Promise<void> } = {};
  const nexus = startMeshNexus(derp.url, hold);
  const store = new MemoryStateStore();
  const first = meshNode(nexus.url.origin, "node-a", undefined, store);
  await first.start();
  await first.close(); // the netmap cache is written on close
  let release!: () => void;
  hold.maps = new Promise((r) => release = r);
  const again = meshNode(nexus.url.origin, "node-a", undefined, store);
  let settled = false;
  const starting = again.start().finally(() => settled = true);
  try {
    for (let i = 0; i < 250 && !again.dataPlane?.derpConnected; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(again.dataPlane?.derpConnected, "DERP is up from the cached netmap");
    assert.equal(settled, false, "no live map has arrived yet");
    assert.equal(again.status().nodeIP, "100.64.0.1", "queries answer from the cache");
    release();
    const result = await starting;
    assert.equal(result.nodeIP, "100.64.0.1");
    assert.equal(result.newlyRegistered, false);
  } finally {
    release();
    await again.close();
    await nexus.close();
    await derp.close();
  }
});
