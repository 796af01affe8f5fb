/**
 * Disco message bodies: known answers from tailscale.com/disco v1.102.5 (our
 * encoder writes Go's bytes, our parser reads them and agrees with Go's
 * `Parse` on every edge case), round trips, and hostile payloads.
 */

import assert from "node:assert/strict";
import { DiscoPublicKey, NodePublicKey } from "../../../../network/crypto/keys.ts";
import {
  type DiscoMessage,
  DiscoMessageError,
  discoMessageSummary,
  isPeerRelayMessage,
  marshalDiscoMessage,
  parseDiscoMessage,
} from "../../../../network/disco/disco_message.ts";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import {
  describeMessage,
  fromHex,
  loadDiscoVectors,
  messageFromFields,
  toHex,
} from "./disco_vectors.ts";
import { seededRandom } from "./seeded_random.ts";

const vectors = loadDiscoVectors();

Deno.test("disco message: the vector file covers every message type", () => {
  const types = new Set(vectors.messages.map((v) => v.fields.type));
  assert.deepEqual([...types].sort(), [
    "allocate-udp-relay-endpoint-request",
    "allocate-udp-relay-endpoint-response",
    "bind-udp-relay-endpoint",
    "bind-udp-relay-endpoint-answer",
    "bind-udp-relay-endpoint-challenge",
    "call-me-maybe",
    "call-me-maybe-via",
    "ping",
    "pong",
  ]);
  assert.ok(vectors.parseCases.length >= 30);
});

for (const vector of vectors.messages) {
  Deno.test(`disco message: ${vector.name} encodes to Go's bytes and parses back`, () => {
    const message = messageFromFields(vector.fields);
    assert.equal(toHex(marshalDiscoMessage(message)), vector.inner);
    const parsed = parseDiscoMessage(fromHex(vector.inner));
    assert.deepEqual(describeMessage(parsed), vector.fields);
    assert.equal(toHex(marshalDiscoMessage(parsed)), vector.inner);
  });
}

Deno.test("disco message: sizes match the reference (§2.5)", () => {
  const txId = new Uint8Array(12);
  const nodeKey = new NodePublicKey(new Uint8Array(32).fill(1));
  // Inner sizes; the sealed packet adds 6 + 32 + 24 + 16 = 78 bytes.
  assert.equal(marshalDiscoMessage({ type: "ping", txId, nodeKey, padding: 0 }).length + 78, 124);
  const src = AddrPort.parse("1.2.3.4:5");
  assert.equal(marshalDiscoMessage({ type: "pong", txId, src }).length + 78, 110);
  for (const n of [0, 1, 5]) {
    const endpoints = Array.from({ length: n }, (_, i) => AddrPort.parse(`10.0.0.${i}:1`));
    assert.equal(
      marshalDiscoMessage({ type: "call-me-maybe", endpoints }).length + 78,
      80 + 18 * n,
    );
  }
});

for (const parseCase of vectors.parseCases) {
  const label = parseCase.input.length > 24
    ? `${parseCase.input.slice(0, 24)}… (${parseCase.input.length / 2} bytes)`
    : `"${parseCase.input}"`;
  Deno.test(`disco message: parses ${label} as Go's disco.Parse does`, () => {
    const input = fromHex(parseCase.input);
    if (parseCase.error !== undefined) {
      assert.throws(
        () => parseDiscoMessage(input),
        (err) => err instanceof DiscoMessageError && err.message === parseCase.error,
      );
    } else {
      assert.deepEqual(describeMessage(parseDiscoMessage(input)), parseCase.result);
    }
  });
}

function randomMessage(rand: () => number): DiscoMessage {
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  const disco = () => new DiscoPublicKey(bytes(32));
  const ep = () =>
    rand() < 0.5
      ? new AddrPort(bytes(4), Math.floor(rand() * 65536))
      : new AddrPort(bytes(16), Math.floor(rand() * 65536));
  const eps = (min: number) => Array.from({ length: min + Math.floor(rand() * 4) }, ep);
  const relay = () => ({
    serverDisco: disco(),
    clientDisco: [disco(), disco()] as [DiscoPublicKey, DiscoPublicKey],
    lamportId: BigInt.asUintN(64, BigInt(Math.floor(rand() * 2 ** 53)) << 11n),
    vni: Math.floor(rand() * 2 ** 24),
    bindLifetimeNs: BigInt(Math.floor(rand() * 2 ** 40)),
    steadyStateLifetimeNs: 0xffffffffffffffffn,
    addrPorts: eps(1),
  });
  switch (Math.floor(rand() * 9)) {
    case 0: {
      // Without a node key, padding of 32 bytes or more would read as a (zero)
      // key: the wire format cannot tell them apart, in Go either.
      const nodeKey = rand() < 0.8 ? new NodePublicKey(bytes(32)) : null;
      return {
        type: "ping",
        txId: bytes(12),
        nodeKey,
        padding: Math.floor(rand() * (nodeKey ? 100 : 32)),
      };
    }
    case 1:
      return { type: "pong", txId: bytes(12), src: ep() };
    case 2:
      return { type: "call-me-maybe", endpoints: eps(1) };
    case 3:
    case 4:
    case 5: {
      const type = ([
        "bind-udp-relay-endpoint",
        "bind-udp-relay-endpoint-challenge",
        "bind-udp-relay-endpoint-answer",
      ] as const)[
        Math.floor(rand() * 3)
      ];
      return {
        type,
        vni: Math.floor(rand() * 2 ** 32),
        generation: Math.floor(rand() * 2 ** 32),
        remoteKey: disco(),
        challenge: bytes(32),
      };
    }
    case 6:
      return { type: "call-me-maybe-via", ...relay() };
    case 7:
      return {
        type: "allocate-udp-relay-endpoint-request",
        clientDisco: [disco(), disco()],
        generation: Math.floor(rand() * 2 ** 32),
      };
    default:
      return {
        type: "allocate-udp-relay-endpoint-response",
        generation: Math.floor(rand() * 2 ** 32),
        ...relay(),
      };
  }
}

