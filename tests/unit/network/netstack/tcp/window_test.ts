/**
 * Windows: scaling (RFC 7323 §2), the persist timer's zero-window probes
 * (RFC 9293 §3.8.6.1), the receiver's window closing on an application that
 * does not read and opening again, and bounded buffers with backpressure.
 */
import assert from "node:assert/strict";
import { TCPFlags } from "../../../../../network/netstack/wire/tcp.ts";
import { TcpState } from "../../../../../network/netstack/tcp/tcp_state.ts";
import { RawPeer } from "../raw_peer.ts";
import { activeOpen, passiveOpen, states } from "../handshake.ts";
import { stackPair } from "../stack_pair.ts";
import { receiveAll, sendBulk } from "../bulk.ts";
import { parseIPPacket } from "../../../../../network/netstack/wire/ip_packet.ts";
import { parseTCPSegment } from "../../../../../network/netstack/wire/tcp.ts";
import { runFor, runUntil, settle } from "../virtual_time.ts";
import { ReceiveRtt } from "../../../../../network/netstack/tcp/receive_rtt.ts";

const { SYN, ACK } = TCPFlags;

Deno.test("window: scaling is offered, applied to the peer's windows, and used in ours", async () => {
  const t = new RawPeer();
  const connecting = t.stack.connectTCP(t.peerAddr);
  const syn = t.next("SYN");
  assert.equal(syn.options.windowScale, 7, "4 MiB buffer → shift 7");
  assert.equal(syn.window, 65535, "the SYN's window is not scaled");
  t.stackPort = syn.srcPort;
  t.send({
    seq: 5000,
    ack: syn.seq + 1,
    flags: SYN | ACK,
    window: 1000,
    options: { mss: 1460, windowScale: 3 },
  });
  const ack = t.next("ACK");
  assert.equal(ack.window * 128, 64 * 1024, "our window, scaled by 2^7, starts at 64 KiB");
  const conn = await connecting;
  // The peer's window 1000 · 2^3 = 8000 bytes limits what may be sent.
  t.send({ seq: 5001, ack: syn.seq + 1, flags: ACK, window: 1000 });
  await conn.write(new Uint8Array(20_000));
  const sent = t.drain().reduce((n, s) => n + s.payload.length, 0);
  assert.equal(
    sent,
    6 * 1240,
    "six full segments fit in 8000 bytes; the 560-byte rest waits (sender SWS)",
  );
});

Deno.test("window: without the peer's option, no scaling either way", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t, 1000, { mss: 1460 });
  t.send({ seq: 1001, ack: iss + 1, flags: ACK, window: 3000 }, new Uint8Array(10));
  await t.advance(50);
  const ack = t.next("delayed ACK").window;
  assert.ok(ack <= 65535);
  await conn.write(new Uint8Array(5000));
  const sent = t.drain().reduce((n, s) => n + s.payload.length, 0);
  assert.equal(sent, 2 * 1240, "3000-byte window taken as is: two full segments");
});

Deno.test("window: zero-window probes back off, keep the connection, and stop when it opens", async () => {
  const t = new RawPeer();
  const { conn, iss } = await passiveOpen(t);
  await conn.write(new Uint8Array(1240));
  t.next("data");
  // The peer takes it and closes its window.
  t.send({ seq: 1001, ack: iss + 1241, flags: ACK, window: 0 });
  await conn.write(new Uint8Array(5000));
  t.none("nothing while the window is zero");
  const probes: number[] = [];
  const start = t.clock.monotonic();
  for (let i = 0; i < 700; i++) {
    await t.advance(10);
    for (const s of t.drain()) {
      assert.equal(s.payload.length, 0, "a probe carries no data");
      assert.equal(s.seq, (iss + 1240) >>> 0, "a probe is SND.UNA − 1");
      probes.push(t.clock.monotonic() - start);
      t.send({ seq: 1001, ack: iss + 1241, flags: ACK, window: 0 });
    }
  }
  assert.deepEqual(probes, [200, 600, 1400, 3000, 6200], "RTO-based persist backoff");
  assert.equal(conn.state, TcpState.Established, "answered probes keep the connection");
  t.send({ seq: 1001, ack: iss + 1241, flags: ACK, window: 65535 });
  const sent = t.drain().reduce((n, s) => n + s.payload.length, 0);
  assert.equal(sent, 4 * 1240, "the window update releases the full segments");
  t.send({ seq: 1001, ack: iss + 1241 + 4 * 1240, flags: ACK, window: 65535 });
  assert.equal(
    t.next("the rest").payload.length,
    40,
    "Nagle sent the 40-byte rest once all was acknowledged",
  );
});

