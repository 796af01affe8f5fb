import assert from "node:assert/strict";
import { NodePublicKey } from "../../../../network/crypto/keys.ts";
import { DerpFrameError } from "../../../../network/derp/derp_errors.ts";
import {
  DERP_MAGIC,
  type DerpFrame,
  FRAME_HEADER_LENGTH,
  FrameType,
  MAX_CLIENT_INFO_LENGTH,
  MAX_FRAME_LENGTH,
  MAX_PACKET_SIZE,
  MAX_SERVER_INFO_LENGTH,
  maxPayloadLength,
  parseFrame,
  parseFrameHeader,
  PeerGoneReason,
  PeerPresentFlags,
  serializeFrame,
} from "../../../../network/derp/derp_frame.ts";

const keyA = new NodePublicKey(Uint8Array.from({ length: 32 }, (_, i) => i));
const keyB = new NodePublicKey(Uint8Array.from({ length: 32 }, (_, i) => 0xff - i));

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function roundTrip(frame: DerpFrame): DerpFrame {
  const bytes = serializeFrame(frame);
  const header = parseFrameHeader(bytes);
  assert.equal(header.length, bytes.length - FRAME_HEADER_LENGTH);
  return parseFrame(header.frameType, bytes.subarray(FRAME_HEADER_LENGTH));
}

/** Frames compared through their wire bytes, so that key objects compare by value. */
function assertSameFrame(actual: DerpFrame, expected: DerpFrame): void {
  assert.equal(actual.type, expected.type);
  assert.equal(toHex(serializeFrame(actual)), toHex(serializeFrame(expected)));
}

Deno.test("frame types have the reference's numbers (§3.4)", () => {
  assert.deepEqual(FrameType, {
    SERVER_KEY: 0x01,
    CLIENT_INFO: 0x02,
    SERVER_INFO: 0x03,
    SEND_PACKET: 0x04,
    RECV_PACKET: 0x05,
    KEEP_ALIVE: 0x06,
    NOTE_PREFERRED: 0x07,
    PEER_GONE: 0x08,
    PEER_PRESENT: 0x09,
    FORWARD_PACKET: 0x0a,
    WATCH_CONNS: 0x10,
    CLOSE_PEER: 0x11,
    PING: 0x12,
    PONG: 0x13,
    HEALTH: 0x14,
    RESTARTING: 0x15,
  });
  assert.equal(new TextDecoder().decode(DERP_MAGIC), "DERP🔑");
  assert.equal(toHex(DERP_MAGIC), "44455250f09f9491");
});

Deno.test("known bytes: ServerKey, SendPacket, NotePreferred, PeerGone, Ping, Restarting", () => {
  assert.equal(
    toHex(serializeFrame({ type: "serverKey", serverKey: keyA })),
    "0100000028" + "44455250f09f9491" + toHex(keyA.bytes),
  );
  assert.equal(
    toHex(serializeFrame({ type: "sendPacket", dst: keyB, data: Uint8Array.of(1, 2, 3) })),
    "0400000023" + toHex(keyB.bytes) + "010203",
  );
  assert.equal(toHex(serializeFrame({ type: "notePreferred", preferred: true })), "070000000101");
  assert.equal(toHex(serializeFrame({ type: "keepAlive" })), "0600000000");
  assert.equal(toHex(serializeFrame({ type: "watchConns" })), "1000000000");
  assert.equal(
    toHex(serializeFrame({ type: "peerGone", peer: keyA, reason: PeerGoneReason.NOT_HERE })),
    "0800000021" + toHex(keyA.bytes) + "01",
  );
  assert.equal(
    toHex(serializeFrame({ type: "ping", data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) })),
    "12000000080102030405060708",
  );
  assert.equal(
    toHex(serializeFrame({ type: "restarting", reconnectInMs: 1000, tryForMs: 60000 })),
    "1500000008000003e80000ea60",
  );
  assert.equal(
    toHex(
      serializeFrame({
        type: "peerPresent",
        peer: keyA,
        address: { ip: "127.0.0.1", port: 3340 },
        flags: PeerPresentFlags.REGULAR,
      }),
    ),
    "0900000033" + toHex(keyA.bytes) + "00000000000000000000ffff7f000001" + "0d0c" + "01",
  );
});

