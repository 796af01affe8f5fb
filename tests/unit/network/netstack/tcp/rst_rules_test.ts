/**
 * RST generation (RFC 9293 §3.10.7.1) and acceptance (RFC 9293 §3.10.7.3–4,
 * RFC 5961 blind-attack mitigations, RFC 1337), driven by a scripted peer.
 */
import assert from "node:assert/strict";
import { TCPFlags } from "../../../../../network/netstack/wire/tcp.ts";
import { TcpState } from "../../../../../network/netstack/tcp/tcp_state.ts";
import { RawPeer } from "../raw_peer.ts";
import { activeOpen, passiveOpen, states, text } from "../handshake.ts";
import { settle } from "../virtual_time.ts";

const { SYN, ACK, FIN, RST } = TCPFlags;

Deno.test("rst: a SYN to a closed port gets <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>", () => {
  const t = new RawPeer();
  assert.equal(t.send({ seq: 777, flags: SYN }), true);
  const rst = t.next("RST");
  assert.equal(rst.flags, RST | ACK);
  assert.equal(rst.seq, 0);
  assert.equal(rst.ack, 778);
  assert.equal(rst.window, 0);
  assert.equal(rst.srcPort, t.stackPort);
  assert.equal(rst.dstPort, t.peerPort);
  assert.deepEqual(states(t), []);
});

Deno.test("rst: data with ACK to a closed port gets <SEQ=SEG.ACK><CTL=RST>; data and FIN count", () => {
  const t = new RawPeer();
  t.send({ seq: 100, ack: 5555, flags: ACK }, text("abc"));
  const rst = t.next("RST");
  assert.equal(rst.flags, RST);
  assert.equal(rst.seq, 5555);
  t.send({ seq: 100, flags: FIN }, text("abc"));
  assert.equal(t.next("RST,ACK").ack, 104, "SEG.SEQ + 3 data + 1 FIN");
});

Deno.test("rst: a RST is never answered with a RST", () => {
  const t = new RawPeer();
  t.send({ seq: 1, flags: RST });
  t.send({ seq: 1, ack: 2, flags: RST | ACK });
  t.none("no answer to a RST");
  t.stack.listenTCP(t.stackPort);
  t.send({ seq: 1, flags: RST });
  t.none("no answer to a RST at a listener");
});

Deno.test("rst: an ACK to a listener gets a RST; a bare FIN is dropped", () => {
  const t = new RawPeer();
  t.stack.listenTCP(t.stackPort);
  t.send({ seq: 10, ack: 999, flags: ACK });
  const rst = t.next("RST");
  assert.equal(rst.flags, RST);
  assert.equal(rst.seq, 999);
  t.send({ seq: 10, flags: FIN });
  t.none();
});

Deno.test("rst: IPv6 closed port gets a RST too", () => {
  const t = new RawPeer({ v6: true });
  t.send({ seq: 41, flags: SYN });
  const rst = t.next("RST");
  assert.equal(rst.ip.version, 6);
  assert.equal(rst.ack, 42);
});

Deno.test("rst: exact RCV.NXT resets; in-window RST gets a challenge ACK; outside is dropped", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  // RFC 5961 §3.2: in the window but not exact → challenge ACK, connection survives.
  t.send({ seq: 1001 + 100, flags: RST });
  const challenge = t.next("challenge ACK");
  assert.equal(challenge.flags, ACK);
  assert.equal(challenge.seq, iss + 1);
  assert.equal(challenge.ack, 1001);
  assert.equal(conn.state, TcpState.Established);
  // Outside the window → silently dropped.
  t.send({ seq: 1001 + 10_000_000, flags: RST });
  t.send({ seq: 1001 - 5, flags: RST });
  t.none("nothing for out-of-window RSTs");
  assert.equal(conn.state, TcpState.Established);
  // Data still flows.
  t.send({ seq: 1001, ack: iss + 1, flags: ACK }, text("still here"));
  assert.equal(await conn.read(new Uint8Array(32)), 10);
  // Exact → reset.
  t.send({ seq: 1011, flags: RST });
  await settle();
  assert.deepEqual(states(t), []);
  await assert.rejects(conn.read(new Uint8Array(1)), Deno.errors.ConnectionReset);
});

Deno.test("rst: a SYN on an established connection gets a challenge ACK (RFC 5961 §4)", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  for (const seq of [1001, 1500, 99_999_999]) {
    t.send({ seq, flags: SYN });
    const ack = t.next("challenge ACK");
    assert.equal(ack.flags, ACK);
    assert.equal(ack.seq, iss + 1);
    assert.equal(ack.ack, 1001);
  }
  assert.equal(conn.state, TcpState.Established);
  assert.equal(conn.stats.challengeAcks, 3);
});

Deno.test("rst: ACKs outside [SND.UNA − MAX.SND.WND, SND.NXT] are dropped with an ACK (RFC 5961 §5)", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  // Data acknowledging bytes we never sent is not accepted.
  t.send({ seq: 1001, ack: iss + 1 + 5000, flags: ACK }, text("injected"));
  assert.equal(t.next("challenge ACK").ack, 1001, "the data was not taken");
  assert.equal(conn.stats.challengeAcks, 1);
  t.send({ seq: 1001, ack: (iss + 1 - 1_000_000) >>> 0, flags: ACK }, text("injected"));
  assert.equal(t.next("challenge ACK").ack, 1001);
  // A valid ACK with the same data is taken.
  t.send({ seq: 1001, ack: iss + 1, flags: ACK }, text("real"));
  const buf = new Uint8Array(16);
  assert.equal(await conn.read(buf), 4);
  assert.equal(new TextDecoder().decode(buf.subarray(0, 4)), "real");
});

