/**
 * The stack as a whole: dispatch, closed-port answers (RST, ICMP port
 * unreachable, rate limited), ICMP errors for our connections, UDP both
 * ways, echo, bounds (SYN floods, backlog, UDP queues), and connections
 * returning every resource, in virtual time.
 */
import assert from "node:assert/strict";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { IPProtocol } from "../../../../network/netaddr/ip_protocol.ts";
import { allocateIPPacket, buildUdpPacket } from "../../../../network/netstack/ip_output.ts";
import { emitICMPv4Echo, parseICMPv4Message } from "../../../../network/netstack/wire/icmpv4.ts";
import { emitICMPv4DestinationUnreachable } from "../../../../network/netstack/wire/icmpv4.ts";
import {
  emitICMPv6DestinationUnreachable,
  parseICMPv6Message,
} from "../../../../network/netstack/wire/icmpv6.ts";
import { TCPFlags } from "../../../../network/netstack/wire/tcp.ts";
import { TcpState } from "../../../../network/netstack/tcp/tcp_state.ts";
import { RawPeer } from "./raw_peer.ts";
import { passiveOpen, states, text } from "./handshake.ts";
import { stackPair } from "./stack_pair.ts";
import { runFor, runUntil, settle } from "./virtual_time.ts";

const { SYN, ACK } = TCPFlags;

function udpFromPeer(t: RawPeer, dstPort: number, payload: Uint8Array, srcPort = 5353) {
  return buildUdpPacket(t.theirs, t.ours, srcPort, dstPort, payload, 9);
}

Deno.test("netstack: deliver says whether a packet was for us", () => {
  const t = new RawPeer();
  assert.equal(t.deliverRaw(new Uint8Array(0)), false);
  assert.equal(t.deliverRaw(new Uint8Array([0x45, 1, 2])), false);
  const elsewhere = buildUdpPacket(t.theirs, parseIPAddress("10.9.9.9")!, 1, 2, text("x"), 1);
  assert.equal(t.deliverRaw(elsewhere), false);
  assert.equal(t.stack.stats.notForUs, 3);
  assert.equal(t.deliverRaw(udpFromPeer(t, 9, text("x"))), true);
});

for (const v6 of [false, true]) {
  const family = v6 ? "IPv6" : "IPv4";

  Deno.test(`netstack: connect to a closed port is refused (${family})`, async () => {
    const p = stackPair();
    const error = await runFor(p.clock, p.a.connectTCP(p.bAddr(4444, v6)).catch((e) => e));
    assert.ok(error instanceof Deno.errors.ConnectionRefused, String(error));
    assert.equal(p.b.stats.tcp.resetsSent, 1);
    assert.deepEqual(p.a.snapshot().tcpConnections, 0);
  });

  Deno.test(`netstack: UDP both ways (${family})`, async () => {
    const p = stackPair();
    const server = p.a.listenUDP(53);
    const client = p.b.listenUDP(0);
    assert.ok(client.port >= 49152);
    await client.send(text("query"), p.aAddr(53, v6));
    const [query, from] = await runFor(p.clock, server.receive());
    assert.equal(new TextDecoder().decode(query), "query");
    assert.equal(
      from.key,
      new AddrPort(
        v6 ? parseIPAddress("fd7a:115c:a1e0::2")! : parseIPAddress("10.0.0.2")!,
        client.port,
      ).key,
    );
    await server.send(text("answer"), from);
    const [answer, back] = await runFor(p.clock, client.receive());
    assert.equal(new TextDecoder().decode(answer), "answer");
    assert.equal(back.port, 53);
    server.close();
    client.close();
    assert.equal(p.a.snapshot().udpSockets, 0);
  });
}

