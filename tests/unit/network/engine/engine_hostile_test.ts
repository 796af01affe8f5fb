/**
 * Hostile packets through the real engine: a peer (engine A, injecting
 * through WireGuard past its own outbound filter) sends engine B bad
 * lengths and checksums, wild TCP options, segments far outside the window,
 * RSTs and SYNs with wrong sequence numbers on an open connection, and a
 * SYN flood. B keeps running, its open connection carries a 1 MiB echo
 * intact afterwards, its listener still accepts, and its bounds hold.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Engine } from "../../../../network/engine/engine.ts";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { IPProtocol } from "../../../../network/netaddr/ip_protocol.ts";
import { internetChecksum, transportChecksum } from "../../../../network/netstack/wire/checksum.ts";
import { TCPFlags } from "../../../../network/netstack/wire/tcp.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";
import { netmapFor, side, until } from "../magicsock/two_planes.ts";

const { SYN, ACK, RST, FIN, PSH } = TCPFlags;

interface RawSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: number[];
  payload?: Uint8Array;
  /** Data offset in 32-bit words as written (default: the real header length). */
  dataOffset?: number;
}

/** An IPv4 packet with a TCP segment written byte by byte, checksums correct unless spoiled. */
function rawTcp(src: Uint8Array, dst: Uint8Array, seg: RawSegment): Uint8Array {
  const options = new Uint8Array(seg.options ?? []);
  const optionsLength = (options.length + 3) & ~3;
  const headerLength = 20 + optionsLength;
  const payload = seg.payload ?? new Uint8Array(0);
  const tcp = new Uint8Array(headerLength + payload.length);
  const view = new DataView(tcp.buffer);
  view.setUint16(0, seg.srcPort);
  view.setUint16(2, seg.dstPort);
  view.setUint32(4, seg.seq >>> 0);
  view.setUint32(8, (seg.ack ?? 0) >>> 0);
  tcp[12] = (seg.dataOffset ?? headerLength / 4) << 4;
  tcp[13] = seg.flags;
  view.setUint16(14, seg.window ?? 65535);
  tcp.set(options, 20);
  tcp.set(payload, headerLength);
  view.setUint16(16, transportChecksum(src, dst, IPProtocol.TCP, tcp));
  const packet = new Uint8Array(20 + tcp.length);
  packet[0] = 0x45;
  new DataView(packet.buffer).setUint16(2, packet.length);
  packet[8] = 64;
  packet[9] = IPProtocol.TCP;
  packet.set(src, 12);
  packet.set(dst, 16);
  new DataView(packet.buffer).setUint16(10, internetChecksum(packet.subarray(0, 20)));
  packet.set(tcp, 20);
  return packet;
}

