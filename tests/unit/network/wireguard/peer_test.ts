import assert from "node:assert/strict";
import {
  KEEPALIVE_TIMEOUT,
  MAX_STAGED_PACKETS,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME,
  REKEY_ATTEMPT_TIME,
  REKEY_TIMEOUT,
} from "../../../../network/wireguard/constants.ts";
import { CookieChecker } from "../../../../network/wireguard/cookie.ts";
import { messageType, parseTransport } from "../../../../network/wireguard/messages.ts";
import { exchange, ipv4Packet, peerPair } from "./peer_harness.ts";

const types = (datagrams: Uint8Array[]) => datagrams.map(messageType);

Deno.test("peer: A's first packet starts a handshake, and data flows both ways", () => {
  const pair = peerPair();
  const { a, b, clock } = pair;
  const first = a.sendPacket(ipv4Packet(1, 2), clock.t);
  assert.deepEqual(types(first.send), [1], "an initiation, the packet staged");
  assert.equal(a.stagedCount, 1);
  const got = exchange(pair, "a", first);
  assert.equal(got.b.length, 1);
  assert.deepEqual(got.b[0], ipv4Packet(1, 2));
  assert.equal(a.stats.handshakes, 1);
  assert.equal(b.stats.handshakes, 1, "B confirmed the session on A's first transport message");
  clock.t += 100;
  const reply = b.sendPacket(ipv4Packet(2, 1, 1000), clock.t);
  assert.deepEqual(types(reply.send), [4]);
  assert.deepEqual(exchange(pair, "b", reply).a, [ipv4Packet(2, 1, 1000)]);
  for (let i = 0; i < 50; i++) {
    const out = a.sendPacket(ipv4Packet(1, 2, i), clock.t);
    assert.deepEqual(exchange(pair, "a", out).b, [ipv4Packet(1, 2, i)]);
  }
  assert.equal(a.keypairs.current?.sendCounter, 51);
  assert.equal(a.stats.dropped + b.stats.dropped, 0);
  const handshakeAt = a.stats.lastHandshakeTime;
  assert.ok(handshakeAt !== undefined && handshakeAt >= 1_700_000_000_000);
});

Deno.test("peer: the responder does not send before key confirmation, then flushes what it staged", () => {
  const pair = peerPair();
  const { a, b, clock } = pair;
  const initiation = a.initiateHandshake(clock.t);
  const response = b.handleDatagram(initiation.send[0], clock.t);
  assert.deepEqual(types(response.send), [2]);
  assert.ok(b.keypairs.next !== undefined && b.keypairs.current === undefined);
  const early = b.sendPacket(ipv4Packet(2, 1), clock.t);
  assert.deepEqual(early.send, [], "nothing may be sealed under an unconfirmed keypair");
  assert.equal(b.stagedCount, 1);
  const confirm = a.handleDatagram(response.send[0], clock.t);
  assert.deepEqual(
    confirm.send.map((d) => d.length),
    [32],
    "the initiator confirms with a keepalive",
  );
  const flushed = b.handleDatagram(confirm.send[0], clock.t);
  assert.deepEqual(flushed.deliver, [], "a keepalive delivers nothing");
  assert.deepEqual(types(flushed.send), [4]);
  assert.equal(b.stagedCount, 0);
  assert.deepEqual(a.handleDatagram(flushed.send[0], clock.t).deliver, [ipv4Packet(2, 1)]);
});

Deno.test("peer: the initiator rekeys after REKEY_AFTER_TIME, and packets of the old keypair still open", () => {
  const pair = peerPair();
  const { a, b, clock } = pair;
  exchange(pair, "a", a.sendPacket(ipv4Packet(1, 2), clock.t));
  const first = a.keypairs.current!;
  clock.t += 60_000;
  const inFlight = b.sendPacket(ipv4Packet(2, 1, 5), clock.t).send; // sealed under the first keypair
  exchange(pair, "a", a.sendPacket(ipv4Packet(1, 2), clock.t));
  assert.equal(a.keypairs.current, first, "no rekey before REKEY_AFTER_TIME");
  clock.t = REKEY_AFTER_TIME + 1;
  const out = a.sendPacket(ipv4Packet(1, 2, 7), clock.t);
  assert.deepEqual(types(out.send), [4, 1], "the packet goes out, then an initiation");
  const got = exchange(pair, "a", out);
  assert.deepEqual(got.b, [ipv4Packet(1, 2, 7)]);
  assert.notEqual(a.keypairs.current, first);
  assert.equal(a.keypairs.previous, first);
  assert.equal(a.stats.handshakes, 2);
  assert.deepEqual(a.handleDatagram(inFlight[0], clock.t).deliver, [ipv4Packet(2, 1, 5)]);
  const after = b.sendPacket(ipv4Packet(2, 1, 9), clock.t);
  assert.equal(parseTransport(after.send[0]).receiverIndex, a.keypairs.current!.localIndex);
  assert.deepEqual(exchange(pair, "b", after).a, [ipv4Packet(2, 1, 9)]);
});

