import assert from "node:assert/strict";
import { NodePrivateKey } from "../../../../network/crypto/keys.ts";
import { DerpClient, type DerpMessage, derpURL } from "../../../../network/derp/derp_client.ts";
import {
  DerpClosedError,
  DerpConnectError,
  DerpError,
  DerpFrameError,
  DerpQueueFullError,
  DerpRefusedError,
  DerpTimeoutError,
} from "../../../../network/derp/derp_errors.ts";
import {
  FrameType,
  MAX_PACKET_SIZE,
  PeerGoneReason,
  serializeFrame,
  writeFrameHeader,
} from "../../../../network/derp/derp_frame.ts";
import { discoLookingPacket, startFakeDerpServer } from "./fake_derp_server.ts";

const TEST = { sanitizeOps: false, sanitizeResources: false };

async function next(client: DerpClient): Promise<DerpMessage> {
  return await client.receive();
}

Deno.test({
  ...TEST,
  name: "two clients relay packets both ways through the fake server; the upgrade is DERP's",
  fn: async () => {
    const server = startFakeDerpServer();
    const keyA = NodePrivateKey.generate();
    const keyB = NodePrivateKey.generate();
    const a = await DerpClient.connect({ url: server.url, nodeKey: keyA, preferred: true });
    const b = await DerpClient.connect({
      url: server.url.replace(/\/derp$/, ""),
      nodeKey: keyB,
    });
    try {
      assert.ok(a.serverKey.equals(server.key.publicKey()));
      assert.equal(a.serverInfo.version, 2);
      assert.ok(a.publicKey.equals(keyA.publicKey()));
      const head = server.requestHeads[0];
      assert.match(head, /^GET \/derp HTTP\/1\.1\r\n/);
      assert.match(head, /\r\nUpgrade: DERP(\r\n|$)/);
      assert.match(head, /\r\nConnection: Upgrade(\r\n|$)/);
      assert.match(head, new RegExp(`\\r\\nHost: ${new URL(server.url).host}(\\r\\n|$)`));
      assert.doesNotMatch(head, /Derp-Fast-Start/);
      assert.match(server.requestHeads[1], /^GET \/derp HTTP/);
      assert.equal(server.sessions[0].clientInfo.canAckPings, true);
      assert.equal(server.sessions[0].clientInfo.version, 2);

      const toB = Uint8Array.from({ length: 1400 }, (_, i) => i & 0xff);
      await a.send(keyB.publicKey(), toB);
      const atB = await next(b);
      assert.ok(atB.type === "packet");
      assert.ok(atB.src.equals(keyA.publicKey()));
      assert.deepEqual(atB.data, toB);

      await b.send(keyA.publicKey(), Uint8Array.of(42));
      const atA = await next(a);
      assert.ok(atA.type === "packet" && atA.src.equals(keyB.publicKey()));
      assert.deepEqual(atA.data, Uint8Array.of(42));
      assert.equal(a.stats.packetsSent, 1);
      assert.equal(a.stats.packetsReceived, 1);
      assert.equal(b.stats.bytesReceived, 1400);

      // A disco-looking packet to a key nobody holds comes back as PeerGone(NotHere).
      const stranger = NodePrivateKey.generate().publicKey();
      await a.send(stranger, discoLookingPacket());
      const gone = await next(a);
      assert.ok(gone.type === "peerGone" && gone.peer.equals(stranger));
      assert.equal(gone.reason, PeerGoneReason.NOT_HERE);
    } finally {
      a.close();
      b.close();
      await server.close();
    }
  },
});

Deno.test({
  ...TEST,
  name: "NotePreferred goes out right after ClientInfo when asked for",
  fn: async () => {
    let first: string | undefined;
    const server = startFakeDerpServer({
      script: async (session) => {
        const frame = await session.readFrame();
        first = frame?.type === "notePreferred" ? `preferred=${frame.preferred}` : frame?.type;
      },
    });
    const client = await DerpClient.connect({
      url: server.url,
      nodeKey: NodePrivateKey.generate(),
      preferred: false,
    });
    try {
      await assert.rejects(client.receive(), DerpClosedError);
      assert.equal(first, "preferred=false");
    } finally {
      client.close();
      await server.close();
    }
  },
});

