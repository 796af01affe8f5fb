/**
 * Hostile input: random bytes, well-formed packets with random fields and
 * options (valid checksums, so they reach the state machines), SYN floods
 * and blind RST/SYN/data injection on a live connection. The stack must
 * never throw, must stay within its bounds, and the live transfer must
 * finish intact. Seeded (CITADEL_TEST_SEED replays a run).
 */
import assert from "node:assert/strict";
import { IPProtocol } from "../../../../network/netaddr/ip_protocol.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import {
  allocateIPPacket,
  buildTcpPacket,
  buildUdpPacket,
} from "../../../../network/netstack/ip_output.ts";
import { emitTCPSegment, TCPFlags } from "../../../../network/netstack/wire/tcp.ts";
import { receiveAll, sendBulk } from "./bulk.ts";
import { SeededPrng } from "./link_simulator.ts";
import { A4, A6, B4, B6, stackPair } from "./stack_pair.ts";
import { runFor, runUntil } from "./virtual_time.ts";

const MiB = 1024 * 1024;
const SPOOFED4 = parseIPAddress("10.0.0.99")!;
const SPOOFED6 = parseIPAddress("fd7a:115c:a1e0::99")!;
const seed = Number(Deno.env.get("CITADEL_TEST_SEED") ?? 4242);