Deno.test("peer: the responder does not rekey on time; a quiet initiator rekeys at 165 s on receive", () => {
  const pair = peerPair();
  const { a, b, clock } = pair;
  exchange(pair, "a", a.sendPacket(ipv4Packet(1, 2), clock.t));
  clock.t = REKEY_AFTER_TIME + 1000;
  assert.deepEqual(types(b.sendPacket(ipv4Packet(2, 1), clock.t).send), [4]);
  clock.t = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT + 1;
  const out = a.handleDatagram(b.sendPacket(ipv4Packet(2, 1), clock.t).send[0], clock.t);
  assert.equal(out.deliver.length, 1);
  assert.deepEqual(types(out.send), [1], "last-minute handshake from the receive path");
  const again = a.handleDatagram(
    b.sendPacket(ipv4Packet(2, 1), clock.t + 6000).send[0],
    clock.t + 6000,
  );
  assert.deepEqual(types(again.send), [], "only once per session");
});

Deno.test("peer: retries every REKEY_TIMEOUT plus jitter, gives up after 20 initiations, drops what it staged", () => {
  const pair = peerPair();
  const { a, clock } = pair;
  const sent: number[] = [];
  let out = a.sendPacket(ipv4Packet(1, 2), clock.t);
  sent.push(clock.t);
  assert.deepEqual(types(out.send), [1]);
  for (let i = 0; i < 40; i++) {
    const deadline = a.nextDeadline();
    if (deadline === undefined) break;
    clock.t = deadline;
    out = a.tick(clock.t);
    for (const d of out.send) {
      assert.equal(messageType(d), 1);
      sent.push(clock.t);
    }
    if (a.stagedCount === 0) break;
  }
  assert.equal(sent.length, 20);
  for (let i = 1; i < sent.length; i++) {
    const gap = sent[i] - sent[i - 1];
    assert.ok(gap >= REKEY_TIMEOUT && gap < REKEY_TIMEOUT + 334, `gap ${gap}`);
  }
  assert.ok(
    clock.t >= REKEY_ATTEMPT_TIME + REKEY_TIMEOUT && clock.t < 110_000,
    `gave up at ${clock.t}`,
  );
  assert.equal(a.stagedCount, 0);
  // After giving up, nothing more is sent until new traffic; only key erasure stays armed.
  clock.t = a.nextDeadline()!;
  assert.ok(clock.t >= REJECT_AFTER_TIME * 3);
  assert.deepEqual(a.tick(clock.t).send, []);
});

Deno.test("peer: a keepalive answers received data after KEEPALIVE_TIMEOUT of our silence", () => {
  const pair = peerPair();
  const { a, b, clock } = pair;
  exchange(pair, "a", a.sendPacket(ipv4Packet(1, 2), clock.t));
  clock.t += 1000;
  exchange(pair, "a", a.sendPacket(ipv4Packet(1, 2), clock.t));
  assert.equal(b.nextDeadline(), clock.t + KEEPALIVE_TIMEOUT - 1000, "armed by the first data");
  clock.t = b.nextDeadline()!;
  const keepalive = b.tick(clock.t);
  assert.deepEqual(keepalive.send.map((d) => d.length), [32]);
  // A second keepalive, because data arrived while the first was pending.
  clock.t = b.nextDeadline()!;
  assert.deepEqual(b.tick(clock.t).send.map((d) => d.length), [32]);
  assert.deepEqual(a.handleDatagram(keepalive.send[0], clock.t).deliver, []);
});

