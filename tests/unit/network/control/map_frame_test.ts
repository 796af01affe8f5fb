import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  decodeMapBody,
  encodeMapFrame,
  frameMapBody,
  MapFrameDecoder,
  MapFrameError,
  parseMapResponseJSON,
  zstdCompress,
} from "../../../../network/control/map_frame.ts";
import type { MapResponse, Node } from "../../../../network/control/map_response.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);
const encoder = new TextEncoder();

function fixture(name: string): Uint8Array {
  return Deno.readFileSync(new URL(name, FIXTURES));
}

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function decodeInChunks(
  stream: Uint8Array,
  cuts: number[],
  compressed: boolean,
): MapResponse[] {
  const decoder = new MapFrameDecoder({ compressed });
  const out: MapResponse[] = [];
  let prev = 0;
  for (const cut of [...cuts, stream.length]) {
    out.push(...decoder.push(stream.subarray(prev, cut)));
    prev = cut;
  }
  decoder.end();
  assert.equal(decoder.bufferedBytes, 0);
  return out;
}

function peer(id: number): Node {
  const hex = (salt: number) =>
    Array.from(
      { length: 32 },
      (_, i) => ((id * 7 + i * 13 + salt) & 255).toString(16).padStart(2, "0"),
    )
      .join("");
  return {
    ID: id,
    StableID: String(id),
    Name: `peer-${id}.tailnet.test.`,
    User: 1,
    Key: `nodekey:${hex(1)}`,
    DiscoKey: `discokey:${hex(2)}`,
    Addresses: [`100.64.${id >> 8}.${id & 255}/32`],
    Endpoints: [`192.0.2.${id % 250}:41641`],
    HomeDERP: 999,
    Hostinfo: { Hostname: `peer-${id}`, OS: "linux" },
  };
}

const SMALL: MapResponse[] = [
  { KeepAlive: true },
  {
    PeersChangedPatch: [{ NodeID: 2, Online: true }],
    ControlTime: "2026-11-26T14:57:10.123456789Z",
  },
  { PeersRemoved: [3] },
];

for (const compressed of [false, true]) {
  const label = compressed ? "zstd" : "JSON";

  Deno.test(`map frame (${label}): every single split point of a small stream`, () => {
    const stream = concat(SMALL.map((m) => encodeMapFrame(m, { compressed })));
    for (let cut = 0; cut <= stream.length; cut++) {
      assert.deepEqual(decodeInChunks(stream, [cut], compressed), SMALL, `cut at ${cut}`);
    }
  });

  Deno.test(`map frame (${label}): every pair of split points of a small stream`, () => {
    const stream = concat(SMALL.slice(0, 2).map((m) => encodeMapFrame(m, { compressed })));
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b++) {
        assert.deepEqual(decodeInChunks(stream, [a, b], compressed), SMALL.slice(0, 2));
      }
    }
  });

  Deno.test(`map frame (${label}): one byte at a time`, () => {
    const stream = concat(SMALL.map((m) => encodeMapFrame(m, { compressed })));
    const cuts = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(decodeInChunks(stream, cuts, compressed), SMALL);
  });

  Deno.test(`map frame (${label}): random splits of big messages`, () => {
    const big: MapResponse[] = [
      { Node: peer(1), Peers: Array.from({ length: 2_000 }, (_, i) => peer(i + 2)) },
      { KeepAlive: true },
      { PeersChanged: Array.from({ length: 500 }, (_, i) => peer(i + 5_000)) },
    ];
    const stream = concat(big.map((m) => encodeMapFrame(m, { compressed })));
    const random = prng(compressed ? 7 : 11);
    for (let round = 0; round < 20; round++) {
      const cuts: number[] = [];
      // Chunk sizes like Noise records (≤ 4077) and HTTP/2 DATA frames (≤ 16 KiB), plus tiny ones.
      for (let at = 0; at < stream.length;) {
        const r = random();
        at += r < 0.1 ? 1 + Math.floor(random() * 4) : 1 + Math.floor(random() * 16_384);
        if (at < stream.length) cuts.push(at);
      }
      assert.deepEqual(decodeInChunks(stream, cuts, compressed), big, `round ${round}`);
    }
  });

  Deno.test(`map frame (${label}): several frames in one chunk`, () => {
    const stream = concat(SMALL.map((m) => encodeMapFrame(m, { compressed })));
    const decoder = new MapFrameDecoder({ compressed });
    assert.deepEqual(decoder.push(stream), SMALL);
  });
}