/** A TCP segment with random header fields and raw random option bytes, valid checksum. */
function randomSegment(
  prng: SeededPrng,
  src: Uint8Array,
  dst: Uint8Array,
  ports?: [number, number],
) {
  const optionLength = 4 * Math.floor(prng.next() * 11);
  const payloadLength = prng.next() < 0.5 ? 0 : Math.floor(prng.next() * 1200);
  const tcpLength = 20 + optionLength + payloadLength;
  const { packet, offset } = allocateIPPacket(src, dst, IPProtocol.TCP, tcpLength, 1);
  const segment = packet.subarray(offset);
  prng.fill(segment);
  // The random bytes after the fixed header stay: they become the options and payload.
  emitTCPSegment(
    {
      srcPort: ports ? ports[0] : prng.nextU32() & 0xffff,
      dstPort: ports ? ports[1] : prng.nextU32() & 0xffff,
      seq: prng.nextU32(),
      ack: prng.nextU32(),
      flags: prng.nextU32() & 0xff,
      window: prng.nextU32() & 0xffff,
      payloadLength: optionLength + payloadLength,
    },
    packet,
    src,
    dst,
    offset,
  );
  // Patch the data offset to cover the random options, then fix the checksum.
  segment[12] = ((20 + optionLength) / 4) << 4 | (segment[12] & 0x0f);
  segment[16] = segment[17] = 0;
  let sum = 0;
  const pseudo = new Uint8Array(src.length * 2 + 4);
  pseudo.set(src);
  pseudo.set(dst, src.length);
  pseudo[pseudo.length - 3] = IPProtocol.TCP;
  pseudo[pseudo.length - 2] = tcpLength >> 8;
  pseudo[pseudo.length - 1] = tcpLength & 0xff;
  for (const part of [pseudo, segment]) {
    for (let i = 0; i < part.length; i += 2) sum += (part[i] << 8) | (part[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  const checksum = ~sum & 0xffff;
  segment[16] = checksum >> 8;
  segment[17] = checksum & 0xff;
  return packet;
}

Deno.test("hostile: random packets never throw, stay bounded, and a live transfer finishes intact", async () => {
  const prng = new SeededPrng(seed);
  const pair = stackPair({
    seed,
    link: { delay: 5, rate: 20_000 },
    stackB: { limits: { maxHalfOpen: 256, maxTcpConnections: 512 } },
  });
  const listener = pair.b.listenTCP(80, { backlog: 64 });
  pair.b.listenUDP(53);
  const client = await runFor(pair.clock, pair.a.connectTCP(pair.bAddr(80)));
  const server = await runFor(pair.clock, listener.accept());
  const ports: [number, number] = [client.local.port, 80];
  const bytes = 16 * MiB;
  const sent = sendBulk(client, bytes, seed);
  const received = receiveAll(server);
  let injected = 0;
  // Inject 100 packets every 5 ms of virtual time while the transfer runs.
  const inject = () => {
    for (let i = 0; i < 100; i++) {
      const kind = prng.next();
      let packet: Uint8Array;
      const v6 = prng.next() < 0.3;
      const src = v6 ? A6 : A4, dst = v6 ? B6 : B4;
      if (kind < 0.2) {
        packet = prng.fill(new Uint8Array(Math.floor(prng.next() * 1500)));
        if (packet.length > 0) packet[0] = (v6 ? 0x60 : 0x45) | (packet[0] & 0x0f);
      } else if (kind < 0.3) {
        // A SYN flood on the listening port from a spoofed address no one answers for.
        packet = buildTcpPacket(
          v6 ? SPOOFED6 : SPOOFED4,
          dst,
          {
            srcPort: 1024 + (prng.nextU32() % 60_000),
            dstPort: 80,
            seq: prng.nextU32(),
            ack: 0,
            flags: TCPFlags.SYN,
            window: 65535,
            options: { mss: 1460, windowScale: 7, sackPermitted: true },
          },
          0,
          undefined,
          1,
        );
      } else if (kind < 0.6) {
        packet = randomSegment(prng, src, dst);
      } else if (kind < 0.85) {
        packet = randomSegment(prng, A4, B4, ports);
      } else if (kind < 0.95) {
        packet = buildUdpPacket(
          src,
          dst,
          prng.nextU32() & 0xffff,
          prng.next() < 0.5 ? 53 : prng.nextU32() & 0xffff,
          prng.fill(new Uint8Array(Math.floor(prng.next() * 500))),
          1,
        );
      } else {
        const { packet: p, offset } = allocateIPPacket(
          src,
          dst,
          v6 ? IPProtocol.ICMPv6 : IPProtocol.ICMPv4,
          8 + 48,
          1,
        );
        prng.fill(p.subarray(offset));
        packet = p;
      }
      pair.b.deliver(packet);
      injected++;
    }
    const s = pair.b.snapshot();
    assert.ok(s.halfOpen <= 256, `half-open ${s.halfOpen}`);
    assert.ok(s.tcpConnections <= 512 + 4096, `connections ${s.tcpConnections}`);
    assert.ok(s.bufferedBytes <= 3 * 4 * MiB + 2 * MiB, `buffered ${s.bufferedBytes}`);
    if (!done) pair.clock.setTimeout(inject, 5);
  };
  let done = false;
  pair.clock.setTimeout(inject, 10);
  const got = await runFor(pair.clock, received, 3_600_000, "transfer under attack");
  done = true;
  assert.equal(got.bytes, bytes);
  assert.equal(got.sha256, (await sent).sha256, `seed ${seed}`);
  assert.ok(injected > 10_000, `injected ${injected}`);
  assert.ok(
    server.stats.challengeAcks + server.stats.dropped > 0,
    "the attack reached the connection",
  );
  assert.ok(pair.b.stats.tcp.synsDropped > 0, "the SYN flood hit the bounds");
  // Everything the attack opened goes away.
  client.close();
  server.close();
  listener.close();
  await runUntil(pair.clock, () => pair.b.snapshot().tcpConnections === 0, 600_000, "cleanup");
  console.log(`hostile: ${injected} packets injected; B stats ${JSON.stringify(pair.b.stats)}`);
});

Deno.test("hostile: blind RSTs and SYNs with wrong sequence numbers leave a connection intact", async () => {
  const prng = new SeededPrng(seed + 1);
  const pair = stackPair({ seed });
  const listener = pair.b.listenTCP(80);
  const client = await runFor(pair.clock, pair.a.connectTCP(pair.bAddr(80)));
  const server = await runFor(pair.clock, listener.accept());
  for (let i = 0; i < 20_000; i++) {
    const flags = i % 2 ? TCPFlags.RST : TCPFlags.SYN;
    const packet = buildTcpPacket(
      A4,
      B4,
      {
        srcPort: client.local.port,
        dstPort: 80,
        seq: prng.nextU32(),
        ack: prng.nextU32(),
        flags: flags | (prng.next() < 0.5 ? TCPFlags.ACK : 0),
        window: 65535,
      },
      0,
      undefined,
      1,
    );
    pair.b.deliver(packet);
  }
  const bytes = 1 * MiB;
  const sent = sendBulk(client, bytes, seed);
  const got = await runFor(pair.clock, receiveAll(server));
  assert.equal(got.sha256, (await sent).sha256);
  assert.equal(server.state, "CLOSE-WAIT");
  assert.ok(server.stats.challengeAcks > 0);
});

Deno.test("hostile: truncated and corrupted copies of real segments are dropped", async () => {
  const prng = new SeededPrng(seed + 2);
  const captured: Uint8Array[] = [];
  const pair = stackPair({ seed });
  const original = pair.ab.tap;
  pair.ab.tap = (p) => {
    if (captured.length < 200) captured.push(p.slice());
    return original ? original(p) : p;
  };
  const listener = pair.b.listenTCP(80);
  const client = await runFor(pair.clock, pair.a.connectTCP(pair.bAddr(80)));
  const server = await runFor(pair.clock, listener.accept());
  const sent = sendBulk(client, 256 * 1024, seed);
  const got = await runFor(pair.clock, receiveAll(server));
  assert.equal(got.sha256, (await sent).sha256);
  const before = server.stats.segmentsReceived;
  for (let i = 0; i < 20_000; i++) {
    const p = captured[Math.floor(prng.next() * captured.length)].slice();
    if (prng.next() < 0.5) {
      pair.b.deliver(p.subarray(0, Math.floor(prng.next() * p.length)));
    } else {
      p[Math.floor(prng.next() * p.length)] ^= 1 << Math.floor(prng.next() * 8);
      pair.b.deliver(p);
    }
  }
  // Corrupted bytes fail a checksum (IP header or TCP); truncations fail parsing or the checksum.
  assert.ok(server.stats.segmentsReceived - before < 200, "almost nothing got through to TCP");
});
