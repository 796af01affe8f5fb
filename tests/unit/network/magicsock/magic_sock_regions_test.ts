/**
 * MagicSock over two in-process DERP servers as two regions (servers of different regions do
 * not forward to each other): datagrams to a peer homed in the other region go through an
 * on-demand connection to it, a disco Ping that came over a region is answered over that
 * region, and a peer whose home is unknown is answered over the region it was heard on.
 * Then engines end to end: an ICMP echo between two data planes homed in different regions.
 */
import assert from "node:assert/strict";
import { systemRandom } from "../../../../network/crypto/random.ts";
import { DerpClient, type DerpMessage } from "../../../../network/derp/derp_client.ts";
import { openDiscoPacket, sealDiscoMessage } from "../../../../network/disco/disco_packet.ts";
import { Engine } from "../../../../network/engine/engine.ts";
import {
  type DataPlaneNetmap,
  type DerpLinkEvent,
  MagicSock,
} from "../../../../network/magicsock/mod.ts";
import { IPPrefix } from "../../../../network/netaddr/ip_prefix.ts";
import { type FakeDerpServer, startFakeDerpServer } from "../derp/fake_derp_server.ts";
import { ALLOW_ALL, echoRequest, type Side, side, until } from "./two_planes.ts";

const A = 901;
const B = 902;

function twoRegionMap(a: FakeDerpServer, b: FakeDerpServer) {
  const region = (id: number, server: FakeDerpServer) => {
    const u = new URL(server.url);
    return {
      RegionID: id,
      RegionCode: `r${id}`,
      RegionName: `region ${id}`,
      Nodes: [{ Name: `${id}a`, RegionID: id, HostName: u.hostname, DERPPort: Number(u.port) }],
    };
  };
  return { Regions: { [A]: region(A, a), [B]: region(B, b) } };
}

function netmap(
  self: Side,
  peers: { side: Side; home: number }[],
  map: ReturnType<typeof twoRegionMap>,
): DataPlaneNetmap {
  return {
    selfAddresses: [IPPrefix.parse(`${self.ip}/32`)],
    peers: peers.map(({ side: p, home }) => ({
      nodeKey: p.nodeKey.publicKey(),
      discoKey: p.discoKey.publicKey(),
      homeDERP: home,
      allowedIPs: [IPPrefix.parse(`${p.ip}/32`)],
    })),
    derpMap: map,
    packetFilter: ALLOW_ALL,
  };
}

async function nextPacket(client: DerpClient): Promise<Extract<DerpMessage, { type: "packet" }>> {
  for (;;) {
    const message = await client.receive();
    if (message.type === "packet") return message;
  }
}

Deno.test("MagicSock regions: on-demand connection to a peer's home; Pongs go back the way Pings came", async () => {
  const serverA = startFakeDerpServer();
  const serverB = startFakeDerpServer();
  const map = twoRegionMap(serverA, serverB);
  const us = side("100.64.0.1");
  const peerB = side("100.64.0.2"); // homed in B, connected to B only
  const unknown = side("100.64.0.3"); // home not in the netmap, talks to us over B
  const events: DerpLinkEvent[] = [];
  const sock = new MagicSock({
    ...us,
    plainHTTPDerp: true,
    preferredRegion: A,
    onEvent: (e) => e.kind.startsWith("derp-") && events.push(e as DerpLinkEvent),
  });
  const clientB = await DerpClient.connect({ url: serverB.url, nodeKey: peerB.nodeKey });
  const clientU = await DerpClient.connect({ url: serverB.url, nodeKey: unknown.nodeKey });
  try {
    sock.setNetmap(netmap(us, [{ side: peerB, home: B }, { side: unknown, home: 0 }], map));
    assert.equal(await sock.start(), A);
    assert.deepEqual(sock.derp.regions().map((r) => r.region), [A]);

    // A WireGuard-looking datagram to peerB: region B is opened for it.
    assert.ok(sock.send(peerB.nodeKey.publicKey(), Uint8Array.of(4, 0, 0, 0, 7)));
    const got = await nextPacket(clientB);
    assert.ok(got.src.equals(us.nodeKey.publicKey()));
    assert.deepEqual([...got.data], [4, 0, 0, 0, 7]);
    assert.deepEqual(sock.derp.regions().map((r) => [r.region, r.home]), [[A, true], [B, false]]);
    assert.ok(events.some((e) => e.kind === "derp-connected" && e.region === B && !e.home));
    const sessionB = serverB.sessions.find((s) => s.clientKey.equals(us.nodeKey.publicKey()));
    assert.ok(sessionB, "we connected to B");
    assert.equal(
      serverA.sessions.filter((s) => s.clientKey.equals(peerB.nodeKey.publicKey())).length,
      0,
    );

    // The unknown-home peer pings us over B: the Pong names region B and comes back over B.
    const txId = systemRandom(12);
    await clientU.send(
      us.nodeKey.publicKey(),
      sealDiscoMessage(
        { type: "ping", txId, nodeKey: unknown.nodeKey.publicKey(), padding: 0 },
        unknown.discoKey,
        us.discoKey.publicKey(),
        systemRandom,
      ),
    );
    const pong = await nextPacket(clientU);
    const opened = openDiscoPacket(pong.data, unknown.discoKey, () => true);
    assert.ok(opened.ok && opened.message.type === "pong");
    assert.equal(opened.message.src.key, `127.3.3.40:${B}`);

    // And a datagram to it goes over B too (heard there), not our home A.
    sock.send(unknown.nodeKey.publicKey(), Uint8Array.of(4, 0, 0, 0, 9));
    const back = await nextPacket(clientU);
    assert.deepEqual([...back.data], [4, 0, 0, 0, 9]);
    assert.equal(sock.stats.droppedNoRoute, 0);
  } finally {
    clientB.close();
    clientU.close();
    await sock.close();
    await Promise.all([serverA.close(), serverB.close()]);
  }
});