Deno.test("netstack: UDP to a closed port gets ICMP port unreachable (v4 type 3 code 3), rate limited", () => {
  const t = new RawPeer({ stack: { limits: { icmpErrorBurst: 5, icmpErrorsPerSecond: 10 } } });
  const datagram = udpFromPeer(t, 9999, text("anyone?"));
  t.deliverRaw(datagram);
  const error = t.other.shift()!;
  assert.equal(error.protocol, IPProtocol.ICMPv4);
  assert.deepEqual([...error.dst], [...t.theirs]);
  const icmp = parseICMPv4Message(error.payload);
  assert.equal(icmp.kind, "destination-unreachable");
  assert.equal(icmp.type, 3);
  assert.equal(icmp.code, 3);
  if (icmp.kind !== "destination-unreachable") throw new Error();
  assert.deepEqual([...icmp.original], [...datagram], "the whole small datagram is quoted");
  for (let i = 0; i < 100; i++) t.deliverRaw(datagram);
  assert.equal(t.other.length, 4, "burst of 5 in all, then the limit");
  assert.equal(t.stack.stats.icmpErrorsLimited, 96);
});

Deno.test("netstack: UDP to a closed port over IPv6 gets type 1 code 4", () => {
  const t = new RawPeer({ v6: true });
  t.deliverRaw(udpFromPeer(t, 9999, text("anyone?")));
  const error = t.other.shift()!;
  assert.equal(error.protocol, IPProtocol.ICMPv6);
  const icmp = parseICMPv6Message(error.payload);
  assert.equal(icmp.type, 1);
  assert.equal(icmp.code, 4);
});

Deno.test("netstack: no ICMP error for a multicast or broadcast source", () => {
  const t = new RawPeer();
  const packet = buildUdpPacket(parseIPAddress("224.0.0.1")!, t.ours, 1, 9999, text("x"), 1);
  t.deliverRaw(packet);
  assert.equal(t.other.length, 0);
});

Deno.test("netstack: echo requests are answered (v4)", () => {
  const t = new RawPeer();
  const { packet, offset } = allocateIPPacket(t.theirs, t.ours, IPProtocol.ICMPv4, 12, 3);
  emitICMPv4Echo(
    { kind: "echo-request", identifier: 7, sequence: 1, data: text("ping") },
    packet,
    offset,
  );
  assert.equal(t.deliverRaw(packet), true);
  const reply = parseICMPv4Message(t.other.shift()!.payload);
  assert.equal(reply.kind, "echo-reply");
});

function icmpV4Error(t: RawPeer, code: number, quoted: Uint8Array): Uint8Array {
  const original = quoted.subarray(0, 28);
  const { packet, offset } = allocateIPPacket(t.theirs, t.ours, IPProtocol.ICMPv4, 8 + 28, 3);
  emitICMPv4DestinationUnreachable({ code, original }, packet, offset);
  return packet;
}

Deno.test("netstack: ICMP port unreachable aborts a connecting socket (v4)", async () => {
  const t = new RawPeer();
  const outcome = t.stack.connectTCP(t.peerAddr).then(() => "connected", (e) => e);
  const syn = t.next("SYN");
  // An error quoting a different sequence number is not believed (RFC 5927).
  const raw = syn.raw;
  const wrongSeq = raw.slice();
  wrongSeq[24] ^= 0xff;
  t.deliverRaw(icmpV4Error(t, 3, wrongSeq));
  await settle();
  assert.deepEqual(states(t), [TcpState.SynSent]);
  t.deliverRaw(icmpV4Error(t, 3, raw));
  await settle();
  const error = await outcome;
  assert.ok(error instanceof Deno.errors.ConnectionRefused, String(error));
  assert.match(error.message, /ICMP port-unreachable/);
  assert.deepEqual(states(t), []);
});

Deno.test("netstack: ICMPv6 unreachable (no route) aborts a connecting socket as unreachable", async () => {
  const t = new RawPeer({ v6: true });
  const outcome = t.stack.connectTCP(t.peerAddr).then(() => "connected", (e) => e);
  const syn = t.next("SYN");
  const raw = syn.raw;
  const { packet, offset } = allocateIPPacket(
    t.theirs,
    t.ours,
    IPProtocol.ICMPv6,
    8 + raw.length,
    3,
  );
  emitICMPv6DestinationUnreachable({ code: 0, original: raw }, packet, t.theirs, t.ours, offset);
  t.deliverRaw(packet);
  await settle();
  const error = await outcome;
  assert.equal(error.name, "HostUnreachableError");
});

