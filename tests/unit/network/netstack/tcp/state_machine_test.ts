/**
 * Every RFC 9293 state transition of one connection, driven segment by
 * segment by a scripted peer, in virtual time.
 */
import assert from "node:assert/strict";
import { TCPFlags } from "../../../../../network/netstack/wire/tcp.ts";
import { TcpState } from "../../../../../network/netstack/tcp/tcp_state.ts";
import { RawPeer } from "../raw_peer.ts";
import { activeOpen, passiveOpen, states, text } from "../handshake.ts";
import { settle } from "../virtual_time.ts";

const { SYN, ACK, FIN, RST, PSH } = TCPFlags;

Deno.test("state: passive open LISTEN → SYN-RECEIVED → ESTABLISHED, data both ways", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  t.send({ seq: 1001, ack: iss + 1, flags: ACK | PSH }, text("ping"));
  const buf = new Uint8Array(16);
  assert.equal(await conn.read(buf), 4);
  assert.equal(new TextDecoder().decode(buf.subarray(0, 4)), "ping");
  await conn.write(text("pong"));
  const data = t.next("data");
  assert.equal(data.seq, iss + 1);
  assert.equal(data.ack, 1005, "the reply acknowledges the ping");
  assert.equal(new TextDecoder().decode(data.payload), "pong");
  assert.ok(data.flags & PSH);
});

Deno.test("state: active open SYN-SENT → ESTABLISHED", async () => {
  const t = new RawPeer();
  const { conn } = await activeOpen(t);
  assert.equal(conn.remote.key, "10.1.0.2:40000");
  assert.equal(conn.localAddr.hostname, "10.1.0.1");
});

Deno.test("state: active close ESTABLISHED → FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED", async () => {
  const t = new RawPeer();
  const { conn, iss } = await activeOpen(t);
  await conn.closeWrite();
  const fin = t.next("FIN");
  assert.equal(fin.flags, FIN | ACK);
  assert.equal(fin.seq, iss + 1);
  assert.deepEqual(states(t), [TcpState.FinWait1]);
  t.send({ seq: 5001, ack: iss + 2, flags: ACK });
  assert.deepEqual(states(t), [TcpState.FinWait2]);
  t.send({ seq: 5001, ack: iss + 2, flags: FIN | ACK });
  const lastAck = t.next("ACK of the FIN");
  assert.equal(lastAck.ack, 5002);
  assert.deepEqual(states(t), [TcpState.TimeWait]);
  await settle();
  assert.equal(await conn.read(new Uint8Array(4)), null, "end of stream");
  // TIME-WAIT lasts 2·MSL = 60 s: a retransmitted FIN is acknowledged again and restarts it.
  await t.advance(59_000);
  assert.deepEqual(states(t), [TcpState.TimeWait]);
  t.send({ seq: 5001, ack: iss + 2, flags: FIN | ACK });
  assert.equal(t.next("re-ACK in TIME-WAIT").ack, 5002);
  await t.advance(59_000);
  assert.deepEqual(states(t), [TcpState.TimeWait], "the retransmitted FIN restarted 2·MSL");
  await t.advance(1_001);
  assert.deepEqual(states(t), []);
  assert.equal(t.stack.snapshot().timeWait, 0);
});

Deno.test("state: passive close ESTABLISHED → CLOSE-WAIT → LAST-ACK → CLOSED", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  t.send({ seq: 1001, ack: iss + 1, flags: FIN | ACK });
  assert.equal(t.next("ACK of the FIN").ack, 1002);
  assert.deepEqual(states(t), [TcpState.CloseWait]);
  assert.equal(await conn.read(new Uint8Array(4)), null);
  await conn.write(text("bye"));
  assert.equal(t.next("data in CLOSE-WAIT").payload.length, 3);
  conn.close();
  const fin = t.next("FIN");
  assert.ok(fin.flags & FIN);
  assert.equal(fin.seq, iss + 4);
  assert.deepEqual(states(t), [TcpState.LastAck]);
  t.send({ seq: 1002, ack: iss + 5, flags: ACK });
  assert.deepEqual(states(t), []);
  await conn.closed;
});

