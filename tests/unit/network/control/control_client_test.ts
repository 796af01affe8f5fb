import assert from "node:assert/strict";
import type * as http2 from "node:http2";
import { type Clock, systemClock } from "../../../../network/clock.ts";
import { CAPABILITY_VERSION } from "../../../../network/control/capability_version.ts";
import {
  classifyRegisterError,
  ControlClient,
  LOGOUT_EXPIRY,
  MAP_WATCHDOG_MS,
  parseRetryAfter,
} from "../../../../network/control/control_client.ts";
import {
  AuthKeyRejectedError,
  ControlProtocolError,
  ControlUnreachableError,
  NodeExpiredError,
  NodeNotFoundError,
  RegistrationError,
  UnsupportedVersionError,
} from "../../../../network/control/control_errors.ts";
import { encodeMapFrame } from "../../../../network/control/map_frame.ts";
import type { MapResponse } from "../../../../network/control/map_response.ts";
import {
  DiscoPrivateKey,
  MachinePrivateKey,
  NodePrivateKey,
} from "../../../../network/crypto/keys.ts";
import {
  FakeControlServer,
  type FakeRequest,
  respondJSON,
  respondText,
} from "./fake_control_server.ts";

const AUTH_KEY = "hskey-auth-AbCdEfGhIjKl-" + "s3cr3t".repeat(10) + "abcd";
const ZERO_NODE = "nodekey:" + "0".repeat(64);

const OK_REGISTER = {
  User: { ID: 1, DisplayName: "alice" },
  Login: { ID: 1, Provider: "", LoginName: "alice", DisplayName: "alice" },
  NodeKeyExpired: false,
  MachineAuthorized: true,
  AuthURL: "",
  NodeKeySignature: null,
  Error: "",
};

/** The real clock, except that sleeps are recorded and skipped and the map watchdog is short. */
function testClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    ...systemClock,
    sleeps,
    setTimeout: (cb, ms) => systemClock.setTimeout(cb, ms === MAP_WATCHDOG_MS ? 150 : ms),
    sleep: (ms, signal) => {
      sleeps.push(ms);
      signal?.throwIfAborted();
      return Promise.resolve();
    },
  };
}

async function withClient(
  handler: (request: FakeRequest, stream: http2.ServerHttp2Stream) => void,
  body: (
    client: ControlClient,
    server: FakeControlServer,
    clock: ReturnType<typeof testClock>,
  ) => Promise<void>,
): Promise<void> {
  const server = FakeControlServer.start(handler);
  const clock = testClock();
  const client = new ControlClient({
    serverURL: server.url,
    machineKey: MachinePrivateKey.generate(),
    hostinfo: () => ({ Hostname: "unit-node" }),
    clock,
  });
  try {
    await body(client, server, clock);
  } finally {
    client.close();
    await server.close();
  }
}

Deno.test("control_client: register sends the reference request shape", async () => {
  await withClient((_req, stream) => respondJSON(stream, OK_REGISTER), async (client, server) => {
    const nodeKey = NodePrivateKey.generate();
    const res = await client.register({ nodeKey, authKey: AUTH_KEY });
    assert.equal(res.MachineAuthorized, true);
    const req = server.requests[0];
    assert.equal(req.path, "/machine/register");
    assert.equal(req.method, "POST");
    assert.equal(req.headers["ts-lb"], nodeKey.publicKey().toText());
    const body = req.json as Record<string, unknown>;
    assert.equal(body.Version, CAPABILITY_VERSION);
    assert.equal(body.NodeKey, nodeKey.publicKey().toText());
    assert.equal(body.OldNodeKey, ZERO_NODE);
    assert.equal(body.NLKey, "nlpub:" + "0".repeat(64));
    assert.deepEqual(body.Auth, { AuthKey: AUTH_KEY });
    assert.equal(body.Expiry, "0001-01-01T00:00:00Z");
    assert.equal(body.Followup, "");
    assert.equal(body.NodeKeySignature, null);
    const hostinfo = body.Hostinfo as Record<string, unknown>;
    assert.equal(hostinfo.Hostname, "unit-node");
    assert.equal(hostinfo.App, "citadel");
    assert.equal(hostinfo.Userspace, true);
    assert.equal(typeof hostinfo.IPNVersion, "string");
    assert.equal(typeof hostinfo.OS, "string");
    assert.equal(typeof hostinfo.GoArch, "string");

    // Without a key, Auth is omitted; rotation sends OldNodeKey and two Ts-Lb values.
    const next = NodePrivateKey.generate();
    await client.register({
      nodeKey: next,
      oldNodeKey: nodeKey,
      expiry: new Date(Date.UTC(2030, 0, 2)),
    });
    const second = server.requests[1];
    const secondBody = second.json as Record<string, unknown>;
    assert.equal("Auth" in secondBody, false);
    assert.equal(secondBody.OldNodeKey, nodeKey.publicKey().toText());
    assert.equal(secondBody.Expiry, "2030-01-02T00:00:00Z");
    assert.match(String(second.headers["ts-lb"]), /nodekey:.*nodekey:/);
  });
});

