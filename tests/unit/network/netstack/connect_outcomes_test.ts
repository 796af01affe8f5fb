/**
 * How a connect ends when the peer does not simply accept: a timeout of the
 * caller's choosing, a rejection (the peer's filter, told by TSMP) that
 * fails only a connect still in SYN-SENT, and connections aborted because
 * their peer left; each leaves no connection, timer or buffer behind. In
 * virtual time.
 */
import assert from "node:assert/strict";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import {
  ConnectionForbiddenError,
  ConnectionResetError,
  ConnectionTimedOutError,
} from "../../../../network/netstack/errors.ts";
import { A4, B4, stackPair } from "./stack_pair.ts";
import { runFor, settle } from "./virtual_time.ts";

const baseline = {
  tcpConnections: 0,
  halfOpen: 0,
  timeWait: 0,
  listeners: 0,
  udpSockets: 0,
  timers: 0,
  bufferedBytes: 0,
};

Deno.test("netstack: a connect into silence fails with ConnectionTimedOutError after timeoutMs", async () => {
  const p = stackPair();
  p.ab.tap = () => null; // every SYN is lost
  const started = p.clock.monotonic();
  const error = await runFor(
    p.clock,
    p.a.connectTCP(p.bAddr(80), { timeoutMs: 5_000 }).catch((e) => e),
  );
  assert.ok(error instanceof ConnectionTimedOutError, String(error));
  assert.ok(error instanceof Deno.errors.TimedOut);
  assert.match(error.message, /no answer within 5000 ms/);
  assert.equal(p.clock.monotonic() - started, 5_000);
  assert.deepEqual(p.a.snapshot(), baseline);
});

Deno.test("netstack: a connect answered in time is not touched by its timeout", async () => {
  const p = stackPair();
  const listener = p.b.listenTCP(80);
  const conn = await runFor(p.clock, p.a.connectTCP(p.bAddr(80), { timeoutMs: 1_000 }));
  const accepted = await runFor(p.clock, listener.accept());
  await runFor(p.clock, settle(), 5_000); // well past the timeout
  assert.equal(conn.state, "ESTABLISHED");
  conn.close();
  accepted.close();
  listener.close();
});

Deno.test("netstack: a rejection fails the pending connect with ConnectionForbiddenError, and only that one", async () => {
  const p = stackPair();
  p.ab.tap = () => null; // the peer's filter drops our SYN
  const pending = p.a.connectTCP(p.bAddr(22)).catch((e) => e);
  await runFor(p.clock, settle(), 10);
  const [info] = p.a.tcpConnections();
  assert.equal(info.state, "SYN-SENT");
  // A rejection for another port, or from another address, matches nothing.
  assert.equal(
    p.a.rejectConnect({
      local: info.local,
      remote: new AddrPort(B4, 23),
      why: "by the peer's ACL",
    }),
    false,
  );
  assert.equal(
    p.a.rejectConnect({
      local: info.local,
      remote: new AddrPort(A4, 22),
      why: "by the peer's ACL",
    }),
    false,
  );
  assert.equal(
    p.a.rejectConnect({ local: info.local, remote: info.remote, why: "by the peer's ACL" }),
    true,
  );
  const error = await runFor(p.clock, pending);
  assert.ok(error instanceof ConnectionForbiddenError, String(error));
  assert.ok(error instanceof Deno.errors.ConnectionRefused);
  assert.equal(error.message, `connection to ${B4.join(".")}:22 forbidden by the peer's ACL`);
  assert.deepEqual(p.a.snapshot(), baseline);
});

Deno.test("netstack: a rejection never closes an established connection", async () => {
  const p = stackPair();
  const listener = p.b.listenTCP(80);
  const conn = await runFor(p.clock, p.a.connectTCP(p.bAddr(80)));
  const accepted = await runFor(p.clock, listener.accept());
  assert.equal(
    p.a.rejectConnect({ local: conn.local, remote: conn.remote, why: "by the peer's ACL" }),
    false,
  );
  await conn.writeAll(Uint8Array.of(7));
  const buf = new Uint8Array(1);
  assert.equal(await runFor(p.clock, accepted.read(buf)), 1);
  conn.close();
  accepted.close();
  listener.close();
});

Deno.test("netstack: abortConnections ends the connections to a gone peer at once", async () => {
  const p = stackPair();
  const listener = p.b.listenTCP(80);
  const conn = await runFor(p.clock, p.a.connectTCP(p.bAddr(80)));
  const accepted = await runFor(p.clock, listener.accept());
  p.ab.tap = () => null; // the peer vanished: nothing arrives any more
  await conn.writeAll(new Uint8Array(100_000));
  await runFor(p.clock, settle(), 50);
  assert.ok(p.a.snapshot().bufferedBytes > 0);
  const reading = conn.read(new Uint8Array(10)).catch((e) => e);
  assert.equal(p.a.abortConnections((ip) => ip.length === 4 && ip[3] === 2, "closed: gone"), 1);
  const error = await reading;
  assert.ok(error instanceof ConnectionResetError, String(error));
  assert.match(error.message, /closed: gone/);
  assert.deepEqual(p.a.snapshot(), baseline);
  accepted.close();
  listener.close();
});
