/**
 * MagicSock's opt-in direct UDP paths on 127.0.0.1 (data-plane reference §2.2–2.8): two data
 * planes find each other's loopback endpoint by disco and move WireGuard off DERP; a disco
 * Ping over UDP is answered over UDP naming its source; STUN on the shared socket is told
 * apart; without the option nothing is bound.
 */
import assert from "node:assert/strict";
import { DiscoPrivateKey, NodePrivateKey } from "../../../../network/crypto/keys.ts";
import { systemRandom } from "../../../../network/crypto/random.ts";
import { openDiscoPacket, sealDiscoMessage } from "../../../../network/disco/disco_packet.ts";
import { parseIPAddress } from "../../../../network/filter/ip_address.ts";
import { type DataPlaneNetmap, IPPrefix, MagicSock } from "../../../../network/magicsock/mod.ts";
import { bindingRequest, newTransactionId } from "../../../../network/stun/stun_message.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";

const REGION = 999;
const UDP = { hostname: "127.0.0.1", advertise: "loopback-only" as const };

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
  endpoints?: string[];
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
      endpoints: p.endpoints ?? [],
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

Deno.test("MagicSock UDP: two data planes find a direct loopback path; WireGuard leaves DERP", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const got: Uint8Array[] = [];
  const sockA = new MagicSock({
    ...a,
    plainHTTPDerp: true,
    udp: UDP,
    onPacket: (p) => got.push(p),
  });
  const sockB = new MagicSock({ ...b, plainHTTPDerp: true, udp: UDP });
  try {
    sockA.setNetmap(netmapFor(a, [b], server.url));
    sockB.setNetmap(netmapFor(b, [a], server.url));
    await sockA.start();
    await sockB.start();
    a.endpoints = sockA.localEndpoints().map(String);
    b.endpoints = sockB.localEndpoints().map(String);
    assert.equal(a.endpoints.length, 1);
    assert.match(a.endpoints[0], /^127\.0\.0\.1:\d+$/);
    sockA.setNetmap(netmapFor(a, [b], server.url));
    sockB.setNetmap(netmapFor(b, [a], server.url));

    // The first packet goes over DERP while disco pings B's endpoint.
    assert.ok(sockA.sendPacket(echoRequest(a.ip, b.ip, 1)));
    await until("the first echo reply", () => got[0]);
    const direct = await until(
      "a trusted direct path",
      () => sockA.directPath(b.nodeKey.publicKey()) ?? undefined,
    );
    assert.equal(direct.key, b.endpoints[0]);
    assert.ok(sockA.stats.discoPongsReceived >= 1);

    const derpBefore = sockA.stats.datagramsSent;
    const udpBefore = sockA.stats.udpDatagramsSent;
    for (let seq = 2; seq <= 4; seq++) {
      assert.ok(sockA.sendPacket(echoRequest(a.ip, b.ip, seq)));
      await until(`echo reply ${seq}`, () => got.find((p) => p[27] === seq));
    }
    assert.equal(sockA.stats.datagramsSent, derpBefore, "nothing more over DERP");
    assert.ok(sockA.stats.udpDatagramsSent >= udpBefore + 3);
    assert.ok(sockB.stats.udpDatagramsReceived >= 3);
  } finally {
    await sockA.close();
    await sockB.close();
    await server.close();
  }
});

Deno.test("MagicSock UDP: a disco Ping over UDP gets a Pong over UDP naming its source; STUN is set aside", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const peer = side("100.64.0.3");
  const sock = new MagicSock({ ...a, plainHTTPDerp: true, udp: UDP });
  const raw = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    sock.setNetmap(netmapFor(a, [peer], server.url));
    await sock.start();
    const ours = sock.udpAddress!;
    const rawPort = (raw.addr as Deno.NetAddr).port;
    const txId = systemRandom(12);
    const ping = sealDiscoMessage(
      { type: "ping", txId, nodeKey: peer.nodeKey.publicKey(), padding: 0 },
      peer.discoKey,
      a.discoKey.publicKey(),
      systemRandom,
    );
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: ours.port };
    await raw.send(ping, to);
    const [packet] = await raw.receive();
    const opened = openDiscoPacket(packet, peer.discoKey, () => true);
    assert.ok(opened.ok && opened.message.type === "pong", "a Pong");
    assert.deepEqual(opened.message.txId, txId);
    assert.equal(opened.message.src.key, `127.0.0.1:${rawPort}`);

    await raw.send(bindingRequest(newTransactionId(systemRandom)), to);
    await until("the STUN packet", () => sock.stats.stunIgnored === 1 ? true : undefined);
  } finally {
    raw.close();
    await sock.close();
    await server.close();
  }
});

Deno.test("MagicSock UDP: off by default (no socket, no endpoints)", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const sock = new MagicSock({ ...a, plainHTTPDerp: true });
  try {
    sock.setNetmap(netmapFor(a, [], server.url));
    await sock.start();
    assert.equal(sock.udpAddress, undefined);
    assert.deepEqual(sock.localEndpoints(), []);
  } finally {
    await sock.close();
    await server.close();
  }
});