Deno.test("control_client: Error texts become typed errors without the auth key", async () => {
  const cases: Array<[string, new (...a: never[]) => Error, string?]> = [
    ["authkey expired", AuthKeyRejectedError, "expired"],
    ["authkey already used", AuthKeyRejectedError, "already-used"],
    ["invalid authkey", AuthKeyRejectedError, "invalid"],
    ["invalid pre auth key", AuthKeyRejectedError, "invalid"],
    [`failed to parse auth-key: ${AUTH_KEY}`, AuthKeyRejectedError, "invalid"],
    ["node exists with a different machine key", RegistrationError],
  ];
  let next = "";
  await withClient(
    (_req, stream) => respondJSON(stream, { ...OK_REGISTER, Error: next }),
    async (client) => {
      for (const [text, type, reason] of cases) {
        next = text;
        await assert.rejects(
          client.register({ nodeKey: NodePrivateKey.generate(), authKey: AUTH_KEY }),
          (err) => {
            assert.ok(err instanceof type, `${text}: ${err}`);
            assert.ok(!(err as Error).message.includes(AUTH_KEY), "auth key leaked");
            assert.ok(!(err as Error).message.includes("s3cr3t"), "auth key secret leaked");
            if (reason) assert.equal((err as AuthKeyRejectedError).reason, reason);
            return true;
          },
        );
      }
    },
  );
});

Deno.test("control_client: NodeKeyExpired, unknown node and interactive AuthURL", async () => {
  let reply: Record<string, unknown> = OK_REGISTER;
  await withClient((_req, stream) => respondJSON(stream, reply), async (client) => {
    reply = { ...OK_REGISTER, NodeKeyExpired: true, MachineAuthorized: false };
    await assert.rejects(client.register({ nodeKey: NodePrivateKey.generate() }), NodeExpiredError);
    reply = {
      ...OK_REGISTER,
      MachineAuthorized: false,
      AuthURL: "http://s/register/hskey-authreq-x",
    };
    await assert.rejects(
      client.register({ nodeKey: NodePrivateKey.generate() }),
      NodeNotFoundError,
    );
    const res = await client.register({ nodeKey: NodePrivateKey.generate(), interactive: true });
    assert.equal(res.AuthURL, "http://s/register/hskey-authreq-x");
  });
});

Deno.test("control_client: 429 waits Retry-After; 400 unsupported version is typed", async () => {
  let calls = 0;
  await withClient((req, stream) => {
    calls++;
    const body = req.json as { NodeKey: string };
    if (body.NodeKey === "unsupported") return;
    if (calls === 1) return respondText(stream, "slow down", 429);
    if (calls === 2) {
      stream.respond({ ":status": 429, "retry-after": "7" });
      return stream.end();
    }
    if (calls === 3) return respondJSON(stream, OK_REGISTER);
    respondText(stream, "unsupported client version: v1.2.3 (1)", 400);
  }, async (client, _server, clock) => {
    await client.register({ nodeKey: NodePrivateKey.generate() });
    assert.equal(calls, 3);
    assert.equal(clock.sleeps.length, 2);
    assert.ok(
      clock.sleeps[0] >= 5000 && clock.sleeps[0] < 10000,
      `default wait ${clock.sleeps[0]}`,
    );
    assert.equal(clock.sleeps[1], 7000);
    await assert.rejects(
      client.register({ nodeKey: NodePrivateKey.generate() }),
      UnsupportedVersionError,
    );
  });
});

