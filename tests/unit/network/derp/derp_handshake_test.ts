import assert from "node:assert/strict";
import { NodePrivateKey } from "../../../../network/crypto/keys.ts";
import { boxOpen } from "../../../../network/crypto/nacl_box.ts";
import { DerpHandshakeError } from "../../../../network/derp/derp_errors.ts";
import {
  FRAME_HEADER_LENGTH,
  FrameType,
  parseFrame,
  parseFrameHeader,
  serializeFrame,
} from "../../../../network/derp/derp_frame.ts";
import {
  clientInfoFrame,
  clientInfoJSON,
  DerpClientHandshake,
  openClientInfo,
  openServerInfo,
  sealInfo,
  serverInfoFrame,
  serverKeyFrame,
} from "../../../../network/derp/derp_handshake.ts";

function counterRandom(start = 0) {
  let n = start;
  return (length: number) => Uint8Array.from({ length }, () => n++ & 0xff);
}

function frames(bytes: Uint8Array) {
  const out = [];
  let offset = 0;
  while (offset < bytes.length) {
    const header = parseFrameHeader(bytes.subarray(offset));
    const start = offset + FRAME_HEADER_LENGTH;
    out.push(parseFrame(header.frameType, bytes.subarray(start, start + header.length)));
    offset = start + header.length;
  }
  return out;
}

const client = NodePrivateKey.fromBytes(new Uint8Array(32).fill(0x11));
const server = NodePrivateKey.fromBytes(new Uint8Array(32).fill(0x22));

Deno.test("ClientInfo JSON: tailscaled's shape and Go's omissions (§3.5)", () => {
  assert.equal(clientInfoJSON({ canAckPings: true }), '{"version":2,"CanAckPings":true}');
  assert.equal(clientInfoJSON({}), '{"version":2,"CanAckPings":false}');
  assert.equal(
    clientInfoJSON({
      meshKey: new Uint8Array(32).fill(0xab),
      canAckPings: true,
      isProber: true,
      appName: "citadel",
    }),
    `{"meshKey":"${
      "ab".repeat(32)
    }","version":2,"CanAckPings":true,"IsProber":true,"AppName":"citadel"}`,
  );
  assert.equal(
    clientInfoJSON({ meshKey: new Uint8Array(32), version: 0 }),
    '{"CanAckPings":false}',
  );
  assert.throws(() => clientInfoJSON({ meshKey: new Uint8Array(5).fill(1) }), RangeError);
});

Deno.test("ClientInfo frame: our key, nonce, NaCl box of the JSON to the server key", () => {
  const bytes = clientInfoFrame(client, server.publicKey(), { canAckPings: true }, counterRandom());
  assert.equal(bytes[0], FrameType.CLIENT_INFO);
  const [frame] = frames(bytes);
  assert.ok(frame.type === "clientInfo");
  assert.ok(frame.clientKey.equals(client.publicKey()));
  const nonce = frame.sealedInfo.subarray(0, 24);
  assert.deepEqual(nonce, Uint8Array.from({ length: 24 }, (_, i) => i));
  const plaintext = boxOpen(
    frame.sealedInfo.subarray(24),
    nonce,
    client.publicKey().bytes,
    server.secret,
  );
  assert.ok(plaintext);
  assert.equal(new TextDecoder().decode(plaintext), '{"version":2,"CanAckPings":true}');
  // 32 key + 24 nonce + 16 tag + 32 JSON bytes.
  assert.equal(bytes.length, 5 + 32 + 24 + 16 + 32);
  assert.deepEqual(openClientInfo(frame, server), {
    version: 2,
    canAckPings: true,
    isProber: false,
  });
});

Deno.test("ServerInfo: sealed by the server, opened by the client; rate limits read", () => {
  const bytes = serverInfoFrame(
    server,
    client.publicKey(),
    { tokenBucketBytesPerSecond: 1000, tokenBucketBytesBurst: 5000 },
    counterRandom(),
  );
  const [frame] = frames(bytes);
  assert.ok(frame.type === "serverInfo");
  assert.deepEqual(openServerInfo(frame.sealedInfo, client, server.publicKey()), {
    version: 2,
    tokenBucketBytesPerSecond: 1000,
    tokenBucketBytesBurst: 5000,
  });
});

Deno.test("ServerInfo: Go's case-insensitive field names and an empty object are accepted", () => {
  const seal = (json: string) =>
    sealInfo(new TextEncoder().encode(json), server, client.publicKey(), counterRandom());
  assert.deepEqual(
    openServerInfo(seal('{"Version":2,"tokenbucketbytesburst":7}'), client, server.publicKey()),
    {
      version: 2,
      tokenBucketBytesPerSecond: 0,
      tokenBucketBytesBurst: 7,
    },
  );
  assert.equal(openServerInfo(seal("{}"), client, server.publicKey()).version, 0);
});