Deno.test("netstack: ICMP errors on an established connection are soft", async () => {
  const t = new RawPeer();
  const { conn } = await passiveOpen(t);
  await conn.write(text("data"));
  const data = t.next("data");
  t.deliverRaw(icmpV4Error(t, 1, data.raw));
  await settle();
  assert.equal(conn.state, TcpState.Established);
});

Deno.test("netstack: a UDP socket's queue is bounded; drops are counted", async () => {
  const t = new RawPeer({ stack: { limits: { udpQueueDatagrams: 10 } } });
  const socket = t.stack.listenUDP(7);
  for (let i = 0; i < 25; i++) t.deliverRaw(udpFromPeer(t, 7, text(`d${i}`)));
  assert.equal(socket.queued, 10);
  assert.equal(socket.stats.dropped, 15);
  assert.equal(new TextDecoder().decode((await socket.receive())[0]), "d0");
  assert.equal(t.other.length, 0, "no ICMP for a full queue");
});

Deno.test("netstack: UDP datagrams larger than the MTU are refused", async () => {
  const p = stackPair();
  const socket = p.a.listenUDP(0);
  await assert.rejects(socket.send(new Uint8Array(1253), p.bAddr(9)), /MTU/);
  assert.equal(await socket.send(new Uint8Array(1252), p.bAddr(9)), 1252);
});

Deno.test("netstack: ports in use, and a family we have no address of", async () => {
  const p = stackPair({ stackA: { addresses: () => [parseIPAddress("10.0.0.1")!] } });
  p.b.listenTCP(80);
  assert.throws(() => p.b.listenTCP(80), Deno.errors.AddrInUse);
  p.b.listenUDP(53);
  assert.throws(() => p.b.listenUDP(53), Deno.errors.AddrInUse);
  await assert.rejects(p.a.connectTCP(p.bAddr(80, true)), Deno.errors.AddrNotAvailable);
});

Deno.test("netstack: a SYN flood fills the backlog and the half-open bound, nothing more", async () => {
  const t = new RawPeer({ stack: { limits: { maxHalfOpen: 64 } } });
  const listener = t.stack.listenTCP(t.stackPort, { backlog: 16 });
  const other = t.stack.listenTCP(81, { backlog: 1000 });
  for (let i = 0; i < 10_000; i++) {
    t.peerPort = 1024 + i;
    t.stackPort = i % 2 ? 80 : 81;
    t.send({ seq: i * 7919, flags: SYN, options: { mss: 1460 } });
  }
  const snap = t.stack.snapshot();
  assert.equal(snap.halfOpen, 64, "global half-open bound");
  assert.equal(listener.halfOpen, 16, "the listener's backlog");
  assert.equal(t.stack.stats.tcp.synsDropped, 10_000 - 64);
  // Half-open connections expire after their SYN-ACK retries; the listener works again.
  for (let i = 0; i < 70; i++) await t.advance(1000);
  assert.equal(t.stack.snapshot().halfOpen, 0);
  assert.equal(t.stack.snapshot().tcpConnections, 0);
  t.drain();
  t.stackPort = 80;
  t.peerPort = 50_000;
  const { conn } = await passiveOpenOn(t, listener);
  assert.equal(conn.state, TcpState.Established);
  other.close();
});

async function passiveOpenOn(
  t: RawPeer,
  listener: {
    accept(): Promise<import("../../../../network/netstack/socket/tcp_conn.ts").TcpConn>;
  },
) {
  const accepted = listener.accept();
  t.send({ seq: 1, flags: SYN, options: { mss: 1460 } });
  const synAck = t.next("SYN-ACK");
  t.send({ seq: 2, ack: synAck.seq + 1, flags: ACK });
  await settle();
  return { conn: await accepted };
}

Deno.test("netstack: a full accept queue drops further SYNs until accept makes room", async () => {
  const t = new RawPeer();
  const listener = t.stack.listenTCP(t.stackPort, { backlog: 2 });
  for (let i = 0; i < 3; i++) {
    t.peerPort = 2000 + i;
    t.send({ seq: 100, flags: SYN });
    const synAck = t.out.shift();
    if (i < 2) {
      assert.ok(synAck);
      t.send({ seq: 101, ack: synAck.seq + 1, flags: ACK });
    } else {
      assert.equal(synAck, undefined, "the third SYN finds no room");
    }
  }
  assert.equal(listener.queued, 2);
  await listener.accept();
  t.peerPort = 2002;
  t.send({ seq: 100, flags: SYN });
  assert.equal(t.next("SYN-ACK now").flags, SYN | ACK);
});