Deno.test("control_client: logout sends Expiry 1970-01-01T00:02:03Z", async () => {
  await withClient(
    (_req, stream) =>
      respondJSON(stream, { ...OK_REGISTER, NodeKeyExpired: true, MachineAuthorized: false }),
    async (client, server) => {
      const nodeKey = NodePrivateKey.generate();
      const res = await client.logout(nodeKey);
      assert.equal(res.NodeKeyExpired, true);
      const body = server.requests[0].json as Record<string, unknown>;
      assert.equal(body.Expiry, LOGOUT_EXPIRY);
      assert.equal(body.NodeKey, nodeKey.publicKey().toText());
      assert.equal("Auth" in body, false);
    },
  );
});

function selfNode(extra: Record<string, unknown> = {}): MapResponse {
  return {
    Node: {
      ID: 1,
      StableID: "1",
      Name: "unit-node.tailnet.test.",
      User: 1,
      Key: "nodekey:" + "11".repeat(32),
      Addresses: ["100.64.0.1/32", "fd7a:115c:a1e0::1/128"],
      ...extra,
    },
  } as unknown as MapResponse;
}

/** Writes framed zstd map messages in awkward pieces. */
function streamMap(stream: http2.ServerHttp2Stream, messages: MapResponse[], end: boolean): void {
  stream.respond({ ":status": 200 });
  const bytes = Uint8Array.from(
    messages.flatMap((m) => Array.from(encodeMapFrame(m, { compressed: true }))),
  );
  for (let i = 0; i < bytes.length; i += 5) stream.write(bytes.subarray(i, i + 5));
  if (end) stream.end();
}

Deno.test("control_client: mapPoll streams zstd frames to onMessage and resolves at end", async () => {
  await withClient((_req, stream) => {
    streamMap(stream, [
      selfNode(),
      { KeepAlive: true } as MapResponse,
      { PeersRemoved: [5] } as MapResponse,
    ], true);
  }, async (client, server) => {
    const nodeKey = NodePrivateKey.generate().publicKey();
    const discoKey = DiscoPrivateKey.generate().publicKey();
    const seen: MapResponse[] = [];
    await client.mapPoll({
      nodeKey,
      discoKey,
      endpoints: ["192.0.2.1:41641"],
      endpointTypes: [1],
      signal: new AbortController().signal,
      onMessage: (m) => {
        seen.push(m);
      },
    });
    assert.equal(seen.length, 3);
    assert.deepEqual(seen[0].Node?.Addresses, ["100.64.0.1/32", "fd7a:115c:a1e0::1/128"]);
    assert.equal(seen[1].KeepAlive, true);
    const body = server.requests[0].json as Record<string, unknown>;
    assert.equal(server.requests[0].path, "/machine/map");
    assert.equal(body.Stream, true);
    assert.equal(body.KeepAlive, true);
    assert.equal(body.Compress, "zstd");
    assert.equal(body.NodeKey, nodeKey.toText());
    assert.equal(body.DiscoKey, discoKey.toText());
    assert.deepEqual(body.Endpoints, ["192.0.2.1:41641"]);
    assert.deepEqual(body.EndpointTypes, [1]);
    assert.equal((body.Hostinfo as Record<string, unknown>).App, "citadel");
    assert.equal("OmitPeers" in body, false);
  });
});

