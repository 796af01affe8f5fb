/**
 * CitadelNode against the in-process fake ts2021 server: the registration
 * paths (auth key, restart from state, interactive, deleted node), the map
 * poll loop's reconnect, status, and logout. The same paths are shown against
 * real Headscale in tests/interop/.
 */
import assert from "node:assert/strict";
import type * as http2 from "node:http2";
import { encodeMapFrame } from "../../../network/control/map_frame.ts";
import type { MapResponse, Node } from "../../../network/control/map_response.ts";
import { NodePrivateKey, NodePublicKey } from "../../../network/crypto/keys.ts";
import { CitadelNode } from "../../../network/node.ts";
import { NexusMismatchError, NotLoggedInError } from "../../../network/node_errors.ts";
import type { NodeEvent } from "../../../network/node_types.ts";
import { MemoryStateStore } from "../../../state/memory_store.ts";
import { FakeControlServer, type FakeRequest, respondJSON } from "./control/fake_control_server.ts";

const AUTH_KEY = "hskey-auth-TestTestTest-" + "x".repeat(64);
const OK_REGISTER = {
  User: { ID: 7, DisplayName: "Alice" },
  Login: { ID: 7, LoginName: "alice@example.com", DisplayName: "Alice" },
  MachineAuthorized: true,
  AuthURL: "",
  Error: "",
};

function selfNode(key: string, ip = "100.64.0.5"): Node {
  return {
    ID: 5,
    StableID: "5",
    Name: "node-a.mesh.test.",
    User: 7,
    Key: key,
    Addresses: [`${ip}/32`, "fd7a:115c:a1e0::5/128"],
    Hostinfo: { Hostname: "node-a", OS: "linux" },
  } as Node;
}

function peerNode(id: number, host: string, online: boolean): Node {
  return {
    ID: id,
    StableID: String(id),
    Name: `${host}.mesh.test.`,
    User: 7,
    Key: new NodePublicKey(new Uint8Array(32).fill(id)).toText(),
    Addresses: [`100.64.0.${id}/32`],
    Hostinfo: { Hostname: host, OS: "linux" },
    Online: online,
  } as Node;
}

interface FakeNexus {
  server: FakeControlServer;
  registers: FakeRequest[];
  maps: FakeRequest[];
  /** Known node keys (text), as the server would hold them. */
  known: Set<string>;
  /** Node keys that have expired. */
  expired: Set<string>;
  /** Set to answer the next registers with an AuthURL until approved. */
  interactive: { approved: boolean } | null;
  streams: http2.ServerHttp2Stream[];
}

function startFakeNexus(extraPeers: Node[] = []): FakeNexus {
  const nexus: FakeNexus = {
    server: undefined as unknown as FakeControlServer,
    registers: [],
    maps: [],
    known: new Set(),
    expired: new Set(),
    interactive: null,
    streams: [],
  };
  nexus.server = FakeControlServer.start((request, stream) => {
    const body = request.json as Record<string, unknown>;
    if (request.path === "/machine/register") {
      nexus.registers.push(request);
      const key = body.NodeKey as string;
      if (body.Auth) {
        nexus.known.add(key);
        return respondJSON(stream, OK_REGISTER);
      }
      if (nexus.expired.has(key)) {
        return respondJSON(stream, {
          ...OK_REGISTER,
          NodeKeyExpired: true,
          MachineAuthorized: false,
        });
      }
      if (nexus.known.has(key)) {
        if (body.Expiry && !String(body.Expiry).startsWith("0001")) {
          nexus.known.delete(key);
          return respondJSON(stream, { ...OK_REGISTER, NodeKeyExpired: true });
        }
        return respondJSON(stream, OK_REGISTER);
      }
      if (nexus.interactive) {
        if (body.Followup && nexus.interactive.approved) {
          nexus.known.add(key);
          return respondJSON(stream, OK_REGISTER);
        }
        // A followup blocks until approval; approve on the first one.
        if (body.Followup) nexus.interactive.approved = true;
        return respondJSON(stream, { AuthURL: `${nexus.server.url.origin}/register/abc` });
      }
      return respondJSON(stream, { AuthURL: `${nexus.server.url.origin}/register/abc` });
    }
    if (request.path === "/machine/map") {
      nexus.maps.push(request);
      const key = body.NodeKey as string;
      if (!nexus.known.has(key)) return respondJSON(stream, { error: "not found" }, 404);
      stream.respond({ ":status": 200 });
      const first: MapResponse = {
        Node: selfNode(key),
        Peers: extraPeers,
        Domain: "mesh.test",
        UserProfiles: [{ ID: 7, LoginName: "alice@example.com", DisplayName: "Alice" }],
      } as MapResponse;
      stream.write(encodeMapFrame(first, { compressed: true }));
      nexus.streams.push(stream);
      return;
    }
    respondJSON(stream, {}, 404);
  });
  return nexus;
}