Deno.test("map frame: the length is little-endian and covers exactly the body", () => {
  const frame = encodeMapFrame({ KeepAlive: true }, { compressed: false });
  const body = encoder.encode('{"KeepAlive":true}');
  assert.deepEqual([...frame.subarray(0, 4)], [body.length, 0, 0, 0]);
  assert.deepEqual(frame.subarray(4), body);
  assert.deepEqual(
    frameMapBody(new Uint8Array(0x10203)).subarray(0, 4),
    new Uint8Array([3, 2, 1, 0]),
  );
});

Deno.test("map frame: the encoder's zstd frame declares its content size", () => {
  const body = zstdCompress(encoder.encode('{"KeepAlive":true}'));
  assert.deepEqual([...body.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
  assert.ok(body[4] >> 6 !== 0 || ((body[4] >> 5) & 1) === 1, "FCS present");
});

Deno.test("map frame: zstd CLI fixture without content size, with checksum", () => {
  const body = fixture("keepalive_no_size.zst");
  assert.equal(body[4] & 0xc4, 0x04, "no FCS, checksum flag");
  assert.deepEqual(decodeMapBody(body, { compressed: true }), { KeepAlive: true });
  const decoder = new MapFrameDecoder({ compressed: true });
  assert.deepEqual(decoder.push(frameMapBody(body)), [{ KeepAlive: true }]);
});

Deno.test("map frame: multi-block zstd CLI fixture decodes to the known bytes", () => {
  const body = fixture("peers_changed_600_no_size.zst");
  const decoder = new MapFrameDecoder({ compressed: true });
  const [message] = decoder.push(frameMapBody(body));
  assert.equal(message.PeersChanged?.length, 600);
  assert.equal(message.PeersChanged?.[599].Name, "node-600.tailnet.test.");
  const json = JSON.stringify(message);
  assert.equal(json.length, 291_671);
  assert.equal(
    createHash("sha256").update(json).digest("hex"),
    "a6e43b274f200d82a9ebd8f34d838c8981b3787aa44cc889ce7006a640360237",
  );
});

function assertFrameError(fn: () => unknown, code: string): MapFrameError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MapFrameError, `expected MapFrameError ${code}, got ${caught}`);
  assert.equal(caught.code, code);
  assert.equal(caught.name, "MapFrameError");
  return caught;
}

Deno.test("map frame: a zero-length frame is rejected and the decoder stays failed", () => {
  const decoder = new MapFrameDecoder({ compressed: true });
  const err = assertFrameError(() => decoder.push(new Uint8Array([0, 0, 0, 0])), "empty-frame");
  assert.equal(assertFrameError(() => decoder.push(new Uint8Array(1)), "empty-frame"), err);
  assertFrameError(() => decoder.end(), "empty-frame");
});

Deno.test("map frame: an oversized frame is rejected from its header alone", () => {
  const decoder = new MapFrameDecoder({ compressed: true, maxFrameBytes: 1024 });
  assertFrameError(() => decoder.push(new Uint8Array([0x01, 0x04, 0, 0])), "frame-too-large");
  const ok = new MapFrameDecoder({ compressed: false, maxFrameBytes: 1024 });
  assert.deepEqual(ok.push(new Uint8Array([0x00, 0x04, 0, 0])), []);
  const huge = new MapFrameDecoder({ compressed: true });
  assertFrameError(() => huge.push(new Uint8Array([0xff, 0xff, 0xff, 0xff])), "frame-too-large");
});

Deno.test("map frame: the decoded-size cap holds with and without a declared size", () => {
  const json = encoder.encode(JSON.stringify({ Domain: "x".repeat(5_000) }));
  // Declared content size: rejected before decoding.
  assertFrameError(
    () => decodeMapBody(zstdCompress(json), { compressed: true, maxMessageBytes: 4_096 }),
    "message-too-large",
  );
  // No declared size (zstd CLI from stdin): rejected while decoding.
  assertFrameError(
    () =>
      decodeMapBody(fixture("peers_changed_600_no_size.zst"), {
        compressed: true,
        maxMessageBytes: 100_000,
      }),
    "message-too-large",
  );
  // Uncompressed: the frame length is the message length.
  const decoder = new MapFrameDecoder({ compressed: false, maxMessageBytes: 4_096 });
  assertFrameError(() => decoder.push(frameMapBody(json).subarray(0, 4)), "message-too-large");
  assert.deepEqual(
    decodeMapBody(zstdCompress(json), { compressed: true, maxMessageBytes: json.length }),
    { Domain: "x".repeat(5_000) },
  );
});