Deno.test("window: a receiver that does not read closes its window, drops what is beyond, opens on read", async () => {
  const t = new RawPeer({ stack: { tcp: { receiveBuffer: 16_384 } } });
  const { conn, iss } = await passiveOpen(t);
  let seq = 1001;
  let lastWindow = -1;
  for (let i = 0; i < 20; i++) {
    t.send({ seq, ack: iss + 1, flags: ACK }, new Uint8Array(1000).fill(i));
    seq += 1000;
    for (const s of t.drain()) lastWindow = s.window;
  }
  await t.advance(50);
  for (const s of t.drain()) lastWindow = s.window;
  assert.equal(lastWindow, 0, "the window closed");
  const buffered = t.stack.snapshot().bufferedBytes;
  assert.ok(buffered <= 16_384 + 4096, `buffers stay bounded: ${buffered}`);
  // Read half: a window update goes out at once.
  const buf = new Uint8Array(8192);
  assert.equal(await conn.read(buf), 8192);
  const update = t.next("window update");
  assert.equal(update.ack, 1001 + 16_384, "exactly the buffer was accepted");
  assert.ok(update.window >= 8192, `window ${update.window}`);
  // Everything accepted is intact.
  let total = 8192;
  for (;;) {
    const n = await Promise.race([conn.read(buf), settle().then(() => 0)]);
    if (!n) break;
    total += n;
  }
  assert.equal(total, 16_384);
});

Deno.test("window: backpressure end to end with bounded buffers (64 KiB each way)", async () => {
  const p = stackPair({ stack: { tcp: { sendBuffer: 65_536, receiveBuffer: 65_536 } } });
  const listener = p.b.listenTCP(5001);
  const client = await runFor(p.clock, p.a.connectTCP(p.bAddr(5001)));
  const server = await runFor(p.clock, listener.accept());
  let written = 0;
  const writer = (async () => {
    const chunk = new Uint8Array(16_384);
    for (let i = 0; i < 64; i++) {
      await client.writeAll(chunk);
      written += chunk.length;
    }
    await client.closeWrite();
  })();
  // The server reads nothing: the writer stalls once both buffers are full.
  await runUntil(p.clock, () => false, 2_000).catch(() => {});
  assert.ok(written <= 2 * 65_536 + 16_384 + 1240 * 2, `written ${written} before stalling`);
  assert.ok(written >= 65_536, `written ${written}: at least the send buffer filled`);
  const heldA = p.a.snapshot().bufferedBytes, heldB = p.b.snapshot().bufferedBytes;
  assert.ok(heldA <= 65_536 && heldB <= 65_536 + 4096, `buffers ${heldA} / ${heldB}`);
  const received = await runFor(p.clock, receiveAll(server));
  await runFor(p.clock, writer);
  assert.equal(received.bytes, 64 * 16_384);
  assert.equal(written, 64 * 16_384);
});

Deno.test("window: a 1-byte window is used rather than deadlocking (persist sends into it)", async () => {
  const t = new RawPeer();
  const { conn, iss } = await activeOpen(t);
  t.send({ seq: 5001, ack: iss + 1, flags: ACK, window: 1 });
  await conn.write(new Uint8Array(3));
  t.none("SWS: a window far below half the largest seen is not used at once");
  await t.advance(1000);
  const probe = t.drain().find((s) => s.payload.length > 0);
  assert.ok(probe, "the persist timer sends into the small window");
  assert.equal(probe.payload.length, 1);
  assert.deepEqual(states(t), [TcpState.Established]);
});

/**
 * A bulk transfer over a link of `delay` ms each way and `rate` bytes per
 * ms: the largest window the receiver advertised, and the bytes per ms moved.
 */