Deno.test("peer: sending data into silence starts a new handshake after KEEPALIVE + REKEY_TIMEOUT", () => {
  const pair = peerPair();
  const { a, clock } = pair;
  exchange(pair, "a", a.sendPacket(ipv4Packet(1, 2), clock.t));
  exchange(pair, "b", pair.b.sendPacket(ipv4Packet(2, 1), clock.t)); // an answer disarms it
  clock.t = a.nextDeadline()!;
  assert.equal(clock.t, KEEPALIVE_TIMEOUT);
  assert.deepEqual(a.tick(clock.t).send.map((d) => d.length), [32], "A answers B with a keepalive");
  assert.equal(a.nextDeadline(), REJECT_AFTER_TIME * 3, "only key erasure is armed");
  clock.t += 20_000;
  a.sendPacket(ipv4Packet(1, 2), clock.t); // B hears it but never answers
  const deadline = a.nextDeadline()!;
  assert.ok(deadline - clock.t >= KEEPALIVE_TIMEOUT + REKEY_TIMEOUT);
  assert.ok(deadline - clock.t < KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + 334);
  clock.t = deadline;
  assert.deepEqual(types(a.tick(clock.t).send), [1]);
});

Deno.test("peer: keypairs expire after REJECT_AFTER_TIME and all keys are erased after 3x", () => {
  const pair = peerPair();
  const { a, b, clock } = pair;
  exchange(pair, "a", a.sendPacket(ipv4Packet(1, 2), clock.t));
  clock.t = REJECT_AFTER_TIME + 1;
  const late = b.sendPacket(ipv4Packet(2, 1), clock.t);
  assert.deepEqual(types(late.send), [1], "B's keypair is too old to send: it initiates instead");
  assert.equal(b.stagedCount, 1);
  const old = a.keypairs.current!;
  // A transport message sealed under the dead keypair is refused.
  const forged = new Uint8Array(48);
  forged.set([4, 0, 0, 0]);
  new DataView(forged.buffer).setUint32(4, old.localIndex, true);
  a.handleDatagram(forged, clock.t);
  assert.equal(a.stats.lastDropReason, "transport: keypair expired");
  clock.t = REJECT_AFTER_TIME * 3 + 1;
  a.tick(clock.t);
  assert.equal(a.keypairs.current, undefined);
  assert.ok(old.sendKey.every((byte) => byte === 0), "key bytes zeroed");
});

Deno.test("peer: replayed and flooding initiations are dropped without touching the session", () => {
  const pair = peerPair();
  const { a, b, clock } = pair;
  const initiation = a.initiateHandshake(clock.t).send[0];
  assert.deepEqual(types(b.handleDatagram(initiation, clock.t).send), [2]);
  clock.t += 1000;
  assert.deepEqual(b.handleDatagram(initiation, clock.t).send, []);
  assert.equal(b.stats.lastDropReason, "initiation: replayed timestamp");
  clock.t += REKEY_TIMEOUT;
  const second = a.initiateHandshake(clock.t).send[0];
  b.handleDatagram(second, clock.t);
  clock.t += REKEY_TIMEOUT;
  const third = a.initiateHandshake(clock.t).send[0];
  assert.deepEqual(b.handleDatagram(third, clock.t - REKEY_TIMEOUT + 10).send, []);
  assert.equal(b.stats.lastDropReason, "initiation: flood");
});

Deno.test("peer: replayed transport messages are dropped", () => {
  const pair = peerPair();
  const { a, b, clock } = pair;
  exchange(pair, "a", a.sendPacket(ipv4Packet(1, 2), clock.t));
  const datagram = a.sendPacket(ipv4Packet(1, 2, 3), clock.t).send[0];
  // Each arrival is a buffer of its own (the receiver opens it in place).
  assert.equal(b.handleDatagram(datagram.slice(), clock.t).deliver.length, 1);
  assert.equal(b.handleDatagram(datagram.slice(), clock.t).deliver.length, 0);
  assert.equal(b.stats.lastDropReason, "transport: replayed counter");
});