Deno.test("Engine regions: ICMP echo between data planes homed in different regions", async () => {
  const serverA = startFakeDerpServer();
  const serverB = startFakeDerpServer();
  const map = twoRegionMap(serverA, serverB);
  const left = side("100.64.0.1");
  const right = side("100.64.0.2");
  const engineL = new Engine({ ...left, plainHTTPDerp: true, preferredRegion: A });
  const engineR = new Engine({ ...right, plainHTTPDerp: true, preferredRegion: B });
  try {
    engineL.setNetmap(netmap(left, [{ side: right, home: B }], map));
    engineR.setNetmap(netmap(right, [{ side: left, home: A }], map));
    assert.equal(await engineL.start(), A);
    assert.equal(await engineR.start(), B);
    const reply = engineL.ping(
      Uint8Array.of(100, 64, 0, 1),
      Uint8Array.of(100, 64, 0, 2),
      { kind: "icmp", timeoutMs: 5000, timeoutError: () => new Error("no echo reply") },
    );
    const result = await reply;
    assert.ok(result.latencyMs >= 0);
    assert.ok(engineR.stats.echoRepliesSent >= 1);
    // Left reached right's home B on demand; right answered over B, where it heard left
    // (tailscaled's derpRoute), instead of opening A.
    assert.ok(serverB.sessions.some((s) => s.clientKey.equals(left.nodeKey.publicKey())));
    assert.ok(!serverA.sessions.some((s) => s.clientKey.equals(right.nodeKey.publicKey())));
    assert.deepEqual(engineR.derp.regions().map((r) => r.region), [B]);
    assert.deepEqual(engineL.derp.regions().map((r) => r.region), [A, B]);
    await until(
      "handshake over two regions",
      () => engineL.hasSession(right.nodeKey.publicKey()) || undefined,
    );
    // The echo request itself, for good measure, through the pipeline.
    assert.ok(engineL.sendPacket(echoRequest("100.64.0.1", "100.64.0.2", 2)));
  } finally {
    await Promise.all([engineL.close(), engineR.close()]);
    await Promise.all([serverA.close(), serverB.close()]);
  }
});

Deno.test("MagicSock regions: with direct paths on, a peer of unknown home heard over B is answered over B", async () => {
  const serverA = startFakeDerpServer();
  const serverB = startFakeDerpServer();
  const map = twoRegionMap(serverA, serverB);
  const us = side("100.64.0.1");
  const other = side("100.64.0.3"); // homed in B: the reason we hold a connection to B
  // Home unknown, and a candidate endpoint that answers nothing: only DERP can carry to it.
  const peer = side("100.64.0.2");
  const sock = new MagicSock({
    ...us,
    plainHTTPDerp: true,
    preferredRegion: A,
    udp: { hostname: "127.0.0.1" },
  });
  let received = 0;
  sock.onDatagram = () => {
    received++;
    return true;
  };
  const clientOther = await DerpClient.connect({ url: serverB.url, nodeKey: other.nodeKey });
  const clientPeer = await DerpClient.connect({ url: serverB.url, nodeKey: peer.nodeKey });
  try {
    const nm = netmap(us, [{ side: peer, home: 0 }, { side: other, home: B }], map);
    sock.setNetmap({
      ...nm,
      peers: nm.peers.map((p) =>
        p.nodeKey.equals(peer.nodeKey.publicKey()) ? { ...p, endpoints: ["127.0.0.1:9"] } : p
      ),
    });
    await sock.start();
    sock.send(other.nodeKey.publicKey(), Uint8Array.of(4, 0, 0, 0, 1));
    await nextPacket(clientOther);
    // The peer's frame reaches us over B.
    await clientPeer.send(us.nodeKey.publicKey(), Uint8Array.of(1, 0, 0, 0, 5));
    await until("the frame over B", () => received === 1 ? true : undefined);
    sock.send(peer.nodeKey.publicKey(), Uint8Array.of(4, 0, 0, 0, 11));
    const got = await nextPacket(clientPeer);
    assert.deepEqual([...got.data], [4, 0, 0, 0, 11], "the datagram went over DERP B too");
  } finally {
    clientOther.close();
    clientPeer.close();
    await sock.close();
    await Promise.all([serverA.close(), serverB.close()]);
  }
});