Deno.test("every frame type round-trips", () => {
  const frames: DerpFrame[] = [
    { type: "serverKey", serverKey: keyA },
    { type: "clientInfo", clientKey: keyA, sealedInfo: new Uint8Array(40).fill(7) },
    { type: "serverInfo", sealedInfo: new Uint8Array(60).fill(9) },
    { type: "sendPacket", dst: keyB, data: new Uint8Array(1280).fill(1) },
    { type: "sendPacket", dst: keyB, data: new Uint8Array(0) },
    { type: "recvPacket", src: keyA, data: new Uint8Array(MAX_PACKET_SIZE).fill(2) },
    { type: "keepAlive" },
    { type: "notePreferred", preferred: false },
    { type: "notePreferred", preferred: true },
    { type: "peerGone", peer: keyB, reason: PeerGoneReason.DISCONNECTED },
    { type: "peerPresent", peer: keyA },
    { type: "peerPresent", peer: keyA, address: { ip: "fd7a:115c:a1e0::5", port: 443 } },
    {
      type: "peerPresent",
      peer: keyA,
      address: { ip: "10.0.0.1", port: 1 },
      flags: PeerPresentFlags.MESH_PEER | PeerPresentFlags.NOT_IDEAL,
    },
    { type: "forwardPacket", src: keyA, dst: keyB, data: Uint8Array.of(9, 9) },
    { type: "watchConns" },
    { type: "closePeer", peer: keyB },
    { type: "ping", data: Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1) },
    { type: "pong", data: Uint8Array.of(1, 1, 1, 1, 1, 1, 1, 1) },
    { type: "health", problem: "" },
    { type: "health", problem: "région en panne 🔥" },
    { type: "restarting", reconnectInMs: 0, tryForMs: 0xffff_ffff },
    { type: "unknown", frameType: 0x7f, payload: Uint8Array.of(1, 2) },
  ];
  for (const frame of frames) assertSameFrame(roundTrip(frame), frame);
  const present = roundTrip(frames[12]);
  assert.ok(present.type === "peerPresent");
  assert.deepEqual(present.address, { ip: "10.0.0.1", port: 1 });
  assert.equal(present.flags, 0x0a);
  const gone = roundTrip({ type: "peerGone", peer: keyB, reason: 1 });
  assert.ok(gone.type === "peerGone" && gone.peer.equals(keyB) && gone.reason === 1);
});

Deno.test("tolerated growth: ServerKey and Ping with extra bytes, PeerGone without reason, short PeerPresent", () => {
  const serverKey = new Uint8Array(100);
  serverKey.set(DERP_MAGIC);
  serverKey.set(keyB.bytes, 8);
  const parsed = parseFrame(FrameType.SERVER_KEY, serverKey);
  assert.ok(parsed.type === "serverKey" && parsed.serverKey.equals(keyB));

  const ping = parseFrame(FrameType.PING, Uint8Array.from({ length: 20 }, (_, i) => i));
  assert.ok(ping.type === "ping");
  assert.deepEqual(ping.data, Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7));

  const gone = parseFrame(FrameType.PEER_GONE, keyA.bytes);
  assert.ok(gone.type === "peerGone" && gone.reason === PeerGoneReason.DISCONNECTED);

  const presentShort = parseFrame(FrameType.PEER_PRESENT, new Uint8Array(40));
  assert.ok(presentShort.type === "peerPresent");
  assert.equal(presentShort.address, undefined);
  const presentNoFlags = parseFrame(FrameType.PEER_PRESENT, new Uint8Array(50));
  assert.ok(presentNoFlags.type === "peerPresent");
  assert.deepEqual(presentNoFlags.address, { ip: "::", port: 0 });
  assert.equal(presentNoFlags.flags, undefined);

  const keepAlive = parseFrame(FrameType.KEEP_ALIVE, Uint8Array.of(1, 2, 3));
  assert.equal(keepAlive.type, "keepAlive");
});

Deno.test("packet data is a view into the payload, not a copy", () => {
  const payload = new Uint8Array(40);
  const frame = parseFrame(FrameType.RECV_PACKET, payload);
  assert.ok(frame.type === "recvPacket");
  assert.equal(frame.data.buffer, payload.buffer);
  assert.equal(frame.data.byteOffset, 32);
});