Deno.test("peer: a transport message is opened in place, and a forgery leaves it untouched", () => {
  const pair = peerPair();
  const { a, b, clock } = pair;
  exchange(pair, "a", a.sendPacket(ipv4Packet(1, 2), clock.t));
  const packet = ipv4Packet(1, 2, 200, 0x42);
  const datagram = a.sendPacket(packet.slice(), clock.t).send[0];
  const forged = datagram.slice();
  forged[forged.length - 1] ^= 1;
  const before = forged.slice();
  assert.equal(b.handleDatagram(forged, clock.t).deliver.length, 0);
  assert.equal(b.stats.lastDropReason, "transport: does not open");
  assert.deepEqual(forged, before, "a forgery writes nothing");
  const delivered = b.handleDatagram(datagram, clock.t).deliver;
  assert.deepEqual(delivered, [packet]);
  assert.equal(delivered[0].buffer, datagram.buffer, "no copy: the packet lies in the datagram");
});

Deno.test("peer: a peer's own key and a third party's initiation are refused", () => {
  const pair = peerPair();
  const other = peerPair();
  // C (other.a) initiates to B's key? It knows other.b's key, so B's MAC1 fails.
  const stranger = other.a.initiateHandshake(0).send[0];
  pair.b.handleDatagram(stranger, 0);
  assert.equal(pair.b.stats.lastDropReason, "initiation: bad mac1");
});

Deno.test("peer: the staged queue keeps the newest MAX_STAGED_PACKETS", () => {
  const { a, clock } = peerPair();
  for (let i = 0; i < MAX_STAGED_PACKETS + 10; i++) a.sendPacket(ipv4Packet(1, 2, 1, i), clock.t);
  assert.equal(a.stagedCount, MAX_STAGED_PACKETS);
});

Deno.test("peer: cryptokey routing refuses packets from addresses the peer does not own", () => {
  const pair = peerPair({ isAllowedSource: (packet) => packet[15] === 1 });
  const { a, clock } = pair;
  const got = exchange(pair, "a", a.sendPacket(ipv4Packet(1, 2), clock.t));
  assert.equal(got.b.length, 1);
  const spoofed = a.sendPacket(ipv4Packet(9, 2), clock.t);
  assert.equal(exchange(pair, "a", spoofed).b.length, 0);
  assert.match(pair.b.stats.lastDropReason, /source address not allowed/);
});

Deno.test("peer: a cookie reply is taken and the next initiation carries MAC2", () => {
  const pair = peerPair();
  const { a, clock, random } = pair;
  const initiation = a.initiateHandshake(clock.t).send[0];
  assert.ok(initiation.subarray(132).every((b) => b === 0));
  const checker = new CookieChecker(pair.keyB.publicKey().bytes, random.bytes);
  const source = new Uint8Array([127, 0, 0, 1, 0, 80]);
  const receiver = new DataView(initiation.buffer).getUint32(4, true);
  assert.deepEqual(
    a.handleDatagram(checker.createReply(initiation, receiver, source, 0), clock.t),
    {
      send: [],
      deliver: [],
    },
  );
  assert.equal(a.stats.dropped, 0);
  clock.t = a.nextDeadline()!;
  const retry = a.tick(clock.t).send[0];
  assert.ok(checker.checkMac2(retry, source, clock.t));
});

Deno.test("peer: simultaneous initiations still end with a working session", () => {
  const pair = peerPair();
  const { a, b, clock } = pair;
  const fromA = a.sendPacket(ipv4Packet(1, 2), clock.t);
  const fromB = b.sendPacket(ipv4Packet(2, 1), clock.t);
  const gotB = exchange(pair, "a", fromA);
  const gotA = exchange(pair, "b", fromB);
  clock.t += 100;
  const more = [...gotA.a, ...gotB.a];
  const moreB = [...gotA.b, ...gotB.b];
  const x = exchange(pair, "a", a.sendPacket(ipv4Packet(1, 2, 1, 7), clock.t));
  const y = exchange(pair, "b", b.sendPacket(ipv4Packet(2, 1, 1, 8), clock.t));
  assert.ok(more.length + x.a.length + y.a.length >= 1);
  assert.deepEqual([...moreB, ...x.b, ...y.b].at(-1), ipv4Packet(1, 2, 1, 7));
  assert.deepEqual(y.a.at(-1), ipv4Packet(2, 1, 1, 8));
});