Deno.test("ServerInfo: wrong key, tampering, non-JSON and bad fields are DerpHandshakeErrors", () => {
  const other = NodePrivateKey.fromBytes(new Uint8Array(32).fill(0x33));
  const seal = (json: string, from = server) =>
    sealInfo(new TextEncoder().encode(json), from, client.publicKey(), counterRandom());
  const good = seal('{"version":2}');
  assert.throws(() => openServerInfo(good, client, other.publicKey()), DerpHandshakeError);
  const tampered = good.slice();
  tampered[tampered.length - 1] ^= 1;
  assert.throws(() => openServerInfo(tampered, client, server.publicKey()), DerpHandshakeError);
  assert.throws(
    () => openServerInfo(good.subarray(0, 30), client, server.publicKey()),
    DerpHandshakeError,
  );
  for (const json of ["not json", "[1]", "null", '{"version":"2"}', '{"version":2.5}']) {
    assert.throws(
      () => openServerInfo(seal(json), client, server.publicKey()),
      DerpHandshakeError,
      json,
    );
  }
});

Deno.test("handshake: ServerKey → ClientInfo (+ NotePreferred) → ServerInfo", () => {
  const random = counterRandom(100);
  const hs = new DerpClientHandshake({
    nodeKey: client,
    info: { canAckPings: true },
    random,
    preferred: true,
  });
  assert.deepEqual(hs.start(), {});
  assert.equal(hs.serverKey === undefined, true);
  const [greeting] = frames(serverKeyFrame(server.publicKey()));
  const step = hs.receive(greeting);
  assert.ok(hs.serverKey?.equals(server.publicKey()));
  const sent = frames(step.send!);
  assert.deepEqual(sent.map((f) => f.type), ["clientInfo", "notePreferred"]);
  assert.ok(sent[1].type === "notePreferred" && sent[1].preferred === true);
  assert.ok(sent[0].type === "clientInfo");
  assert.equal(openClientInfo(sent[0], server).canAckPings, true);
  assert.equal(hs.done, false);
  const [info] = frames(serverInfoFrame(server, client.publicKey(), {}, random));
  const last = hs.receive(info);
  assert.deepEqual(last.serverInfo, {
    version: 2,
    tokenBucketBytesPerSecond: 0,
    tokenBucketBytesBurst: 0,
  });
  assert.equal(last.send, undefined);
  assert.ok(hs.done);
  assert.throws(() => hs.receive(info), DerpHandshakeError);
});

Deno.test("handshake, fast start: ClientInfo at once; the ServerKey frame must match", () => {
  const random = counterRandom();
  const hs = new DerpClientHandshake({
    nodeKey: client,
    info: {},
    random,
    serverKey: server.publicKey(),
  });
  const first = frames(hs.start().send!);
  assert.deepEqual(first.map((f) => f.type), ["clientInfo"]);
  const [greeting] = frames(serverKeyFrame(server.publicKey()));
  assert.deepEqual(hs.receive(greeting), {});
  const [info] = frames(serverInfoFrame(server, client.publicKey(), {}, random));
  assert.equal(hs.receive(info).serverInfo?.version, 2);

  const wrong = new DerpClientHandshake({
    nodeKey: client,
    info: {},
    random,
    serverKey: NodePrivateKey.generate().publicKey(),
  });
  wrong.start();
  assert.throws(() => wrong.receive(greeting), DerpHandshakeError);
});

Deno.test("handshake: out-of-order frames are DerpHandshakeErrors; other frames are skipped", () => {
  const random = counterRandom();
  const [greeting] = frames(serverKeyFrame(server.publicKey()));
  const [info] = frames(serverInfoFrame(server, client.publicKey(), {}, random));
  const keepAlive = frames(serializeFrame({ type: "keepAlive" }))[0];

  const early = new DerpClientHandshake({ nodeKey: client, info: {}, random });
  assert.throws(() => early.receive(info), DerpHandshakeError);
  const noGreeting = new DerpClientHandshake({ nodeKey: client, info: {}, random });
  assert.throws(() => noGreeting.receive(keepAlive), DerpHandshakeError);
  const twice = new DerpClientHandshake({ nodeKey: client, info: {}, random });
  twice.receive(greeting);
  assert.throws(() => twice.receive(greeting), DerpHandshakeError);
  const skipping = new DerpClientHandshake({ nodeKey: client, info: {}, random });
  skipping.receive(greeting);
  assert.deepEqual(skipping.receive(keepAlive), {});
  assert.ok(skipping.receive(info).serverInfo);
  // A ServerInfo sealed for someone else does not open.
  const stranger = new DerpClientHandshake({
    nodeKey: NodePrivateKey.generate(),
    info: {},
    random,
  });
  stranger.receive(greeting);
  assert.throws(() => stranger.receive(info), DerpHandshakeError);
});

Deno.test("ClientInfo opened by the server: mesh key, prober, app name; garbage refused", () => {
  const meshKey = new Uint8Array(32).fill(0x5a);
  const bytes = clientInfoFrame(
    client,
    server.publicKey(),
    { meshKey, isProber: true, appName: "probe" },
    counterRandom(),
  );
  const [frame] = frames(bytes);
  assert.ok(frame.type === "clientInfo");
  assert.deepEqual(openClientInfo(frame, server), {
    version: 2,
    meshKey,
    canAckPings: false,
    isProber: true,
    appName: "probe",
  });
  const forged = { ...frame, clientKey: NodePrivateKey.generate().publicKey() };
  assert.throws(() => openClientInfo(forged, server), DerpHandshakeError);
  const badMesh = {
    clientKey: client.publicKey(),
    sealedInfo: sealInfo(
      new TextEncoder().encode('{"meshKey":"zz"}'),
      client,
      server.publicKey(),
      counterRandom(),
    ),
  };
  assert.throws(() => openClientInfo(badMesh, server), DerpHandshakeError);
});