Deno.test("limits (§3.6): per-type maxima in the header and in serialize", () => {
  assert.equal(maxPayloadLength(FrameType.SEND_PACKET), 32 + MAX_PACKET_SIZE);
  assert.equal(maxPayloadLength(FrameType.FORWARD_PACKET), 64 + MAX_PACKET_SIZE);
  assert.equal(maxPayloadLength(FrameType.CLIENT_INFO), MAX_CLIENT_INFO_LENGTH);
  assert.equal(maxPayloadLength(FrameType.SERVER_INFO), MAX_SERVER_INFO_LENGTH);
  assert.equal(maxPayloadLength(FrameType.SERVER_KEY), 1024);
  assert.equal(maxPayloadLength(0x7f), MAX_FRAME_LENGTH);
  const header = (type: number, length: number) =>
    Uint8Array.of(
      type,
      length >>> 24,
      (length >>> 16) & 0xff,
      (length >>> 8) & 0xff,
      length & 0xff,
    );
  assert.deepEqual(parseFrameHeader(header(FrameType.RECV_PACKET, 32 + MAX_PACKET_SIZE)), {
    frameType: FrameType.RECV_PACKET,
    length: 32 + MAX_PACKET_SIZE,
  });
  for (
    const [type, length] of [
      [FrameType.RECV_PACKET, 33 + MAX_PACKET_SIZE],
      [FrameType.SERVER_KEY, 1025],
      [FrameType.NOTE_PREFERRED, 2],
      [FrameType.WATCH_CONNS, 1],
      [FrameType.PING, 1001],
      [0x7f, MAX_FRAME_LENGTH + 1],
      [0x05, 0xffff_ffff],
    ]
  ) {
    assert.throws(
      () => parseFrameHeader(header(type, length)),
      DerpFrameError,
      `${type} ${length}`,
    );
  }
  assert.throws(() => parseFrameHeader(Uint8Array.of(1, 0, 0)), DerpFrameError);
  assert.throws(
    () =>
      serializeFrame({ type: "sendPacket", dst: keyA, data: new Uint8Array(MAX_PACKET_SIZE + 1) }),
    DerpFrameError,
  );
  assert.throws(() => serializeFrame({ type: "ping", data: new Uint8Array(7) }), DerpFrameError);
  assert.throws(() => serializeFrame({ type: "peerGone", peer: keyA, reason: 256 }), RangeError);
  assert.throws(
    () => serializeFrame({ type: "peerPresent", peer: keyA, address: { ip: "nope", port: 1 } }),
    RangeError,
  );
});

Deno.test("hostile payloads: short, wrong magic, wrong exact sizes", () => {
  const cases: [number, Uint8Array][] = [
    [FrameType.SERVER_KEY, new Uint8Array(39)],
    [FrameType.SERVER_KEY, new Uint8Array(40)],
    [FrameType.CLIENT_INFO, new Uint8Array(55)],
    [FrameType.SERVER_INFO, new Uint8Array(23)],
    [FrameType.SEND_PACKET, new Uint8Array(31)],
    [FrameType.RECV_PACKET, new Uint8Array(0)],
    [FrameType.NOTE_PREFERRED, new Uint8Array(0)],
    [FrameType.NOTE_PREFERRED, new Uint8Array(2)],
    [FrameType.PEER_GONE, new Uint8Array(31)],
    [FrameType.PEER_PRESENT, new Uint8Array(10)],
    [FrameType.FORWARD_PACKET, new Uint8Array(63)],
    [FrameType.WATCH_CONNS, new Uint8Array(1)],
    [FrameType.CLOSE_PEER, new Uint8Array(33)],
    [FrameType.PING, new Uint8Array(7)],
    [FrameType.PONG, new Uint8Array(0)],
    [FrameType.RESTARTING, new Uint8Array(7)],
    [FrameType.RECV_PACKET, new Uint8Array(32 + MAX_PACKET_SIZE + 1)],
  ];
  for (const [type, payload] of cases) {
    assert.throws(
      () => parseFrame(type, payload),
      DerpFrameError,
      `type ${type} len ${payload.length}`,
    );
  }
});

Deno.test("fuzz: random payloads of every type parse or fail with DerpFrameError only", () => {
  let seed = 1234567;
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 16;
  };
  const types = [...Object.values(FrameType), 0x00, 0x0b, 0x16, 0xff];
  for (let round = 0; round < 5000; round++) {
    const type = types[round % types.length];
    const length = next() % 80;
    const payload = Uint8Array.from({ length }, () => next() & 0xff);
    if (type === FrameType.SERVER_KEY && round % 3 === 0 && length >= 8) payload.set(DERP_MAGIC);
    try {
      const frame = parseFrame(type, payload);
      // Whatever parses serializes to the same type again.
      const again = roundTrip(frame);
      assert.equal(again.type, frame.type);
    } catch (error) {
      assert.ok(error instanceof DerpFrameError, `type ${type}: unexpected ${error}`);
    }
  }
});
