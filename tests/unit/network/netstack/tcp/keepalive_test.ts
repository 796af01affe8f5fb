/**
 * Keepalive (RFC 9293 §3.8.4: off by default), and timestamps (RFC 7323
 * §3–5: negotiation, echo, PAWS).
 */
import assert from "node:assert/strict";
import { TCPFlags } from "../../../../../network/netstack/wire/tcp.ts";
import { TcpState } from "../../../../../network/netstack/tcp/tcp_state.ts";
import { RawPeer } from "../raw_peer.ts";
import { passiveOpen, states, text } from "../handshake.ts";
import { settle } from "../virtual_time.ts";

const { ACK } = TCPFlags;
const keepAlive = { idle: 10_000, interval: 1_000, count: 3 };

Deno.test("keepalive: off by default, an idle connection sends nothing for hours", async () => {
  const t = new RawPeer();
  const { conn } = await passiveOpen(t);
  for (let i = 0; i < 36; i++) await t.advance(300_000);
  t.none("no keepalive probes");
  assert.equal(conn.state, TcpState.Established);
});

Deno.test("keepalive: probes after the idle time; answers keep the connection; silence ends it", async () => {
  const t = new RawPeer({ stack: { tcp: { keepAlive } } });
  const { conn, iss } = await passiveOpen(t);
  conn.setKeepAlive(true);
  await t.advance(9_999);
  t.none("nothing before the idle time");
  await t.advance(1);
  const probe = t.next("keepalive probe");
  assert.equal(probe.seq, (iss + 1 - 1) >>> 0, "SND.UNA − 1");
  assert.equal(probe.payload.length, 0);
  assert.equal(probe.flags, ACK);
  // Answered: the next probe waits a whole idle time again.
  t.send({ seq: 1001, ack: iss + 1, flags: ACK });
  await t.advance(9_999);
  t.none("an answer restarts the idle time");
  await t.advance(1);
  t.next("second probe");
  // No answers: three probes a second apart, then the connection times out.
  const failed = conn.read(new Uint8Array(1)).then(() => "read", (e) => e);
  await t.advance(1_000);
  t.next("probe 2");
  await t.advance(1_000);
  t.next("probe 3");
  await t.advance(1_000);
  await settle();
  const error = await failed;
  assert.ok(error instanceof Deno.errors.TimedOut, String(error));
  assert.match(error.message, /keepalive/);
  assert.deepEqual(states(t), []);
});

Deno.test("keepalive: can be asked for at connect", async () => {
  const t = new RawPeer({ stack: { tcp: { keepAlive } } });
  const connecting = t.stack.connectTCP(t.peerAddr, { keepAlive: true });
  const syn = t.next("SYN");
  t.stackPort = syn.srcPort;
  t.send({ seq: 5000, ack: syn.seq + 1, flags: TCPFlags.SYN | ACK, options: { mss: 1460 } });
  t.next("ACK");
  await connecting;
  await t.advance(10_000);
  assert.equal(t.next("probe").seq, syn.seq);
});

Deno.test("timestamps: negotiated, echoed, and old segments dropped by PAWS", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t, 1000, {
    mss: 1460,
    timestamps: { value: 500, echoReply: 0 },
  });
  t.send({
    seq: 1001,
    ack: iss + 1,
    flags: ACK,
    options: { timestamps: { value: 600, echoReply: 0 } },
  }, text("new"));
  await t.advance(50);
  const ack = t.next("ACK");
  assert.equal(ack.options.timestamps?.echoReply, 600, "TSecr echoes the latest TSval");
  const buf = new Uint8Array(16);
  assert.equal(await conn.read(buf), 3);
  // An older TSval is a wrapped-around old duplicate: dropped, answered with an ACK.
  t.send({
    seq: 1004,
    ack: iss + 1,
    flags: ACK,
    options: { timestamps: { value: 550, echoReply: 0 } },
  }, text("old"));
  const dupAck = t.next("ACK for the PAWS drop");
  assert.equal(dupAck.ack, 1004, "the old segment's data was not taken");
  assert.equal(conn.stats.dropped, 1);
  // A RST is exempt from PAWS.
  t.send({ seq: 1004, flags: TCPFlags.RST, options: { timestamps: { value: 1, echoReply: 0 } } });
  assert.deepEqual(states(t), []);
});

Deno.test("timestamps: not used when the peer's SYN lacks them", async () => {
  const t = new RawPeer();
  const listener = t.stack.listenTCP(t.stackPort);
  t.send({ seq: 1, flags: TCPFlags.SYN, options: { mss: 1460, sackPermitted: true } });
  const synAck = t.next("SYN-ACK");
  assert.equal(synAck.options.timestamps, undefined);
  assert.equal(synAck.options.sackPermitted, true);
  assert.equal(synAck.options.windowScale, undefined, "no scaling unless the peer offers it");
  t.send({ seq: 2, ack: synAck.seq + 1, flags: ACK });
  await settle();
  const conn = await listener.accept();
  await conn.write(text("x"));
  assert.equal(t.next("data").options.timestamps, undefined);
});
