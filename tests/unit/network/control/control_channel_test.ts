import assert from "node:assert/strict";
import { ControlChannel } from "../../../../network/control/control_channel.ts";
import {
  ControlProtocolError,
  ControlUnreachableError,
} from "../../../../network/control/control_errors.ts";
import { MachinePrivateKey } from "../../../../network/crypto/keys.ts";
import { FakeControlServer, respondJSON } from "./fake_control_server.ts";

const dec = new TextDecoder();

function echoServer(): FakeControlServer {
  return FakeControlServer.start((request, stream) => {
    respondJSON(stream, { path: request.path, got: request.json, lb: request.headers["ts-lb"] });
  });
}

Deno.test("control_channel: request over Noise + HTTP/2; early payload stripped", async () => {
  const server = echoServer();
  const machineKey = MachinePrivateKey.generate();
  const channel = new ControlChannel({ serverURL: server.url, machineKey });
  try {
    const res = await channel.request("/machine/x", { a: 1 }, {
      headers: { "ts-lb": "nodekey:1" },
    });
    assert.equal(res.status, 200);
    const body = JSON.parse(dec.decode(await res.readAll(1 << 20)));
    assert.deepEqual(body, { path: "/machine/x", got: { a: 1 }, lb: "nodekey:1" });
    assert.deepEqual(server.requests[0].machineKey, machineKey.publicKey().bytes);
    assert.equal(server.requests[0].headers["content-type"], "application/json");
    assert.equal(server.requests[0].headers[":scheme"], "https");
    assert.equal(server.requests[0].headers[":authority"], server.url.host);
    assert.equal(server.requests[0].method, "POST");
    assert.deepEqual(channel.earlyNoise, { nodeKeyChallenge: "chalpub:" + "cd".repeat(32) });
    assert.equal(channel.connected, true);
    // Concurrent requests share the connection.
    const many = await Promise.all(
      [1, 2, 3, 4].map((i) => channel.request("/machine/y", { i }).then((r) => r.readAll(1000))),
    );
    assert.equal(many.length, 4);
    assert.equal(server.upgrades, 1);
    assert.equal(server.keyRequests, 1);
  } finally {
    channel.close();
    await server.close();
  }
});

Deno.test("control_channel: works without an early payload", async () => {
  const server = echoServer();
  server.behaviour.earlyPayload = false;
  const channel = new ControlChannel({
    serverURL: server.url,
    machineKey: MachinePrivateKey.generate(),
  });
  try {
    const res = await channel.request("/machine/x", {});
    assert.equal(res.status, 200);
    await res.readAll(1000);
    assert.equal(channel.earlyNoise, null);
  } finally {
    channel.close();
    await server.close();
  }
});

Deno.test("control_channel: redials transparently after the connection died", async () => {
  const server = echoServer();
  const channel = new ControlChannel({
    serverURL: server.url,
    machineKey: MachinePrivateKey.generate(),
  });
  try {
    await (await channel.request("/a", {})).readAll(1000);
    server.killConnections();
    await new Promise((r) => setTimeout(r, 50));
    const res = await channel.request("/b", {});
    assert.equal(JSON.parse(dec.decode(await res.readAll(1000))).path, "/b");
    assert.equal(server.upgrades, 2);
    assert.equal(server.keyRequests, 1, "the server key stays cached");
  } finally {
    channel.close();
    await server.close();
  }
});

Deno.test("control_channel: a changed server key is fetched again after the handshake fails", async () => {
  const server = echoServer();
  const channel = new ControlChannel({
    serverURL: server.url,
    machineKey: MachinePrivateKey.generate(),
  });
  try {
    await (await channel.request("/a", {})).readAll(1000);
    server.killConnections();
    server.serverKey = MachinePrivateKey.generate();
    await new Promise((r) => setTimeout(r, 50));
    await (await channel.request("/b", {})).readAll(1000);
    assert.equal(server.keyRequests, 2);
  } finally {
    channel.close();
    await server.close();
  }
});

Deno.test("control_channel: an upgrade that never answers times out as unreachable", async () => {
  const server = echoServer();
  server.behaviour.hangUpgrade = true;
  const channel = new ControlChannel({
    serverURL: server.url,
    machineKey: MachinePrivateKey.generate(),
    dialTimeoutMs: 200,
  });
  try {
    await assert.rejects(channel.request("/a", {}), (err) => {
      assert.ok(err instanceof ControlUnreachableError);
      assert.match(err.message, /timed out after 200 ms/);
      return true;
    });
  } finally {
    channel.close();
    await server.close();
  }
});

Deno.test("control_channel: a /key that never answers times out as unreachable", async () => {
  const server = echoServer();
  server.behaviour.hangKey = true;
  const channel = new ControlChannel({
    serverURL: server.url,
    machineKey: MachinePrivateKey.generate(),
    dialTimeoutMs: 200,
  });
  try {
    await assert.rejects(channel.request("/a", {}), ControlUnreachableError);
  } finally {
    channel.close();
    await server.close();
  }
});

Deno.test("control_channel: 404 on /ts2021 is a ControlProtocolError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const serving = (async () => {
    for (let i = 0; i < 2; i++) {
      const conn = await listener.accept();
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      const text = dec.decode(buf.subarray(0, n ?? 0));
      const body = text.startsWith("GET /key")
        ? `{"publicKey":"mkey:${"11".repeat(32)}"}`
        : "404 page not found";
      const status = text.startsWith("GET /key") ? "200 OK" : "404 Not Found";
      await conn.write(
        new TextEncoder().encode(
          `HTTP/1.1 ${status}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        ),
      );
      conn.close();
    }
  })();
  const channel = new ControlChannel({
    serverURL: `http://127.0.0.1:${port}`,
    machineKey: MachinePrivateKey.generate(),
  });
  try {
    await assert.rejects(channel.request("/a", {}), (err) => {
      assert.ok(err instanceof ControlProtocolError);
      assert.equal(err.status, 404);
      return true;
    });
  } finally {
    channel.close();
    await serving;
    listener.close();
  }
});

Deno.test("control_channel: abort while dialing rejects with the reason", async () => {
  const server = echoServer();
  server.behaviour.hangUpgrade = true;
  const channel = new ControlChannel({
    serverURL: server.url,
    machineKey: MachinePrivateKey.generate(),
    dialTimeoutMs: 1000,
  });
  const controller = new AbortController();
  const reason = new Error("user cancelled");
  setTimeout(() => controller.abort(reason), 50);
  try {
    await assert.rejects(
      channel.request("/a", {}, { signal: controller.signal }),
      (e) => e === reason,
    );
    // Let the abandoned dial finish timing out so no timer leaks.
    await new Promise((r) => setTimeout(r, 1100));
  } finally {
    channel.close();
    await server.close();
  }
});