async function bulkOverLink(delay: number, rate: number, bytes: number, port: number) {
  const p = stackPair({ link: { delay, rate, queueBytes: 4 * 1024 * 1024 } });
  let largest = 0;
  p.ba.tap = (packet) => {
    const tcp = parseTCPSegment(parseIPPacket(packet).payload);
    if (!(tcp.flags & SYN)) largest = Math.max(largest, tcp.window * 128);
    return packet;
  };
  const listener = p.b.listenTCP(port);
  const client = await runFor(p.clock, p.a.connectTCP(p.bAddr(port)));
  const server = await runFor(p.clock, listener.accept());
  const sent = sendBulk(client, bytes, 3);
  const started = p.clock.now();
  const got = await runFor(p.clock, receiveAll(server));
  assert.equal(got.sha256, (await sent).sha256);
  return { largest, rate: bytes / (p.clock.now() - started) };
}

Deno.test("window: the receive window grows with what the application reads (tuning)", async () => {
  const { largest } = await bulkOverLink(25, 20_000, 16 * 1024 * 1024, 5002);
  // 20 MB/s over a 50 ms RTT needs about 1 MB of window; it started at 64 KiB.
  assert.ok(largest >= 1024 * 1024, `largest window ${largest}`);
  assert.ok(largest <= 4 * 1024 * 1024, `largest window ${largest}`);
});

Deno.test("window: an active opener accepts no more than its SYN offered, and never past its buffer", async () => {
  const t = new RawPeer({ stack: { tcp: { receiveBuffer: 65_536 } } });
  // An initial sequence number far (> 2^31) from 0 in sequence space.
  const irs = 0x90000000;
  const { conn, iss } = await activeOpen(t, irs, { mss: 1460, windowScale: 7 });
  // The SYN offered 65535 bytes; the peer fills all of it and tries more.
  let seq = irs + 1;
  for (let i = 0; i < 60; i++) {
    t.send({ seq, ack: iss + 1, flags: ACK }, new Uint8Array(1200).fill(i & 0xff));
    seq += 1200;
  }
  await t.advance(50);
  const acks = t.drain();
  const last = acks.at(-1)!;
  const accepted = last.ack - (irs + 1);
  assert.ok(accepted > 60_000 && accepted <= 65_536, `accepted ${accepted} bytes`);
  let read = 0;
  const buf = new Uint8Array(100_000);
  const n = await conn.read(buf);
  read += n ?? 0;
  assert.equal(read, accepted);
  assert.equal(conn.state, TcpState.Established);
});

Deno.test("window: on a short round trip the window grows to what one RTT needs, not 10 ms of data", async () => {
  // 100 MB/s over a 2 ms RTT needs about 200 KB of window. Sized per 10 ms,
  // as before the receive-side RTT estimate, it grew to 1.9 MB: 20 ms of
  // data that a sender may burst into a 208 KiB UDP receive buffer.
  const { largest, rate } = await bulkOverLink(1, 100_000, 32 * 1024 * 1024, 5003);
  assert.ok(largest <= 1024 * 1024, `largest window ${largest}`);
  assert.ok(rate >= 50_000, `the window still carried ${rate.toFixed(0)} bytes/ms of 100,000`);
});

Deno.test("receive RTT: one window's arrival time, the minimum kept for 10 s; closed windows skipped", () => {
  const r = new ReceiveRtt();
  r.advanced(1000, 11_000, 0); // mark: the window up to 11,000 advertised at t=0
  assert.equal(r.minimum, undefined);
  r.advanced(6000, 16_000, 2);
  assert.equal(r.minimum, undefined, "half a window is no sample");
  r.advanced(11_000, 21_000, 4);
  assert.equal(r.minimum, 4);
  r.advanced(21_000, 31_000, 6);
  assert.equal(r.minimum, 2, "a smaller sample replaces it");
  r.advanced(31_000, 41_000, 16);
  assert.equal(r.minimum, 2, "a larger one does not");
  r.advanced(41_000, 41_000, 20); // a closed window: no mark
  r.advanced(41_000, 51_000, 100); // it opens: mark at t=100
  r.advanced(51_000, 61_000, 103);
  assert.equal(r.minimum, 2, "the time spent closed is not a sample");
  r.advanced(61_000, 71_000, 12_000);
  assert.equal(r.minimum, 12_000 - 103, "after 10 s the minimum is renewed");
});