Deno.test("disco message: 2000 random messages of every type round-trip", () => {
  const rand = seededRandom(1);
  for (let i = 0; i < 2000; i++) {
    const message = randomMessage(rand);
    const wire = marshalDiscoMessage(message);
    const back = parseDiscoMessage(wire);
    assert.deepEqual(describeMessage(back), describeMessage(message), `case ${i}`);
    assert.deepEqual(marshalDiscoMessage(back), wire);
  }
});

Deno.test("disco message: trailing bytes are ignored, as receivers must (§2.5)", () => {
  const txId = Uint8Array.from({ length: 12 }, (_, i) => i);
  const src = AddrPort.parse("[2001:db8::7]:99");
  const wire = marshalDiscoMessage({ type: "pong", txId, src });
  const longer = new Uint8Array(wire.length + 9);
  longer.set(wire);
  const parsed = parseDiscoMessage(longer);
  assert.equal(parsed.type, "pong");
  assert.equal(parsed.type === "pong" && parsed.src.toString(), "[2001:db8::7]:99");
});

Deno.test("disco message: IPv4 travels v4-mapped and comes back as IPv4", () => {
  const src = AddrPort.parse("100.64.0.1:41641");
  const wire = marshalDiscoMessage({ type: "pong", txId: new Uint8Array(12), src });
  assert.equal(toHex(wire.subarray(14, 32)), "00000000000000000000ffff64400001a2a9");
  const parsed = parseDiscoMessage(wire);
  assert.ok(parsed.type === "pong" && parsed.src.is4 && parsed.src.equals(src));
});

Deno.test("disco message: hostile payloads throw only DiscoMessageError", () => {
  const rand = seededRandom(7);
  let parsed = 0;
  for (let i = 0; i < 20000; i++) {
    const length = Math.floor(rand() * 200);
    const payload = Uint8Array.from({ length }, () => Math.floor(rand() * 256));
    // Bias towards known types so the body parsers see the garbage.
    if (length > 0 && rand() < 0.8) payload[0] = 1 + Math.floor(rand() * 9);
    if (length > 1 && rand() < 0.5) payload[1] = 0;
    try {
      parseDiscoMessage(payload);
      parsed++;
    } catch (error) {
      assert.ok(error instanceof DiscoMessageError, `unexpected ${error}`);
    }
  }
  assert.ok(parsed > 1000, `only ${parsed} parsed`);
  assert.throws(() => parseDiscoMessage(null as unknown as Uint8Array), DiscoMessageError);
});

Deno.test("disco message: out-of-range fields are refused with DiscoMessageError", () => {
  const nodeKey = null;
  const bad: DiscoMessage[] = [
    { type: "ping", txId: new Uint8Array(11), nodeKey, padding: 0 },
    { type: "ping", txId: new Uint8Array(12), nodeKey, padding: -1 },
    { type: "ping", txId: new Uint8Array(12), nodeKey, padding: 1.5 },
    { type: "pong", txId: new Uint8Array(13), src: AddrPort.parse("1.1.1.1:1") },
    {
      type: "bind-udp-relay-endpoint",
      vni: 2 ** 32,
      generation: 0,
      remoteKey: DiscoPublicKey.zero(),
      challenge: new Uint8Array(32),
    },
    {
      type: "bind-udp-relay-endpoint",
      vni: 0,
      generation: 0,
      remoteKey: DiscoPublicKey.zero(),
      challenge: new Uint8Array(31),
    },
    {
      type: "allocate-udp-relay-endpoint-request",
      clientDisco: [DiscoPublicKey.zero(), DiscoPublicKey.zero()],
      generation: -1,
    },
  ];
  for (const message of bad) {
    assert.throws(
      () => marshalDiscoMessage(message),
      DiscoMessageError,
      JSON.stringify(message.type),
    );
  }
});

Deno.test("disco message: a zero node key is omitted like Go's AppendMarshal", () => {
  const txId = new Uint8Array(12).fill(9);
  const withZero = marshalDiscoMessage({
    type: "ping",
    txId,
    nodeKey: NodePublicKey.zero(),
    padding: 0,
  });
  assert.equal(withZero.length, 14);
  const parsed = parseDiscoMessage(withZero);
  assert.ok(parsed.type === "ping" && parsed.nodeKey === null && parsed.padding === 0);
});

Deno.test("disco message: summaries and the peer-relay classification", () => {
  const txId = fromHex("a0a1a2a3a4a5a6a7a8a9aaab");
  assert.equal(
    discoMessageSummary({ type: "ping", txId, nodeKey: null, padding: 3 }),
    "ping tx=a0a1a2a3a4a5 padding=3",
  );
  assert.equal(
    discoMessageSummary({ type: "pong", txId, src: AddrPort.parse("1.2.3.4:5") }),
    "pong tx=a0a1a2a3a4a5",
  );
  assert.equal(discoMessageSummary({ type: "call-me-maybe", endpoints: [] }), "call-me-maybe");
  for (const vector of vectors.messages) {
    const message = messageFromFields(vector.fields);
    assert.equal(
      isPeerRelayMessage(message),
      !["ping", "pong", "call-me-maybe"].includes(message.type),
    );
  }
});