Deno.test("state: simultaneous close FIN-WAIT-1 → CLOSING → TIME-WAIT", async () => {
  const t = new RawPeer();
  const { conn, iss } = await activeOpen(t);
  await conn.closeWrite();
  t.next("FIN");
  // The peer's FIN crosses ours: it does not acknowledge our FIN.
  t.send({ seq: 5001, ack: iss + 1, flags: FIN | ACK });
  assert.equal(t.next("ACK of their FIN").ack, 5002);
  assert.deepEqual(states(t), [TcpState.Closing]);
  t.send({ seq: 5002, ack: iss + 2, flags: ACK });
  assert.deepEqual(states(t), [TcpState.TimeWait]);
});

Deno.test("state: FIN-WAIT-1 → TIME-WAIT on a FIN that also acknowledges ours", async () => {
  const t = new RawPeer();
  const { conn, iss } = await activeOpen(t);
  await conn.closeWrite();
  t.next("FIN");
  t.send({ seq: 5001, ack: iss + 2, flags: FIN | ACK });
  assert.equal(t.next("ACK").ack, 5002);
  assert.deepEqual(states(t), [TcpState.TimeWait]);
});

Deno.test("state: simultaneous open SYN-SENT → SYN-RECEIVED → ESTABLISHED", async () => {
  const t = new RawPeer();
  const connecting = t.stack.connectTCP(t.peerAddr);
  const syn = t.next("SYN");
  t.stackPort = syn.srcPort;
  // The peer's own SYN crosses ours.
  t.send({ seq: 9000, flags: SYN, options: { mss: 1460 } });
  const synAck = t.next("SYN-ACK");
  assert.equal(synAck.flags, SYN | ACK);
  assert.equal(synAck.seq, syn.seq, "the SYN-ACK repeats our ISS");
  assert.equal(synAck.ack, 9001);
  assert.deepEqual(states(t), [TcpState.SynReceived]);
  // The peer's SYN-ACK acknowledges our SYN.
  t.send({ seq: 9000, ack: syn.seq + 1, flags: SYN | ACK, options: { mss: 1460 } });
  await settle();
  const conn = await connecting;
  assert.equal(conn.state, TcpState.Established);
  await conn.write(text("x"));
  const data = t.next("data");
  assert.equal(data.seq, syn.seq + 1);
  assert.equal(data.ack, 9001);
});

Deno.test("state: simultaneous open completed by a plain ACK", async () => {
  const t = new RawPeer();
  const connecting = t.stack.connectTCP(t.peerAddr);
  const syn = t.next("SYN");
  t.stackPort = syn.srcPort;
  t.send({ seq: 9000, flags: SYN, options: { mss: 1460 } });
  t.next("SYN-ACK");
  t.send({ seq: 9001, ack: syn.seq + 1, flags: ACK });
  await settle();
  assert.equal((await connecting).state, TcpState.Established);
});

Deno.test("state: a lost SYN-ACK is sent again when the SYN is repeated", () => {
  const t = new RawPeer();
  t.stack.listenTCP(t.stackPort);
  t.send({ seq: 1000, flags: SYN, options: { mss: 1460 } });
  const first = t.next("SYN-ACK");
  t.send({ seq: 1000, flags: SYN, options: { mss: 1460 } });
  const again = t.next("SYN-ACK again");
  assert.equal(again.seq, first.seq);
  assert.equal(again.flags, SYN | ACK);
  assert.deepEqual(states(t), [TcpState.SynReceived]);
});

Deno.test("state: a half-open connection retries its SYN-ACK, then goes away silently", async () => {
  const t = new RawPeer();
  t.stack.listenTCP(t.stackPort);
  t.send({ seq: 1000, flags: SYN, options: { mss: 1460 } });
  t.next("SYN-ACK");
  const times: number[] = [];
  const start = t.clock.monotonic();
  for (let i = 0; i < 400 && states(t).length > 0; i++) {
    await t.advance(250);
    for (const s of t.drain()) {
      assert.equal(s.flags, SYN | ACK);
      times.push(t.clock.monotonic() - start);
    }
  }
  assert.equal(times.length, 5, "five SYN-ACK retries (Linux tcp_synack_retries)");
  assert.deepEqual(states(t), []);
  assert.equal(t.stack.snapshot().halfOpen, 0);
  // Backoff 1, 2, 4, 8, 16 s (each at the 250 ms tick after it was due).
  const gaps = times.map((x, i) => x - (i ? times[i - 1] : 0));
  for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i] >= 1.7 * gaps[i - 1], `gaps ${gaps}`);
});