Deno.test({
  ...TEST,
  name: "fast start: Derp-Fast-Start: 1, no 101, ClientInfo with the request",
  fn: async () => {
    const server = startFakeDerpServer();
    const key = NodePrivateKey.generate();
    const client = await DerpClient.connect({
      url: server.url,
      nodeKey: key,
      serverKey: server.key.publicKey(),
    });
    try {
      assert.match(server.requestHeads[0], /\r\nDerp-Fast-Start: 1(\r\n|$)/);
      assert.ok(client.serverKey.equals(server.key.publicKey()));
      await client.send(key.publicKey(), Uint8Array.of(1, 2, 3));
      const echo = await next(client);
      assert.ok(echo.type === "packet");
      assert.deepEqual(echo.data, Uint8Array.of(1, 2, 3));
    } finally {
      client.close();
      await server.close();
    }
    const wrongServer = startFakeDerpServer();
    try {
      await assert.rejects(
        DerpClient.connect({
          url: wrongServer.url,
          nodeKey: key,
          serverKey: NodePrivateKey.generate().publicKey(),
        }),
        (e) => e instanceof DerpError && e.name === "DerpHandshakeError",
      );
    } finally {
      await wrongServer.close();
    }
  },
});

Deno.test({
  ...TEST,
  name: "a refused key is a DerpRefusedError; a non-101 answer a DerpConnectError with status",
  fn: async () => {
    const refusing = startFakeDerpServer({ refuseKey: () => true });
    const key = NodePrivateKey.generate();
    try {
      await assert.rejects(
        DerpClient.connect({ url: refusing.url, nodeKey: key }),
        (e) =>
          e instanceof DerpRefusedError && e.message.includes(key.publicKey().toShortString()) &&
          !e.message.includes(key.publicKey().toText()),
      );
    } finally {
      await refusing.close();
    }
    const upgradeRequired = startFakeDerpServer({
      refuseUpgrade: { status: 426, body: "DERP requires connection upgrade" },
    });
    try {
      await assert.rejects(
        DerpClient.connect({ url: upgradeRequired.url, nodeKey: key }),
        (e) =>
          e instanceof DerpConnectError && e.status === 426 &&
          e.message.includes("DERP requires connection upgrade"),
      );
    } finally {
      await upgradeRequired.close();
    }
  },
});

Deno.test({
  ...TEST,
  name: "nothing listening is a DerpConnectError; a silent server hits the connect timeout",
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of listener) held.push(conn);
    })();
    try {
      await assert.rejects(
        DerpClient.connect({
          url: `http://127.0.0.1:${port}/derp`,
          nodeKey: NodePrivateKey.generate(),
          connectTimeoutMs: 150,
        }),
        DerpTimeoutError,
      );
      const controller = new AbortController();
      const pending = DerpClient.connect({
        url: `http://127.0.0.1:${port}/derp`,
        nodeKey: NodePrivateKey.generate(),
        signal: controller.signal,
      });
      controller.abort(new Error("given up"));
      await assert.rejects(pending, /given up/);
    } finally {
      listener.close();
      for (const conn of held) conn.close();
      await accepting.catch(() => {});
    }
    await assert.rejects(
      DerpClient.connect({
        url: `http://127.0.0.1:${port}/derp`,
        nodeKey: NodePrivateKey.generate(),
      }),
      DerpConnectError,
    );
    assert.throws(() => derpURL("ftp://127.0.0.1/derp"), TypeError);
    assert.equal(derpURL("https://derp.example:8443").href, "https://derp.example:8443/derp");
  },
});

