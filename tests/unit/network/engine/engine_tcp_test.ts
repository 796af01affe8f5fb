/**
 * The TCP/UDP stack behind the packet pipeline: two engines on the in-process DERP relay
 * exchange TCP (a 4 MiB echo, sha256-compared) and UDP over the mesh, over DERP and over a
 * direct loopback path; a port the packet filter does not admit never reaches the listener.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Engine } from "../../../../network/engine/engine.ts";
import type { FilterRule } from "../../../../network/control/map_response.ts";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import { IPProtocol } from "../../../../network/netaddr/ip_protocol.ts";
import {
  ConnectionForbiddenError,
  ConnectionResetError,
} from "../../../../network/netstack/errors.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";
import { netmapFor, side, until } from "../magicsock/two_planes.ts";

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of readable) chunks.push(chunk);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) out.set(c, (at += c.length) - c.length);
  return out;
}

for (const direct of [false, true]) {
  Deno.test(`Engine TCP/UDP over the mesh (${direct ? "direct UDP" : "DERP"}): 4 MiB echo intact, UDP both ways`, async () => {
    const server = startFakeDerpServer();
    const udp = direct ? { hostname: "127.0.0.1", advertise: "loopback-only" as const } : undefined;
    const a = side("100.64.0.1");
    const b = side("100.64.0.2");
    const engineA = new Engine({ ...a, plainHTTPDerp: true, udp });
    const engineB = new Engine({ ...b, plainHTTPDerp: true, udp });
    try {
      engineA.setNetmap(netmapFor(a, [b], server.url));
      engineB.setNetmap(netmapFor(b, [a], server.url));
      await engineA.start();
      await engineB.start();
      if (direct) {
        a.endpoints = engineA.localEndpoints().map(String);
        b.endpoints = engineB.localEndpoints().map(String);
        engineA.setNetmap(netmapFor(a, [b], server.url));
        engineB.setNetmap(netmapFor(b, [a], server.url));
      }
      const listener = engineB.netstack.listenTCP(7000);
      const served = (async () => {
        for await (const conn of listener) {
          await conn.readable.pipeTo(conn.writable); // echo, FIN carried through
          return;
        }
      })();
      const data = crypto.getRandomValues(new Uint8Array(64 * 1024));
      const payload = new Uint8Array(4 * 1024 * 1024);
      for (let i = 0; i < payload.length; i += data.length) payload.set(data, i);
      const conn = await engineA.netstack.connectTCP(AddrPort.parse(`${b.ip}:7000`));
      const [, echoed] = await Promise.all([
        (async () => {
          await conn.writeAll(payload);
          await conn.closeWrite();
        })(),
        readAll(conn.readable),
      ]);
      await served;
      assert.equal(echoed.length, payload.length);
      assert.equal(sha(echoed), sha(payload));
      if (direct) {
        assert.ok(engineA.directPath(b.nodeKey.publicKey()), "the bulk moved onto the direct path");
        assert.ok(engineA.stats.udpDatagramsSent > 1000);
      }

      const sockB = engineB.netstack.listenUDP(5353);
      const sockA = engineA.netstack.listenUDP(0);
      await sockA.send(Uint8Array.of(1, 2, 3), AddrPort.parse(`${b.ip}:5353`));
      const [datagram, from] = await sockB.receive();
      assert.deepEqual([...datagram], [1, 2, 3]);
      await sockB.send(Uint8Array.of(9), from);
      assert.deepEqual([...(await sockA.receive())[0]], [9]);
      listener.close();
      sockA.close();
      sockB.close();
      conn.close();
    } finally {
      await engineA.close();
      await engineB.close();
      await server.close();
    }
  });
}

Deno.test("Engine TCP: a port the ACL does not admit never reaches the listener, and the dial is told it is forbidden", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const onlySSH: FilterRule[] = [{
    SrcIPs: ["*"],
    DstPorts: [{ IP: "*", Ports: { First: 22, Last: 22 } }],
    IPProto: [IPProtocol.TCP],
  }];
  const engineA = new Engine({ ...a, plainHTTPDerp: true });
  const engineB = new Engine({ ...b, plainHTTPDerp: true });
  try {
    engineA.setNetmap(netmapFor(a, [b], server.url));
    engineB.setNetmap({ ...netmapFor(b, [a], server.url), packetFilter: onlySSH });
    await engineA.start();
    await engineB.start();
    const closed = engineB.netstack.listenTCP(7000);
    let accepted = 0;
    (async () => {
      for await (const _ of closed) accepted++;
    })();
    const ssh = engineB.netstack.listenTCP(22);
    const started = performance.now();
    const attempt = engineA.netstack.connectTCP(AddrPort.parse(`${b.ip}:7000`), {
      timeoutMs: 10_000,
    });
    // B's filter drops the SYN and answers with a TSMP rejection, as tailscaled does.
    const error = await attempt.catch((e) => e);
    assert.ok(error instanceof ConnectionForbiddenError, String(error));
    assert.match(error.message, /forbidden by the peer's ACL/);
    assert.ok(performance.now() - started < 5_000, "told at once, not after a timeout");
    assert.equal(engineB.stats.connectRejectsSent, 1);
    assert.equal(engineA.stats.connectRejectsReceived, 1);
    await until(
      "the SYN dropped by the filter",
      () => engineB.stats.inboundDropped["acl:no-rule-matched"] ? true : undefined,
    );
    assert.equal(accepted, 0, "nothing reached the listener");
    const conn = await engineA.netstack.connectTCP(AddrPort.parse(`${b.ip}:22`));
    const incoming = await ssh.accept();
    await conn.writeAll(Uint8Array.of(42));
    const buf = new Uint8Array(1);
    assert.equal(await incoming.read(buf), 1);
    assert.equal(buf[0], 42);
    conn.close();
    incoming.close();
    closed.close();
    ssh.close();
  } finally {
    await engineA.close();
    await engineB.close();
    await server.close();
  }
});

Deno.test("Engine TCP: the connections to a peer that leaves the netmap are aborted at once", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const engineA = new Engine({ ...a, plainHTTPDerp: true });
  const engineB = new Engine({ ...b, plainHTTPDerp: true });
  try {
    engineA.setNetmap(netmapFor(a, [b], server.url));
    engineB.setNetmap(netmapFor(b, [a], server.url));
    await engineA.start();
    await engineB.start();
    const listener = engineB.netstack.listenTCP(7000);
    const conn = await engineA.netstack.connectTCP(AddrPort.parse(`${b.ip}:7000`));
    const incoming = await listener.accept();
    const reading = conn.read(new Uint8Array(16)).catch((e) => e);
    engineA.setNetmap(netmapFor(a, [], server.url));
    const error = await reading;
    assert.ok(error instanceof ConnectionResetError, String(error));
    assert.match(error.message, /the peer left the netmap/);
    assert.equal(engineA.stats.connectionsAbortedPeerGone, 1);
    assert.equal(engineA.netstack.snapshot().tcpConnections, 0);
    incoming.close();
    listener.close();
  } finally {
    await engineA.close();
    await engineB.close();
    await server.close();
  }
});

Deno.test("Engine TCP: a session the peer dropped is re-established when a connect goes unanswered", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const engineA = new Engine({ ...a, plainHTTPDerp: true });
  const engineB = new Engine({ ...b, plainHTTPDerp: true });
  try {
    engineA.setNetmap(netmapFor(a, [b], server.url));
    engineB.setNetmap(netmapFor(b, [a], server.url));
    await engineA.start();
    await engineB.start();
    const listener = engineB.netstack.listenTCP(7000);
    const first = await engineA.netstack.connectTCP(AddrPort.parse(`${b.ip}:7000`));
    (await listener.accept()).close();
    first.close();
    // B forgets A's session (as tailscaled does when it learns a peer's new disco key); A
    // still holds its half and would only notice after WireGuard's 15 s of silence.
    engineB.setNetmap(netmapFor(b, [], server.url));
    engineB.setNetmap(netmapFor(b, [a], server.url));
    const started = performance.now();
    const second = await engineA.netstack.connectTCP(AddrPort.parse(`${b.ip}:7000`), {
      timeoutMs: 12_000,
    });
    const elapsed = performance.now() - started;
    assert.ok(engineA.stats.handshakesForcedByTcp >= 1, "TCP's timeout started a handshake");
    assert.ok(elapsed < 10_000, `connected after ${elapsed.toFixed(0)} ms, not after 15 s`);
    (await listener.accept()).close();
    second.close();
    listener.close();
  } finally {
    await engineA.close();
    await engineB.close();
    await server.close();
  }
});
