/**
 * Two MagicSocks and a raw DERP client on the in-process relay: WireGuard over DERP end to
 * end (handshake, transport, ICMP echo answered by the data plane), disco Pings answered with
 * Pongs naming the DERP region, and strangers' datagrams dropped (data-plane reference §0.4).
 */
import assert from "node:assert/strict";
import { DiscoPrivateKey, NodePrivateKey } from "../../../../network/crypto/keys.ts";
import { systemRandom } from "../../../../network/crypto/random.ts";
import { DerpClient } from "../../../../network/derp/derp_client.ts";
import { openDiscoPacket, sealDiscoMessage } from "../../../../network/disco/disco_packet.ts";
import { parseIPAddress } from "../../../../network/filter/ip_address.ts";
import {
  type DataPlaneNetmap,
  IPPrefix,
  MagicSock,
  MagicSockStateError,
} from "../../../../network/magicsock/mod.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";

const REGION = 999;

function derpMap(url: string) {
  const u = new URL(url);
  return {
    Regions: {
      [REGION]: {
        RegionID: REGION,
        RegionCode: "test",
        RegionName: "test",
        Nodes: [{ Name: "t", RegionID: REGION, HostName: u.hostname, DERPPort: Number(u.port) }],
      },
    },
  };
}

interface Side {
  nodeKey: NodePrivateKey;
  discoKey: DiscoPrivateKey;
  ip: string;
}

function side(ip: string): Side {
  return { nodeKey: NodePrivateKey.generate(), discoKey: DiscoPrivateKey.generate(), ip };
}

function netmapFor(self: Side, peers: Side[], url: string): DataPlaneNetmap {
  return {
    selfAddresses: [IPPrefix.parse(`${self.ip}/32`)],
    peers: peers.map((p) => ({
      nodeKey: p.nodeKey.publicKey(),
      discoKey: p.discoKey.publicKey(),
      homeDERP: REGION,
      allowedIPs: [IPPrefix.parse(`${p.ip}/32`)],
    })),
    derpMap: derpMap(url),
  };
}

function echoRequest(src: string, dst: string, seq: number): Uint8Array {
  const p = new Uint8Array(28);
  p[0] = 0x45;
  p[3] = 28;
  p[8] = 64;
  p[9] = 1;
  p.set(parseIPAddress(src)!, 12);
  p.set(parseIPAddress(dst)!, 16);
  p[20] = 8;
  p[27] = seq;
  const sum = (from: number, to: number) => {
    let s = 0;
    for (let i = from; i < to; i += 2) s += (p[i] << 8) | p[i + 1];
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return ~s & 0xffff;
  };
  const h = sum(0, 20);
  p[10] = h >> 8;
  p[11] = h & 0xff;
  const c = sum(20, 28);
  p[22] = c >> 8;
  p[23] = c & 0xff;
  return p;
}

async function until<T>(what: string, probe: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("MagicSock: WireGuard over DERP between two data planes; ICMP echo answered", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const got: Uint8Array[] = [];
  const sockA = new MagicSock({ ...a, plainHTTPDerp: true, onPacket: (p) => got.push(p) });
  const sockB = new MagicSock({ ...b, plainHTTPDerp: true });
  try {
    assert.equal(sockA.sendPacket(echoRequest(a.ip, b.ip, 1)), false, "no route before a netmap");
    await assert.rejects(sockA.start(), MagicSockStateError);
    sockA.setNetmap(netmapFor(a, [b], server.url));
    sockB.setNetmap(netmapFor(b, [a], server.url));
    assert.equal(await sockA.start(), REGION);
    assert.equal(await sockB.start(), REGION);
    assert.ok(sockA.derpConnected && sockB.derpConnected);

    assert.ok(sockA.sendPacket(echoRequest(a.ip, b.ip, 1)));
    const reply = await until("the echo reply", () => got[0]);
    assert.equal(reply[20], 0, "an echo reply");
    assert.deepEqual(reply.subarray(12, 16), parseIPAddress(b.ip), "from B");
    assert.equal(reply[27], 1, "same sequence number");
    assert.equal(sockB.stats.echoRepliesSent, 1);
    assert.ok(sockA.hasSession(b.nodeKey.publicKey()) && sockB.hasSession(a.nodeKey.publicKey()));
    assert.equal(sockA.peerStats(b.nodeKey.publicKey())?.handshakes, 1);

    // Nothing routes to an address no peer holds.
    assert.equal(sockA.sendPacket(echoRequest(a.ip, "100.64.0.9", 2)), false);
  } finally {
    await sockA.close();
    await sockB.close();
    await server.close();
  }
});

Deno.test("MagicSock: disco Ping over DERP gets a Pong from 127.3.3.40:<region>; strangers dropped", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const peer = side("100.64.0.3");
  const stranger = side("100.64.0.4");
  const sock = new MagicSock({ ...a, plainHTTPDerp: true });
  const peerDerp = await DerpClient.connect({ url: server.url, nodeKey: peer.nodeKey });
  const strangerDerp = await DerpClient.connect({ url: server.url, nodeKey: stranger.nodeKey });
  try {
    sock.setNetmap(netmapFor(a, [peer], server.url));
    await sock.start();
    const txId = systemRandom(12);
    const ping = sealDiscoMessage(
      { type: "ping", txId, nodeKey: peer.nodeKey.publicKey(), padding: 0 },
      peer.discoKey,
      a.discoKey.publicKey(),
      systemRandom,
    );
    await peerDerp.send(a.nodeKey.publicKey(), ping);
    const message = await peerDerp.receive();
    assert.equal(message.type, "packet");
    const opened = openDiscoPacket(
      message.type === "packet" ? message.data : new Uint8Array(),
      peer.discoKey,
      () => true,
    );
    assert.ok(opened.ok && opened.message.type === "pong", "a Pong");
    assert.deepEqual(opened.message.txId, txId);
    assert.equal(opened.message.src.key, `127.3.3.40:${REGION}`);
    assert.equal(sock.stats.discoPingsAnswered, 1);

    // A stranger's disco and WireGuard-looking datagrams are dropped unanswered.
    const strangerPing = sealDiscoMessage(
      { type: "ping", txId, nodeKey: stranger.nodeKey.publicKey(), padding: 0 },
      stranger.discoKey,
      a.discoKey.publicKey(),
      systemRandom,
    );
    await strangerDerp.send(a.nodeKey.publicKey(), strangerPing);
    await strangerDerp.send(a.nodeKey.publicKey(), Uint8Array.of(4, 0, 0, 0, 1, 2, 3, 4));
    await until(
      "both drops",
      () => sock.stats.discoDropped === 1 && sock.stats.droppedUnknownPeer === 1 ? true : undefined,
    );
    assert.equal(sock.stats.discoPingsAnswered, 1);
  } finally {
    peerDerp.close();
    strangerDerp.close();
    await sock.close();
    await server.close();
  }
});