Deno.test({
  ...TEST,
  name: "server frames: KeepAlive counted, Ping answered, events returned, junk skipped",
  fn: async () => {
    const peer = NodePrivateKey.generate().publicKey();
    let pongData: Uint8Array | undefined;
    const server = startFakeDerpServer({
      script: async (session) => {
        const malformedPeerGone = new Uint8Array(5 + 10);
        writeFrameHeader(malformedPeerGone, 0, FrameType.PEER_GONE, 10);
        const frames = [
          serializeFrame({ type: "keepAlive" }),
          serializeFrame({ type: "ping", data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) }),
          serializeFrame({ type: "unknown", frameType: 0x7e, payload: Uint8Array.of(1, 2, 3) }),
          malformedPeerGone,
          serializeFrame({ type: "peerGone", peer, reason: PeerGoneReason.DISCONNECTED }),
          serializeFrame({ type: "health", problem: "disk on fire" }),
          serializeFrame({ type: "restarting", reconnectInMs: 500, tryForMs: 9000 }),
          serializeFrame({ type: "serverKey", serverKey: peer }),
          serializeFrame({ type: "recvPacket", src: peer, data: Uint8Array.of(7) }),
        ];
        const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
        let at = 0;
        for (const f of frames) {
          all.set(f, at);
          at += f.length;
        }
        // Split mid-frame, so that frames span reads.
        await session.write(all.subarray(0, 7));
        await new Promise((r) => setTimeout(r, 20));
        await session.write(all.subarray(7));
        const answer = await session.readFrame();
        if (answer?.type === "pong") pongData = answer.data.slice();
        await session.readFrame();
      },
    });
    const client = await DerpClient.connect({
      url: server.url,
      nodeKey: NodePrivateKey.generate(),
    });
    try {
      const got: DerpMessage[] = [];
      for (let i = 0; i < 4; i++) got.push(await client.receive());
      assert.deepEqual(got.map((m) => m.type), ["peerGone", "health", "restarting", "packet"]);
      assert.ok(got[0].type === "peerGone" && got[0].peer.equals(peer) && got[0].reason === 0);
      assert.ok(got[1].type === "health" && got[1].problem === "disk on fire");
      assert.ok(
        got[2].type === "restarting" && got[2].reconnectInMs === 500 && got[2].tryForMs === 9000,
      );
      assert.ok(got[3].type === "packet" && got[3].src.equals(peer));
      assert.equal(client.stats.keepAlives, 1);
      assert.equal(client.stats.pingsAnswered, 1);
      assert.equal(client.stats.unknownFrames, 1);
      assert.equal(client.stats.malformedFrames, 1);
      for (let i = 0; i < 200 && !pongData; i++) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(pongData, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    } finally {
      client.close();
      await server.close();
    }
  },
});

Deno.test({
  ...TEST,
  name: "ping: the server's Pong gives a round trip while a receive runs",
  fn: async () => {
    const server = startFakeDerpServer();
    const client = await DerpClient.connect({
      url: server.url,
      nodeKey: NodePrivateKey.generate(),
    });
    try {
      const receiving = client.receive().catch((e) => e);
      const rtt = await client.ping(2000);
      assert.ok(rtt >= 0 && rtt < 2000);
      client.close();
      assert.ok((await receiving) instanceof DerpClosedError);
      await assert.rejects(client.ping(), DerpClosedError);
    } finally {
      client.close();
      await server.close();
    }
  },
});

Deno.test({
  ...TEST,
  name: "read timeout, oversize frames and a server hang-up close the connection with typed errors",
  fn: async () => {
    const silent = startFakeDerpServer({ script: (s) => s.readFrame().then(() => {}) });
    const quiet = await DerpClient.connect({
      url: silent.url,
      nodeKey: NodePrivateKey.generate(),
      readTimeoutMs: 100,
    });
    await assert.rejects(quiet.receive(), DerpTimeoutError);
    assert.ok(quiet.closed);
    await assert.rejects(quiet.send(quiet.publicKey, Uint8Array.of(1)), DerpTimeoutError);
    await silent.close();

    const huge = startFakeDerpServer({
      script: async (session) => {
        const header = new Uint8Array(5);
        writeFrameHeader(header, 0, FrameType.RECV_PACKET, 32 + MAX_PACKET_SIZE + 1);
        await session.write(header);
        await session.readFrame();
      },
    });
    const big = await DerpClient.connect({ url: huge.url, nodeKey: NodePrivateKey.generate() });
    await assert.rejects(big.receive(), DerpFrameError);
    assert.ok(big.closed);
    await huge.close();

    const hangUp = startFakeDerpServer({ script: (session) => Promise.resolve(session.close()) });
    const dropped = await DerpClient.connect({
      url: hangUp.url,
      nodeKey: NodePrivateKey.generate(),
    });
    await assert.rejects(
      (async () => {
        for await (const _ of dropped) { /* nothing arrives */ }
      })(),
      DerpClosedError,
    );
    await hangUp.close();
  },
});