Deno.test("control_client: mapPoll errors: 404, missing self node, expiry, abort, watchdog", async () => {
  let mode = "";
  await withClient((_req, stream) => {
    if (mode === "404") return respondText(stream, "node not found", 404);
    if (mode === "no-node") return streamMap(stream, [{ PeersRemoved: [1] } as MapResponse], false);
    if (mode === "expired") return streamMap(stream, [selfNode({ Expired: true })], false);
    if (mode === "hang") return streamMap(stream, [selfNode()], false);
    if (mode === "silent") return stream.respond({ ":status": 200 });
  }, async (client) => {
    const base = {
      nodeKey: NodePrivateKey.generate().publicKey(),
      discoKey: DiscoPrivateKey.generate().publicKey(),
    };
    mode = "404";
    await assert.rejects(
      client.mapPoll({ ...base, signal: new AbortController().signal, onMessage: () => {} }),
      NodeNotFoundError,
    );
    mode = "no-node";
    await assert.rejects(
      client.mapPoll({ ...base, signal: new AbortController().signal, onMessage: () => {} }),
      ControlProtocolError,
    );
    mode = "expired";
    let delivered = 0;
    await assert.rejects(
      client.mapPoll({
        ...base,
        signal: new AbortController().signal,
        onMessage: () => void delivered++,
      }),
      NodeExpiredError,
    );
    assert.equal(delivered, 1, "the expiring message is delivered first");

    mode = "hang";
    const controller = new AbortController();
    const reason = new Error("stop polling");
    await assert.rejects(
      client.mapPoll({
        ...base,
        signal: controller.signal,
        onMessage: () => controller.abort(reason),
      }),
      (err) => err === reason,
    );

    mode = "silent";
    await assert.rejects(
      client.mapPoll({ ...base, signal: new AbortController().signal, onMessage: () => {} }),
      (err) => err instanceof ControlUnreachableError && /no map response/.test(err.message),
    );
  });
});

Deno.test("control_client: liteUpdate sends Stream false, OmitPeers true", async () => {
  await withClient((_req, stream) => respondText(stream, "", 200), async (client, server) => {
    await client.liteUpdate({
      nodeKey: NodePrivateKey.generate().publicKey(),
      discoKey: DiscoPrivateKey.generate().publicKey(),
      endpoints: ["192.0.2.1:1"],
    });
    const body = server.requests[0].json as Record<string, unknown>;
    assert.equal(body.OmitPeers, true);
    assert.equal("Stream" in body, false);
    assert.deepEqual(body.Endpoints, ["192.0.2.1:1"]);
  });
});

Deno.test("control_client: Retry-After parsing and error classification helpers", () => {
  const now = Date.UTC(2026, 0, 1, 0, 0, 0);
  assert.equal(parseRetryAfter("12", now), 12000);
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now), 30000);
  assert.equal(parseRetryAfter("soon", now), null);
  assert.equal(parseRetryAfter(undefined, now), null);
  assert.ok(classifyRegisterError("authkey expired", undefined) instanceof RegistrationError);
  assert.ok(classifyRegisterError("node not found", undefined) instanceof NodeNotFoundError);
  const err = classifyRegisterError(`invalid authkey ${AUTH_KEY}`, AUTH_KEY);
  assert.ok(err instanceof AuthKeyRejectedError);
  assert.ok(!err.message.includes(AUTH_KEY));
  // Headscale's texts for a key whose secret is wrong, and for old keys.
  for (
    const text of [
      "invalid auth key: crypto/bcrypt: hashedPassword is not the hash",
      "auth-key expired",
      "invalid pre auth key",
    ]
  ) {
    const rejected = classifyRegisterError(text, AUTH_KEY);
    assert.ok(rejected instanceof AuthKeyRejectedError, text);
    assert.equal(rejected.reason, /expired/.test(text) ? "expired" : "invalid", text);
  }
  const other = classifyRegisterError(`odd failure for ${AUTH_KEY}`, AUTH_KEY);
  assert.ok(other instanceof RegistrationError);
  assert.ok(!other.message.includes(AUTH_KEY) && other.message.includes("[redacted]"));
});