Deno.test("rst: challenge ACKs are rate limited across the stack (RFC 5961 §7)", async () => {
  const t = new RawPeer({ stack: { limits: { challengeAcksPerSecond: 5 } } });
  const { conn } = await passiveOpen(t);
  for (let i = 0; i < 50; i++) t.send({ seq: 2000 + i, flags: RST });
  assert.equal(t.drain().length, 5);
  await t.advance(1000);
  t.send({ seq: 3000, flags: RST });
  assert.equal(t.drain().length, 1, "the bucket refills");
  assert.equal(conn.state, TcpState.Established);
});

Deno.test("rst: in SYN-SENT a RST counts only with an acceptable ACK; then connect is refused", async () => {
  const t = new RawPeer();
  const connecting = t.stack.connectTCP(t.peerAddr);
  const outcome = connecting.then(() => "connected", (e) => e);
  const syn = t.next("SYN");
  t.stackPort = syn.srcPort;
  t.send({ seq: 0, flags: RST });
  t.send({ seq: 0, ack: syn.seq + 77, flags: RST | ACK });
  t.none();
  assert.deepEqual(states(t), [TcpState.SynSent]);
  // An unacceptable ACK without RST gets a RST of its own.
  t.send({ seq: 0, ack: syn.seq + 77, flags: ACK });
  const rst = t.next("RST for the bad ACK");
  assert.equal(rst.flags, RST);
  assert.equal(rst.seq, syn.seq + 77);
  t.send({ seq: 0, ack: syn.seq + 1, flags: RST | ACK });
  await settle();
  const error = await outcome;
  assert.ok(error instanceof Deno.errors.ConnectionRefused, String(error));
  assert.equal(error.name, "ConnectionRefusedError");
  assert.deepEqual(states(t), []);
});

Deno.test("rst: a RST in SYN-RECEIVED (passive) just drops the half-open connection", () => {
  const t = new RawPeer();
  const listener = t.stack.listenTCP(t.stackPort);
  t.send({ seq: 1000, flags: SYN });
  t.next("SYN-ACK");
  t.send({ seq: 1001, flags: RST });
  assert.deepEqual(states(t), []);
  assert.equal(t.stack.snapshot().halfOpen, 0);
  assert.equal(listener.queued, 0);
});

Deno.test("rst: an unacceptable ACK in SYN-RECEIVED gets <SEQ=SEG.ACK><CTL=RST>", () => {
  const t = new RawPeer();
  t.stack.listenTCP(t.stackPort);
  t.send({ seq: 1000, flags: SYN });
  const synAck = t.next("SYN-ACK");
  t.send({ seq: 1001, ack: synAck.seq + 500, flags: ACK });
  const rst = t.next("RST");
  assert.equal(rst.flags, RST);
  assert.equal(rst.seq, synAck.seq + 500);
  assert.deepEqual(states(t), [TcpState.SynReceived]);
});

Deno.test("rst: TIME-WAIT ignores RSTs (RFC 1337)", async () => {
  const t = new RawPeer();
  const { conn, iss } = await activeOpen(t);
  await conn.closeWrite();
  t.next("FIN");
  t.send({ seq: 5001, ack: iss + 2, flags: FIN | ACK });
  t.next("ACK");
  assert.deepEqual(states(t), [TcpState.TimeWait]);
  t.send({ seq: 5002, flags: RST });
  assert.deepEqual(states(t), [TcpState.TimeWait]);
});

Deno.test("rst: a new SYN reopens a TIME-WAIT 4-tuple only with a higher sequence number (RFC 6191)", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  await conn.closeWrite();
  t.next("FIN");
  t.send({ seq: 1001, ack: iss + 2, flags: FIN | ACK });
  t.next("ACK");
  assert.deepEqual(states(t), [TcpState.TimeWait]);
  // An old sequence number: answered as in TIME-WAIT (a challenge ACK), no new connection.
  t.send({ seq: 500, flags: SYN });
  assert.equal(t.next("challenge ACK").flags, ACK);
  assert.deepEqual(states(t), [TcpState.TimeWait]);
  t.send({ seq: 900_000, flags: SYN });
  const synAck = t.next("SYN-ACK of the new connection");
  assert.equal(synAck.flags, SYN | ACK);
  assert.equal(synAck.ack, 900_001);
  assert.deepEqual(states(t), [TcpState.SynReceived]);
});

Deno.test("rst: close() with unread data sends a RST (RFC 2525 §2.17)", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  t.send({ seq: 1001, ack: iss + 1, flags: ACK }, text("unread"));
  t.drain();
  conn.close();
  const rst = t.next("RST");
  assert.equal(rst.flags, RST);
  assert.equal(rst.seq, iss + 1);
  assert.deepEqual(states(t), []);
});

Deno.test("rst: data arriving after close() is answered with a RST", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  conn.close();
  assert.ok(t.next("FIN").flags & FIN);
  t.send({ seq: 1001, ack: iss + 2, flags: ACK }, text("late"));
  const rst = t.next("RST");
  assert.equal(rst.flags, RST);
  assert.deepEqual(states(t), []);
});