Deno.test({
  ...TEST,
  name: "close ends the iterator quietly; sends after close fail; oversize sends fail",
  fn: async () => {
    const server = startFakeDerpServer();
    const client = await DerpClient.connect({
      url: server.url,
      nodeKey: NodePrivateKey.generate(),
    });
    try {
      await assert.rejects(
        client.send(client.publicKey, new Uint8Array(MAX_PACKET_SIZE + 1)),
        DerpFrameError,
      );
      const seen: DerpMessage[] = [];
      const loop = (async () => {
        for await (const message of client) seen.push(message);
      })();
      await client.send(client.publicKey, Uint8Array.of(5));
      while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
      client.close();
      await loop;
      assert.equal(seen.length, 1);
      await assert.rejects(client.send(client.publicKey, Uint8Array.of(1)), DerpClosedError);
      await assert.rejects(client.receive(), DerpClosedError);
    } finally {
      client.close();
      await server.close();
    }
  },
});

Deno.test({
  ...TEST,
  name: "concurrent sends stay whole frames, in order",
  fn: async () => {
    const server = startFakeDerpServer();
    const key = NodePrivateKey.generate();
    // 200 sends at once: more than the default bound of the packet queue.
    const client = await DerpClient.connect({
      url: server.url,
      nodeKey: key,
      writeLimits: { packet: 200 },
    });
    try {
      const packets = Array.from(
        { length: 200 },
        (_, i) => Uint8Array.from({ length: 1 + ((i * 997) % 9000) }, (_, j) => (i + j) & 0xff),
      );
      const receiving = (async () => {
        const got: Uint8Array[] = [];
        while (got.length < packets.length) {
          const message = await client.receive();
          if (message.type === "packet") got.push(message.data);
        }
        return got;
      })();
      await Promise.all(packets.map((p) => client.send(key.publicKey(), p)));
      const got = await receiving;
      got.forEach((data, i) => assert.deepEqual(data, packets[i], `packet ${i}`));
    } finally {
      client.close();
      await server.close();
    }
  },
});

Deno.test({
  ...TEST,
  name: "ServerInfo's token bucket drops packets over the rate (§3.5)",
  fn: async () => {
    const server = startFakeDerpServer({
      serverInfo: { tokenBucketBytesPerSecond: 10, tokenBucketBytesBurst: 300 },
    });
    const key = NodePrivateKey.generate();
    const client = await DerpClient.connect({ url: server.url, nodeKey: key });
    try {
      assert.equal(client.serverInfo.tokenBucketBytesBurst, 300);
      // 5 + 32 + 200 = 237 bytes fit the 300-byte burst once.
      await client.send(key.publicKey(), new Uint8Array(200));
      await client.send(key.publicKey(), new Uint8Array(200));
      assert.equal(client.stats.packetsSent, 1);
      assert.equal(client.stats.packetsDroppedByRateLimit, 1);
    } finally {
      client.close();
      await server.close();
    }
  },
});

Deno.test({
  ...TEST,
  name: "a full write queue drops packets (counted) and refuses control frames",
  fn: async () => {
    const server = startFakeDerpServer();
    const key = NodePrivateKey.generate();
    const client = await DerpClient.connect({
      url: server.url,
      nodeKey: key,
      writeLimits: { packet: 4, control: 2 },
    });
    try {
      // Offered in one go: one write in flight and three waiting fill the packet queue.
      const sends = Array.from(
        { length: 100 },
        () => client.send(key.publicKey(), new Uint8Array(100)),
      );
      assert.equal(client.stats.packetsDroppedQueueFull, 96);
      await Promise.all(sends);
      assert.equal(client.stats.packetsSent, 4);
      const control = [client.notePreferred(true), client.notePreferred(false)];
      await assert.rejects(client.notePreferred(true), DerpQueueFullError);
      await Promise.all(control);
      // Once written, the queue takes frames again; the connection never closed.
      await client.send(key.publicKey(), new Uint8Array(100));
      await client.notePreferred(true);
      assert.equal(client.stats.packetsSent, 5);
      assert.equal(client.closed, false);
    } finally {
      client.close();
      await server.close();
    }
  },
});