Deno.test("map frame: bad bodies get typed errors", () => {
  assertFrameError(() => decodeMapBody(encoder.encode("{}"), { compressed: true }), "bad-zstd");
  const corrupt = zstdCompress(encoder.encode(JSON.stringify({ Domain: "y".repeat(300) })));
  assertFrameError(
    () => decodeMapBody(corrupt.subarray(0, corrupt.length - 3), { compressed: true }),
    "bad-zstd",
  );
  assertFrameError(() => decodeMapBody(encoder.encode("{"), { compressed: false }), "bad-json");
  assertFrameError(
    () => decodeMapBody(encoder.encode("[1]"), { compressed: false }),
    "not-an-object",
  );
  assertFrameError(
    () => decodeMapBody(encoder.encode("null"), { compressed: false }),
    "not-an-object",
  );
  assertFrameError(() => decodeMapBody(new Uint8Array(0), { compressed: false }), "empty-frame");
});

Deno.test("map frame: a stream ending inside a frame is truncated", () => {
  const frame = encodeMapFrame({ KeepAlive: true }, { compressed: true });
  for (const cut of [1, 4, frame.length - 1]) {
    const decoder = new MapFrameDecoder({ compressed: true });
    assert.deepEqual(decoder.push(frame.subarray(0, cut)), []);
    assertFrameError(() => decoder.end(), "truncated");
  }
});

Deno.test("map frame: identifiers beyond 2^53-1 are refused, not rounded", () => {
  assertFrameError(
    () => parseMapResponseJSON('{"PeersRemoved":[9007199254740993]}'),
    "unsafe-integer",
  );
  assertFrameError(
    () => parseMapResponseJSON('{"Node":{"ID":12345678901234567890,"User":1}}'),
    "unsafe-integer",
  );
  assertFrameError(
    () => parseMapResponseJSON('{"PeersChangedPatch":[{"NodeID": -9007199254740993}]}'),
    "unsafe-integer",
  );
  assertFrameError(
    () => parseMapResponseJSON('{"PeersRemoved":[ 1, 9007199254740993 \n]}'),
    "unsafe-integer",
  );
  // The largest safe ID passes exactly.
  assert.deepEqual(parseMapResponseJSON('{"PeersRemoved":[9007199254740991]}'), {
    PeersRemoved: [9007199254740991],
  });
  // A float written in integer form by Go stays a (rounded) float.
  assert.equal(
    parseMapResponseJSON('{"DERPMap":{"Regions":{"1":{"Latitude":123456789012345678901}}}}')
      .DERPMap?.Regions?.["1"]?.Latitude,
    123456789012345678901,
  );
  // Long digit runs inside strings (hex keys) don't trip the check.
  const key = `nodekey:${"1234567890123456".repeat(4)}`;
  assert.deepEqual(parseMapResponseJSON(`{"Node":{"ID":1,"Key":"${key}"}}`), {
    Node: { ID: 1, Key: key },
  });
  assert.deepEqual(parseMapResponseJSON('{"Domain":"a:12345678901234567890,"}'), {
    Domain: "a:12345678901234567890,",
  });
});

Deno.test("map frame: unknown fields are kept and ignored", () => {
  assert.deepEqual(parseMapResponseJSON('{"KeepAlive":true,"FutureField":{"x":1}}'), {
    KeepAlive: true,
    FutureField: { x: 1 },
  });
});

for (
  const [name, compressed, frames] of [["alpha.zstd", true, 13], ["bravo.json", false, 11]] as const
) {
  Deno.test(`map frame: real Headscale v0.29.3 stream (${name}) decodes to Headscale's own dump`, () => {
    const stream = fixture(`headscale-v0.29.3-${name}.stream`);
    const expected = JSON.parse(
      Deno.readTextFileSync(new URL(`headscale-v0.29.3-${name.split(".")[0]}.dump.json`, FIXTURES)),
    );
    const random = prng(frames);
    for (let round = 0; round < 30; round++) {
      const cuts: number[] = [];
      for (let at = 0; at < stream.length;) {
        at += 1 + Math.floor(random() * (round < 10 ? 8 : 4_077));
        if (at < stream.length) cuts.push(at);
      }
      const messages = decodeInChunks(stream, cuts, compressed);
      assert.equal(messages.length, frames);
      assert.deepEqual(messages.slice(0, -1), expected);
      assert.deepEqual(messages.at(-1), { KeepAlive: true });
    }
  });
}