Deno.test("netstack: closing a listener resets what it queued and ends iteration", async () => {
  const t = new RawPeer();
  const listener = t.stack.listenTCP(t.stackPort);
  t.send({ seq: 100, flags: SYN });
  const synAck = t.next("SYN-ACK");
  t.send({ seq: 101, ack: synAck.seq + 1, flags: ACK });
  const iterated: unknown[] = [];
  const loop = (async () => {
    for await (const c of listener) iterated.push(c);
  })();
  await settle();
  listener.close();
  await loop;
  assert.equal(iterated.length, 1);
  await assert.rejects(listener.accept(), /closed/);
  t.peerPort = 40_001;
  t.send({ seq: 1, flags: SYN });
  assert.ok(t.drain().some((s) => s.flags & TCPFlags.RST), "a closed listener's port answers RST");
});

Deno.test("netstack: 1,000 connections in a row and 100 at once return every resource", async () => {
  const p = stackPair({ link: { delay: 1 } });
  const listener = p.b.listenTCP(7);
  const serve = (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(64);
        const n = await conn.read(buf);
        if (n) await conn.write(buf.subarray(0, n));
        conn.close();
      })();
    }
  })();
  const exchange = async () => {
    const conn = await p.a.connectTCP(p.bAddr(7));
    await conn.write(text("hello"));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    assert.equal(n, 5);
    assert.equal(await conn.read(buf), null);
    conn.close();
  };
  for (let i = 0; i < 1000; i++) await runFor(p.clock, exchange());
  await runFor(p.clock, Promise.all(Array.from({ length: 100 }, exchange)));
  assert.ok(p.a.snapshot().timeWait > 0 || p.b.snapshot().timeWait > 0);
  // TIME-WAIT ends after 60 s; then nothing is left but the listener.
  await runUntil(p.clock, () => false, 61_000).catch(() => {});
  for (const stack of [p.a, p.b]) {
    const s = stack.snapshot();
    assert.equal(s.tcpConnections, 0, JSON.stringify(s));
    assert.equal(s.bufferedBytes, 0);
    assert.equal(s.timers, 0);
  }
  assert.equal(p.b.snapshot().listeners, 1);
  assert.equal(p.a.stats.tcp.connected, 1100);
  listener.close();
  await serve;
});

Deno.test("netstack: close() resets every connection and refuses new work", async () => {
  const p = stackPair();
  p.b.listenTCP(7);
  const conn = await runFor(p.clock, p.a.connectTCP(p.bAddr(7)));
  p.a.close();
  await settle();
  assert.equal(conn.state, TcpState.Closed);
  assert.throws(() => p.a.listenTCP(8), /closed/);
  await runUntil(p.clock, () => p.b.snapshot().tcpConnections === 0, 1000, "peer reset");
});

Deno.test("netstack: a connection read to the end in TIME-WAIT holds no buffer", async () => {
  // Our FIN first, then the peer's data and FIN: TIME-WAIT with the data still unread.
  const p = stackPair({ link: { delay: 1 } });
  const listener = p.b.listenTCP(7);
  const accepted = listener.accept();
  const conn = await runFor(p.clock, p.a.connectTCP(p.bAddr(7)));
  const server = await runFor(p.clock, accepted);
  await runFor(p.clock, conn.closeWrite());
  await runFor(p.clock, server.write(text("hello")));
  server.close();
  await runUntil(p.clock, () => p.a.snapshot().timeWait === 1, 1_000);
  assert.ok(p.a.snapshot().bufferedBytes > 0, "the unread bytes are held");
  const buf = new Uint8Array(64);
  assert.equal(await runFor(p.clock, conn.read(buf)), 5);
  assert.equal(await runFor(p.clock, conn.read(buf)), null);
  const s = p.a.snapshot();
  assert.equal(s.timeWait, 1, "still in TIME-WAIT");
  assert.equal(s.bufferedBytes, 0, JSON.stringify(s));
  conn.close();
  listener.close();
});