function collect(events: NodeEvent[]) {
  return (e: NodeEvent) => events.push(e);
}

Deno.test("node: joins with an auth key, saves identity, reports status", async () => {
  const nexus = startFakeNexus([peerNode(9, "peer-b", true)]);
  const store = new MemoryStateStore();
  const events: NodeEvent[] = [];
  const node = new CitadelNode({
    controlURL: nexus.server.url.origin,
    store,
    authKey: AUTH_KEY,
    hostname: "node-a",
    onEvent: collect(events),
  });
  try {
    const result = await node.start();
    assert.deepEqual(result, {
      nodeName: "node-a",
      nodeIP: "100.64.0.5",
      nodeIPv6: "fd7a:115c:a1e0::5",
      newlyRegistered: true,
    });
    assert.equal(node.connected, true);
    const status = node.status();
    assert.equal(status.connected, true);
    assert.equal(status.nodeId, 5, "Nexus's numeric id of the self node");
    assert.equal(status.nexus, nexus.server.url.origin);
    assert.deepEqual(status.peers.map((p) => [p.hostname, p.ip, p.online]), [
      ["peer-b", "100.64.0.9", true],
    ]);
    const register = nexus.registers[0].json as Record<string, unknown>;
    assert.deepEqual(register.Auth, { AuthKey: AUTH_KEY });
    assert.equal((register.Hostinfo as Record<string, unknown>).Hostname, "node-a");
    const saved = await store.load();
    assert.ok(saved?.login);
    assert.equal(saved.login.userId, 7);
    assert.equal(saved.login.loginName, "alice@example.com");
    assert.ok(events.some((e) => e.kind === "registered"));
    // The auth key never reaches the saved state.
    assert.ok(!store.text!.includes(AUTH_KEY));
  } finally {
    await node.close();
    await nexus.server.close();
  }
  // close() wrote the netmap cache with the self node's identity.
  const saved = await store.load();
  assert.equal(saved?.login?.addresses.v4, "100.64.0.5");
  assert.equal(saved?.login?.nodeId, 5);
});

Deno.test("node: a restart uses the saved node key and never the auth key", async () => {
  const nexus = startFakeNexus();
  const store = new MemoryStateStore();
  const first = new CitadelNode({ controlURL: nexus.server.url.origin, store, authKey: AUTH_KEY });
  await first.start();
  await first.close();
  const keyBefore = (await store.load())!.nodeKey.publicKey().toText();
  const second = new CitadelNode({ controlURL: nexus.server.url.origin, store, authKey: AUTH_KEY });
  try {
    const result = await second.start();
    assert.equal(result.newlyRegistered, false);
    assert.equal(result.nodeIP, "100.64.0.5");
    const last = nexus.registers.at(-1)!.json as Record<string, unknown>;
    assert.equal(last.Auth, undefined, "a valid node key must not spend the auth key");
    assert.equal(last.NodeKey, keyBefore);
  } finally {
    await second.close();
    await nexus.server.close();
  }
});

Deno.test("node: without state, status/work mode fails with NotLoggedInError", async () => {
  const nexus = startFakeNexus();
  const node = new CitadelNode({
    controlURL: nexus.server.url.origin,
    store: new MemoryStateStore(),
    allowInteractive: false,
  });
  try {
    await assert.rejects(node.start(), NotLoggedInError);
    assert.equal(nexus.registers.length, 0);
  } finally {
    await nexus.server.close();
  }
});

Deno.test("node: interactive login shows the AuthURL once and waits for approval", async () => {
  const nexus = startFakeNexus();
  nexus.interactive = { approved: false };
  const urls: string[] = [];
  const node = new CitadelNode({
    controlURL: nexus.server.url.origin,
    store: new MemoryStateStore(),
    onAuthURL: (url) => urls.push(url),
  });
  try {
    const result = await node.start();
    assert.equal(result.newlyRegistered, true);
    assert.deepEqual(urls, [`${nexus.server.url.origin}/register/abc`]);
    const followups = nexus.registers.filter((r) => (r.json as { Followup: string }).Followup);
    assert.ok(followups.length >= 1);
  } finally {
    await node.close();
    await nexus.server.close();
  }
});

