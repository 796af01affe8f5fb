/**
 * Which hosts the job loop reaches through the mesh: peers by IP, hostname or
 * MagicDNS name, and any address in the mesh ranges; everything else
 * directly. The routed dial and fetch follow that choice at each connection.
 */
import assert from "node:assert/strict";
import {
  isMeshHost,
  meshDial,
  meshPeerNamed,
  routedDial,
  routedFetch,
} from "../../../cli/job_loop_routes.ts";
import type { NodeStatus } from "../../../network/mod.ts";
import type { RedisDuplex } from "../../../worker/mod.ts";

const STATUS: NodeStatus = {
  connected: true,
  nodeName: "box",
  nodeId: 7,
  nodeIP: "100.64.0.5",
  nodeIPv6: "fd7a:115c:a1e0::5",
  nexus: "https://n",
  keyExpiry: null,
  peers: [{
    hostname: "redis-host",
    ip: "100.64.0.6",
    ipv6: "fd7a:115c:a1e0::6",
    online: true,
    os: "linux",
    lastSeen: null,
  }],
};

Deno.test("mesh hosts: peers by address or name, and the mesh ranges; the rest is direct", () => {
  for (const host of ["redis-host", "REDIS-HOST", "redis-host.tailnet.example.", "100.64.0.6"]) {
    assert.equal(meshPeerNamed(STATUS, host), "redis-host", host);
    assert.ok(isMeshHost(STATUS, host), host);
  }
  assert.equal(meshPeerNamed(STATUS, "[fd7a:115c:a1e0::6]"), "redis-host");
  // In the mesh ranges without a peer: still never direct.
  for (
    const host of ["100.64.0.99", "100.127.255.1", "fd7a:115c:a1e0::99", "[fd7a:115c:a1e0::1]"]
  ) {
    assert.equal(meshPeerNamed(STATUS, host), null, host);
    assert.ok(isMeshHost(STATUS, host), host);
  }
  for (const host of ["127.0.0.1", "localhost", "10.0.0.5", "100.128.0.1", "example.com", "::1"]) {
    assert.ok(!isMeshHost(STATUS, host), host);
  }
  assert.ok(!isMeshHost(null, "redis-host"), "no netmap, no peer names");
  assert.ok(isMeshHost(null, "100.64.0.6"), "but the mesh ranges still");
});

Deno.test("routedDial and routedFetch follow the choice at each call", async () => {
  const calls: string[] = [];
  const stream = (route: string): RedisDuplex => ({
    route,
    readable: new ReadableStream(),
    writable: new WritableStream(),
    close: () => {},
  });
  const isMesh = (host: string) => isMeshHost(STATUS, host);
  const dial = routedDial({
    direct: (host, port) => {
      calls.push(`direct ${host}:${port}`);
      return Promise.resolve(stream("direct"));
    },
    mesh: (host, port) => {
      calls.push(`mesh ${host}:${port}`);
      return Promise.resolve(stream("mesh"));
    },
  }, isMesh);
  assert.equal((await dial("redis-host", 6379)).route, "mesh");
  assert.equal((await dial("127.0.0.1", 6379)).route, "direct");
  assert.deepEqual(calls, ["mesh redis-host:6379", "direct 127.0.0.1:6379"]);

  const fetched: string[] = [];
  const fetch = routedFetch({
    mesh: (host, port) => Promise.reject(new Error(`mesh dial ${host}:${port}`)),
    isMesh,
    direct: (request) => {
      fetched.push(request.url);
      return Promise.resolve(new Response("direct"));
    },
  });
  assert.equal(await (await fetch(new Request("https://example.com/x"))).text(), "direct");
  await assert.rejects(fetch(new Request("http://redis-host:8080/")), /mesh dial redis-host:8080/);
  await assert.rejects(fetch(new Request("https://redis-host/")), /mesh dial redis-host:443/);
  await assert.rejects(
    fetch(new Request("http://[fd7a:115c:a1e0::6]:81/")),
    /mesh dial fd7a:115c:a1e0::6:81/,
  );
  assert.deepEqual(fetched, ["https://example.com/x"]);
});

Deno.test("meshDial without a running node fails with the network's typed error", async () => {
  await assert.rejects(meshDial("redis-host", 6379), { name: "DataPlaneNotStartedError" });
});