Deno.test("state: an aborted connect leaves SYN-SENT without a FIN or RST", async () => {
  const t = new RawPeer();
  const connecting = t.stack.connectTCP(t.peerAddr);
  t.next("SYN");
  const controller = new AbortController();
  const second = t.stack.connectTCP(t.peerAddr, { signal: controller.signal });
  t.next("second SYN");
  controller.abort(new Error("stop"));
  await assert.rejects(second, /stop/);
  assert.equal(states(t).length, 1, "the aborted attempt is gone");
  t.none("no FIN or RST for a connection that never synchronized");
  void connecting.catch(() => {});
});

Deno.test("state: ESTABLISHED data then FIN in one segment, read to end", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  t.send({ seq: 1001, ack: iss + 1, flags: ACK | FIN | PSH }, text("last words"));
  assert.equal(t.next("ACK").ack, 1012);
  const buf = new Uint8Array(64);
  assert.equal(await conn.read(buf), 10);
  assert.equal(await conn.read(buf), null);
  assert.equal(conn.state, TcpState.CloseWait);
});

Deno.test("state: a RST in ESTABLISHED with the exact sequence number resets the connection", async () => {
  const t = new RawPeer();
  const { conn } = await passiveOpen(t);
  const reading = conn.read(new Uint8Array(8)).catch((e) => e);
  t.send({ seq: 1001, flags: RST });
  await settle();
  const error = await reading;
  assert.ok(error instanceof Deno.errors.ConnectionReset, String(error));
  assert.equal(error.name, "ConnectionResetError");
  assert.deepEqual(states(t), []);
  await assert.rejects(conn.write(text("x")), Deno.errors.ConnectionReset);
});

Deno.test("state: data queued behind a closed window still goes out after the peer's FIN (CLOSING)", async () => {
  const t = new RawPeer();
  const { conn, iss } = await activeOpen(t);
  t.send({ seq: 5001, ack: iss + 1, flags: ACK, window: 0 });
  await conn.write(text("queued"));
  await conn.closeWrite();
  t.none("nothing fits a zero window");
  assert.deepEqual(states(t), [TcpState.FinWait1]);
  t.send({ seq: 5001, ack: iss + 1, flags: FIN | ACK, window: 0 });
  assert.equal(t.next("ACK of their FIN").ack, 5002);
  assert.deepEqual(states(t), [TcpState.Closing]);
  t.send({ seq: 5002, ack: iss + 1, flags: ACK, window: 1000 });
  const last = t.next("data and FIN");
  assert.equal(new TextDecoder().decode(last.payload), "queued");
  assert.ok(last.flags & FIN);
  t.send({ seq: 5002, ack: iss + 8, flags: ACK, window: 1000 });
  assert.deepEqual(states(t), [TcpState.TimeWait]);
});

Deno.test("state: an orphaned FIN-WAIT-2 ends after 60 s; a half-closed one keeps reading", async () => {
  const t = new RawPeer();
  const { conn, iss } = await activeOpen(t);
  // Half-close: FIN-WAIT-2 lasts as long as the peer keeps sending.
  await conn.closeWrite();
  t.next("FIN");
  t.send({ seq: 5001, ack: iss + 2, flags: ACK });
  assert.deepEqual(states(t), [TcpState.FinWait2]);
  await t.advance(120_000);
  assert.deepEqual(states(t), [TcpState.FinWait2], "not orphaned: no timeout");
  t.send({ seq: 5001, ack: iss + 2, flags: ACK | PSH }, text("still talking"));
  const buf = new Uint8Array(32);
  assert.equal(await conn.read(buf), 13);
  // Orphaned (close()): Linux's tcp_fin_timeout of 60 s applies.
  conn.close();
  await t.advance(59_000);
  assert.deepEqual(states(t), [TcpState.FinWait2]);
  await t.advance(1_001);
  assert.deepEqual(states(t), []);
});