/** Rewrites the IPv4 total length (the header checksum recomputed, so only the length lies). */
function withTotalLength(packet: Uint8Array, length: number): Uint8Array {
  const out = packet.slice();
  const view = new DataView(out.buffer);
  view.setUint16(2, length);
  view.setUint16(10, 0);
  view.setUint16(10, internetChecksum(out.subarray(0, 20)));
  return out;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

Deno.test("Engine: hostile packets leave the node running and its open connection intact", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const engineA = new Engine({ ...a, plainHTTPDerp: true });
  const engineB = new Engine({
    ...b,
    plainHTTPDerp: true,
    netstack: { limits: { maxHalfOpen: 64, defaultBacklog: 32 } },
  });
  const A = parseIPAddress(a.ip)!;
  const B = parseIPAddress(b.ip)!;
  try {
    engineA.setNetmap(netmapFor(a, [b], server.url));
    engineB.setNetmap(netmapFor(b, [a], server.url));
    await engineA.start();
    await engineB.start();

    // The connection that must survive: an echo on B's port 7000.
    const listener = engineB.netstack.listenTCP(7000);
    const accepted = listener.accept();
    const conn = await engineA.netstack.connectTCP(AddrPort.parse(`${b.ip}:7000`));
    const served = await accepted;
    const echoing = served.readable.pipeTo(served.writable).catch(() => {});
    // A's segments on it, to know B's RCV.NXT while the connection is idle.
    let nextSeq = 0;
    engineA.pipeline.addOutboundHook((packet) => {
      if (packet[9] !== IPProtocol.TCP || packet.length < 40) return null;
      const view = new DataView(packet.buffer, packet.byteOffset);
      if (view.getUint16(20) !== conn.local.port) return null;
      const flags = packet[33];
      const length = packet.length - 20 - (packet[32] >> 4) * 4 + (flags & (SYN | FIN) ? 1 : 0);
      nextSeq = (view.getUint32(24) + length) >>> 0;
      return null;
    });
    await conn.writeAll(new TextEncoder().encode("hi"));
    const two = new Uint8Array(2);
    assert.equal(await conn.read(two), 2);
    const rcvNxt = nextSeq; // B expects this next; the connection is idle now
    const port = conn.local.port;
    // A's DERP link queues at most 128 packets (derp_write_queue.ts) and drops the excess, as a
    // full link does; the flood is paced so that B receives all of it.
    let injected = 0;
    const inject = async (packet: Uint8Array) => {
      engineA.injectToPeer(packet);
      if (++injected % 32 === 0) await new Promise((r) => setTimeout(r, 2));
    };
    const ok = rawTcp(A, B, { srcPort: 40000, dstPort: 7001, seq: 1, flags: SYN });

    // 1. Bad lengths and checksums.
    const badIPChecksum = ok.slice();
    badIPChecksum[10] ^= 0xff;
    const badTCPChecksum = ok.slice();
    badTCPChecksum[36] ^= 0xff;
    const badIHL = ok.slice();
    badIHL[0] = 0x43;
    for (
      const packet of [
        withTotalLength(ok, ok.length + 100), // claims more than it has
        withTotalLength(ok, 30), // cuts the TCP header
        withTotalLength(ok, 12), // shorter than the IP header
        badIPChecksum,
        badTCPChecksum,
        badIHL,
        rawTcp(A, B, { srcPort: 40001, dstPort: 7001, seq: 1, flags: SYN, dataOffset: 15 }),
        rawTcp(A, B, { srcPort: 40002, dstPort: 7001, seq: 1, flags: SYN, dataOffset: 2 }),
        ok.subarray(0, 24), // truncated in the middle of TCP
      ]
    ) {
      await inject(packet);
    }

    // 2. Wild options on SYNs to a listener.
    const wild = [
      [2, 0], // MSS with length 0
      [2, 4, 0, 0], // MSS 0
      [3, 3, 255], // window scale 255
      [4, 7, 1, 1, 1, 1, 1], // SACK-permitted with a length of 7
      [8, 3, 1], // timestamps with a length of 3
      [5, 2], // SACK with no block
      [5, 34, ...new Array(32).fill(0xff)], // SACK with four blocks of garbage
      [0xfe, 40, 1, 2], // unknown option longer than the header
      [0xfe, 1], // length 1
      new Array(40).fill(1), // forty NOPs
      [0, 2, 4, 5, 0xb4], // an option after end-of-options
    ];
    const wildListener = engineB.netstack.listenTCP(7001);
    for (const [i, options] of wild.entries()) {
      await inject(
        rawTcp(A, B, { srcPort: 41000 + i, dstPort: 7001, seq: 1000, flags: SYN, options }),
      );
    }

    // 3. On the open connection: far out of window, old, RSTs and SYNs with wrong numbers.
    const onConn = (s: Omit<RawSegment, "srcPort" | "dstPort">) =>
      inject(rawTcp(A, B, { srcPort: port, dstPort: 7000, ...s }));
    const evil = new TextEncoder().encode("EVIL DATA");
    for (let i = 0; i < 50; i++) {
      await onConn({
        seq: rcvNxt + 0x80000000 + i * 9973,
        ack: 0,
        flags: ACK | PSH,
        payload: evil,
      });
      await onConn({ seq: rcvNxt - 0x10000000 - i, ack: 0, flags: ACK | PSH, payload: evil });
      await onConn({ seq: rcvNxt + 0x80000000 + i, flags: RST }); // out of window: dropped
      await onConn({ seq: rcvNxt + 1 + i, flags: RST }); // in window, not exact: a challenge ACK
      await onConn({ seq: rcvNxt + 12345 + i, flags: SYN }); // SYN on an open connection: challenge ACK
      await onConn({ seq: rcvNxt + 0x40000000, ack: 0, flags: FIN | ACK });
    }

    // 4. A SYN flood on the echo port.
    for (let i = 0; i < 3000; i++) {
      await inject(rawTcp(A, B, { srcPort: 1024 + i, dstPort: 7000, seq: i * 7919, flags: SYN }));
    }
    await until(
      "B has taken the flood",
      () => engineB.netstack.stats.packetsIn > 3000 || undefined,
    );
    await new Promise((r) => setTimeout(r, 200));

    const stats = engineB.netstack.stats;
    assert.ok(stats.malformed >= 5, `malformed packets counted (${stats.malformed})`);
    assert.ok(engineB.netstack.snapshot().halfOpen <= 64, "half-open connections bounded");
    assert.ok(
      stats.tcp.synsDropped > 2000,
      `the flood past the backlog dropped (${stats.tcp.synsDropped})`,
    );
    assert.ok(served.stats.challengeAcks > 0, "challenge ACKs, not resets (RFC 5961)");
    assert.equal(served.state, "ESTABLISHED");
    assert.equal(conn.state, "ESTABLISHED");

    // The open connection still carries data intact, both ways.
    const payload = crypto.getRandomValues(new Uint8Array(65536));
    const big = new Uint8Array(1024 * 1024);
    for (let i = 0; i < big.length; i += payload.length) big.set(payload, i);
    const received: Uint8Array[] = [];
    let got = 0;
    await Promise.all([
      conn.writeAll(big),
      (async () => {
        const buf = new Uint8Array(65536);
        while (got < big.length) {
          const n = await conn.read(buf);
          if (n === null) throw new Error("the echo ended early");
          received.push(buf.slice(0, n));
          got += n;
        }
      })(),
    ]);
    const echoed = new Uint8Array(got);
    let at = 0;
    for (const chunk of received) {
      echoed.set(chunk, at);
      at += chunk.length;
    }
    assert.equal(sha(echoed), sha(big), "the echo is intact: no injected byte got in");

    // And B still accepts new connections.
    const second = listener.accept();
    const fresh = await engineA.netstack.connectTCP(AddrPort.parse(`${b.ip}:7000`), {
      timeoutMs: 10_000,
    });
    (await second).close();
    fresh.close();
    conn.close();
    served.close();
    await echoing;
    wildListener.close();
    listener.close();
  } finally {
    await engineA.close();
    await engineB.close();
    await server.close();
  }
});