Deno.test("node: a node deleted at Nexus is re-registered with a new node key when a key is given", async () => {
  const nexus = startFakeNexus();
  const store = new MemoryStateStore();
  const first = new CitadelNode({ controlURL: nexus.server.url.origin, store, authKey: AUTH_KEY });
  await first.start();
  await first.close();
  const oldKey = (await store.load())!.nodeKey.publicKey().toText();
  nexus.known.clear(); // "headscale nodes delete"
  const withoutKey = new CitadelNode({
    controlURL: nexus.server.url.origin,
    store,
    allowInteractive: false,
  });
  await assert.rejects(withoutKey.start(), { name: "NodeNotFoundError" });
  const withKey = new CitadelNode({
    controlURL: nexus.server.url.origin,
    store,
    authKey: AUTH_KEY,
  });
  try {
    const result = await withKey.start();
    assert.equal(result.newlyRegistered, true);
    const newKey = (await store.load())!.nodeKey.publicKey().toText();
    assert.notEqual(newKey, oldKey);
  } finally {
    await withKey.close();
    await nexus.server.close();
  }
});

Deno.test("node: the map poll reconnects after the connection drops", async () => {
  const nexus = startFakeNexus();
  const events: NodeEvent[] = [];
  const node = new CitadelNode({
    controlURL: nexus.server.url.origin,
    store: new MemoryStateStore(),
    authKey: AUTH_KEY,
    onEvent: collect(events),
  });
  try {
    await node.start();
    assert.equal(nexus.maps.length, 1);
    nexus.server.killConnections();
    const deadline = Date.now() + 10_000;
    while ((nexus.maps.length < 2 || !node.connected) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(node.connected, true);
    assert.ok(nexus.maps.length >= 2, "a second map poll was made");
    assert.ok(events.some((e) => e.kind === "disconnected"));
    assert.ok(events.some((e) => e.kind === "reconnected"));
  } finally {
    await node.close();
    await nexus.server.close();
  }
});

Deno.test("node: logout expires the key at Nexus and clears the store", async () => {
  const nexus = startFakeNexus();
  const store = new MemoryStateStore();
  const node = new CitadelNode({ controlURL: nexus.server.url.origin, store, authKey: AUTH_KEY });
  await node.start();
  const key = (await store.load())!.nodeKey.publicKey().toText();
  await node.logout();
  await nexus.server.close();
  const last = nexus.registers.at(-1)!.json as Record<string, unknown>;
  assert.equal(last.NodeKey, key);
  assert.equal(last.Expiry, "1970-01-01T00:02:03Z");
  assert.equal(nexus.known.has(key), false);
  assert.equal(await store.load(), null);
});

Deno.test("node: a state of another Nexus is refused", async () => {
  const nexus = startFakeNexus();
  const store = new MemoryStateStore();
  const node = new CitadelNode({ controlURL: nexus.server.url.origin, store, authKey: AUTH_KEY });
  await node.start();
  await node.close();
  const other = new CitadelNode({ controlURL: "http://127.0.0.1:1", store });
  try {
    await assert.rejects(other.start(), NexusMismatchError);
  } finally {
    await nexus.server.close();
  }
});

Deno.test("node: a node deleted at Nexus while its stream stays open is noticed", async () => {
  const nexus = startFakeNexus();
  const events: NodeEvent[] = [];
  const store = new MemoryStateStore();
  const first = new CitadelNode({ controlURL: nexus.server.url.origin, store, authKey: AUTH_KEY });
  await first.start();
  await first.close();
  const node = new CitadelNode({
    controlURL: nexus.server.url.origin,
    store,
    allowInteractive: false,
    registrationCheckIntervalMs: 50,
    onEvent: collect(events),
  });
  try {
    await node.start();
    nexus.known.clear(); // deleted; the fake, like Headscale, keeps the stream open
    const outcome = await Promise.race([
      node.stopped,
      new Promise((r) => setTimeout(() => r("still running"), 5_000)),
    ]);
    assert.ok(outcome instanceof Error, `expected the node to stop, got ${outcome}`);
    assert.equal(outcome.name, "NodeNotFoundError");
    assert.equal(node.connected, false);
    assert.ok(events.some((e) => e.kind === "failed"));
  } finally {
    await node.close();
    await nexus.server.close();
  }
});

Deno.test("node: an expired key is rotated with OldNodeKey, the pair saved before registering", async () => {
  const nexus = startFakeNexus();
  const store = new MemoryStateStore();
  const first = new CitadelNode({ controlURL: nexus.server.url.origin, store, authKey: AUTH_KEY });
  await first.start();
  await first.close();
  const oldKey = (await store.load())!.nodeKey.publicKey().toText();
  nexus.known.delete(oldKey);
  nexus.expired.add(oldKey);
  // Nexus answers the rotation's register only after we look at the saved state.
  const savedPairs: { old: string; now: string }[] = [];
  const save = store.save.bind(store);
  store.save = async (state, options) => {
    if (state.oldNodeKey) {
      savedPairs.push({
        old: state.oldNodeKey.publicKey().toText(),
        now: state.nodeKey.publicKey().toText(),
      });
    }
    return await save(state, options);
  };
  const node = new CitadelNode({ controlURL: nexus.server.url.origin, store, authKey: AUTH_KEY });
  try {
    const result = await node.start();
    assert.equal(result.newlyRegistered, true);
    const rotation = nexus.registers.at(-1)!.json as Record<string, unknown>;
    assert.equal(rotation.OldNodeKey, oldKey);
    assert.deepEqual(rotation.Auth, { AuthKey: AUTH_KEY });
    // The pair was saved before the new key was registered.
    assert.deepEqual(savedPairs, [{ old: oldKey, now: rotation.NodeKey }]);
    const saved = (await store.load())!;
    assert.equal(saved.nodeKey.publicKey().toText(), rotation.NodeKey);
    assert.equal(saved.oldNodeKey, undefined, "rotation finished");
  } finally {
    await node.close();
    await nexus.server.close();
  }
});

Deno.test("node: a rotation cut short by a crash resumes with the saved key pair", async () => {
  const nexus = startFakeNexus();
  const store = new MemoryStateStore();
  const first = new CitadelNode({ controlURL: nexus.server.url.origin, store, authKey: AUTH_KEY });
  await first.start();
  await first.close();
  const before = (await store.load())!;
  const oldKey = before.nodeKey.publicKey().toText();
  nexus.known.delete(oldKey);
  nexus.expired.add(oldKey);
  // The state a crash right after saving the new pair leaves behind.
  const pending = NodePrivateKey.generate();
  await store.save({ ...before, oldNodeKey: before.nodeKey, nodeKey: pending });
  const node = new CitadelNode({ controlURL: nexus.server.url.origin, store, authKey: AUTH_KEY });
  try {
    await node.start();
    const rotation = nexus.registers.at(-1)!.json as Record<string, unknown>;
    assert.equal(rotation.NodeKey, pending.publicKey().toText(), "the saved new key, not another");
    assert.equal(rotation.OldNodeKey, oldKey);
    assert.equal((await store.load())!.oldNodeKey, undefined);
  } finally {
    await node.close();
    await nexus.server.close();
  }
});

Deno.test("node: whois maps a mesh address to the node that holds it and its user", async () => {
  const peer = peerNode(9, "peer-b", true);
  const tagged = { ...peerNode(12, "ci-runner", true), Tags: ["tag:ci"] } as Node;
  const nexus = startFakeNexus([peer, tagged]);
  const node = new CitadelNode({
    controlURL: nexus.server.url.origin,
    store: new MemoryStateStore(),
    authKey: AUTH_KEY,
  });
  try {
    await node.start();
    const who = node.whois("100.64.0.9:443");
    assert.ok(who);
    assert.equal(who.nodeId, 9);
    assert.equal(who.hostname, "peer-b");
    assert.equal(who.nodeKey, peer.Key);
    assert.deepEqual(who.addresses, ["100.64.0.9"]);
    assert.equal(who.self, false);
    assert.deepEqual(who.user, { id: 7, loginName: "alice@example.com", displayName: "Alice" });
    assert.deepEqual(node.whois("100.64.0.9"), who);
    const me = node.whois("[fd7a:115c:a1e0::5]:80");
    assert.equal(me?.self, true);
    assert.equal(me?.nodeName, "node-a");
    assert.deepEqual(node.whois("100.64.0.12")?.tags, ["tag:ci"]);
    assert.equal(node.whois("100.64.0.12")?.user, null, "tagged nodes have no user");
    assert.equal(node.whois("100.64.0.200"), null);
    assert.equal(node.whois("not an address"), null);
  } finally {
    await node.close();
    await nexus.server.close();
  }
});
