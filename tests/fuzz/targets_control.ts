/**
 * Fuzz targets of the control plane: the map stream (zstd with several
 * frames and lying headers, and plain JSON), the netmap a map response is
 * applied to, the ts2021 handshake messages and transport records, and the
 * early payload. Samples come from the unit tests' fixtures and vectors.
 */
import { EarlyPayloadReader } from "../../network/control/early_payload.ts";
import {
  encodeMapFrame,
  frameMapBody,
  MapFrameDecoder,
  MapFrameError,
  parseMapResponseJSON,
  zstdCompress,
} from "../../network/control/map_frame.ts";
import type { MapResponse } from "../../network/control/map_response.ts";
import { Netmap, NetmapError } from "../../network/control/netmap.ts";
import {
  NoiseDecryptError,
  NoiseFrameReader,
  NoiseFrameWriter,
  NonceExhaustedError,
} from "../../network/control/ts2021_conn.ts";
import {
  NoiseProtocolError,
  parseErrorFrame,
  parseFrameHeader,
  parseTS2021Initiation,
  parseTS2021Response,
  serializeErrorFrame,
} from "../../network/control/ts2021_messages.ts";
import { PacketFilter } from "../../network/filter/packet_filter.ts";
import { rleFrame, skippableFrame } from "../unit/network/control/zstd_bombs.ts";
import type { FuzzRandom } from "./fuzz_random.ts";
import { type FuzzTarget, randomChunks, runEach } from "./fuzz_target.ts";
import { mutateJSON } from "./mutate_json.ts";

const encoder = new TextEncoder();
const CONTROL_FIXTURES = new URL("../unit/network/control/fixtures/", import.meta.url);
const CONTROL_TESTDATA = new URL("../unit/network/control/testdata/", import.meta.url);

function fixture(name: string): Uint8Array {
  return Deno.readFileSync(new URL(name, CONTROL_FIXTURES));
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The map responses of the real Headscale dumps and the unit tests' small messages. */
function sampleResponses(): MapResponse[] {
  const dump = (name: string) =>
    JSON.parse(
      new TextDecoder().decode(fixture(`headscale-v0.29.3-${name}.dump.json`)),
    ) as MapResponse[];
  return [
    ...dump("alpha"),
    ...dump("bravo"),
    { KeepAlive: true },
    { PeersChangedPatch: [{ NodeID: 2, Online: true }], ControlTime: "2026-11-26T14:57:10Z" },
    { PeersRemoved: [3] },
  ];
}

/** Caps of the decoders under fuzz: small, so a bomb is cheap to find and to refuse. */
const MAX_FRAME_BYTES = 256 * 1024;
const MAX_MESSAGE_BYTES = 1024 * 1024;

/** What consumers of the netmap read after every apply (node.ts, the filter, status). */
function readNetmap(netmap: Netmap): void {
  netmap.peers();
  netmap.selfAddresses();
  netmap.nodeName();
  netmap.keyExpiry();
  netmap.peerSummaries();
  netmap.snapshot();
  const rules = netmap.packetFilter;
  if (rules) PacketFilter.fromRules(rules, { localAddresses: [] });
}

const mapFrameZstd: FuzzTarget = {
  name: "map-frame-zstd",
  description: "MapFrameDecoder (zstd) fed in random chunks: multi-frame bodies, lying headers",
  expected: [MapFrameError],
  maxLength: 64 * 1024,
  setup() {
    const small = sampleResponses().slice(-3);
    const json = (m: MapResponse) => encoder.encode(JSON.stringify(m));
    const corpus = [
      ...small.map((m) => encodeMapFrame(m, { compressed: true })),
      fixture("headscale-v0.29.3-alpha.zstd.stream"),
      frameMapBody(fixture("keepalive_no_size.zst")),
      frameMapBody(fixture("peers_changed_600_no_size.zst")),
      // Several frames in one body, and a skippable frame between them.
      frameMapBody(
        concat(
          zstdCompress(encoder.encode('{"KeepAlive":')),
          zstdCompress(encoder.encode("true}")),
        ),
      ),
      frameMapBody(concat(skippableFrame(5), zstdCompress(json(small[1])))),
      // Lying headers: content size 0 before 5000 bytes; no size and 2 MiB (over the cap).
      frameMapBody(new Uint8Array(rleFrame({ contentSize: 0 }, 5000))),
      frameMapBody(new Uint8Array([...rleFrame({ contentSize: 0 }, 0), ...rleFrame({}, 2 << 20)])),
      frameMapBody(new Uint8Array(rleFrame({ contentSize: 100, contentSizeBytes: 2 }, 300))),
      frameMapBody(new Uint8Array(rleFrame({ windowLog: 30 }, 100))),
    ];
    return {
      corpus,
      run(input: Uint8Array, rng: FuzzRandom) {
        const decoder = new MapFrameDecoder({
          compressed: true,
          maxFrameBytes: MAX_FRAME_BYTES,
          maxMessageBytes: MAX_MESSAGE_BYTES,
        });
        for (const chunk of randomChunks(input, rng)) decoder.push(chunk);
        decoder.end();
      },
    };
  },
};

const mapStreamJSON: FuzzTarget = {
  name: "map-stream-json",
  description: "MapFrameDecoder (plain JSON) and every message applied to a Netmap",
  expected: [MapFrameError, NetmapError],
  maxLength: 64 * 1024,
  setup() {
    const corpus = [
      fixture("headscale-v0.29.3-bravo.json.stream"),
      concat(...sampleResponses().slice(-3).map((m) => encodeMapFrame(m, { compressed: false }))),
    ];
    return {
      corpus,
      run(input: Uint8Array, rng: FuzzRandom) {
        const decoder = new MapFrameDecoder({
          compressed: false,
          maxFrameBytes: MAX_FRAME_BYTES,
          maxMessageBytes: MAX_MESSAGE_BYTES,
        });
        const netmap = new Netmap({ clock: { now: () => Date.UTC(2026, 10, 26) } });
        for (const chunk of randomChunks(input, rng)) {
          for (const message of decoder.push(chunk)) {
            netmap.apply(message);
            readNetmap(netmap);
          }
        }
        decoder.end();
      },
    };
  },
};

const netmapApply: FuzzTarget = {
  name: "netmap-apply",
  description: "one map response's JSON (mutated as a tree) parsed and applied to a Netmap, " +
    "as the stream's full map and as a delta after a real one",
  expected: [MapFrameError, NetmapError],
  maxLength: 256 * 1024,
  setup() {
    const responses = sampleResponses();
    const corpus = responses.map((m) => encoder.encode(JSON.stringify(m)));
    const fullText = JSON.stringify(responses[0]);
    return {
      corpus,
      mutate: mutateJSON,
      run(input: Uint8Array) {
        const text = new TextDecoder().decode(input);
        const clock = { now: () => Date.UTC(2026, 10, 26) };
        runEach([
          () => {
            const first = new Netmap({ clock });
            first.apply(parseMapResponseJSON(text));
            readNetmap(first);
          },
          () => {
            const later = new Netmap({ clock });
            later.apply(parseMapResponseJSON(fullText));
            later.apply(parseMapResponseJSON(text));
            readNetmap(later);
          },
        ], netmapApply.expected);
      },
    };
  },
};

const ts2021Messages: FuzzTarget = {
  name: "ts2021-messages",
  description: "ts2021 initiation, response, error frame and frame header parsers",
  expected: [NoiseProtocolError],
  maxLength: 8 * 1024,
  setup() {
    const vector = JSON.parse(
      new TextDecoder().decode(
        Deno.readFileSync(new URL("controlbase_go_vector.json", CONTROL_TESTDATA)),
      ),
    );
    const corpus = [
      fromHex(vector.initiation),
      fromHex(vector.response),
      fromHex(vector.clientToServer),
      fromHex(vector.serverToClient),
      serializeErrorFrame("node key expired"),
    ];
    return {
      corpus,
      run(input: Uint8Array) {
        runEach([
          () => parseTS2021Initiation(input),
          () => parseTS2021Response(input),
          () => parseErrorFrame(input),
          () => parseFrameHeader(input),
        ], [NoiseProtocolError]);
      },
    };
  },
};

const noiseRecords: FuzzTarget = {
  name: "noise-records",
  description: "NoiseFrameReader: transport records in random chunks, forged or mangled",
  expected: [NoiseProtocolError, NoiseDecryptError, NonceExhaustedError],
  maxLength: 32 * 1024,
  setup() {
    const key = new Uint8Array(32).fill(7);
    const writer = new NoiseFrameWriter(key);
    const plaintexts = [
      new Uint8Array(0),
      encoder.encode("PRI * HTTP/2.0\r\n"),
      new Uint8Array(5000).fill(1),
    ];
    const stream = concat(...plaintexts.map((p) => writer.seal(p)));
    return {
      corpus: [stream, new NoiseFrameWriter(key).seal(encoder.encode("hello"))],
      run(input: Uint8Array, rng: FuzzRandom) {
        const reader = new NoiseFrameReader(key);
        for (const chunk of randomChunks(input, rng)) reader.push(chunk, () => {});
      },
    };
  },
};

const earlyPayload: FuzzTarget = {
  name: "early-payload",
  description: "EarlyPayloadReader: the magic, a length and EarlyNoise JSON before HTTP/2",
  expected: [NoiseProtocolError],
  maxLength: 16 * 1024,
  setup() {
    const payload = (json: string) => {
      const body = encoder.encode(json);
      const out = new Uint8Array(9 + body.length);
      out.set([0xff, 0xff, 0xff, 0x54, 0x53]);
      new DataView(out.buffer).setUint32(5, body.length);
      out.set(body, 9);
      return out;
    };
    const settings = fromHex("000000040000000000");
    return {
      corpus: [
        concat(payload(`{"nodeKeyChallenge":"chalpub:${"ab".repeat(32)}"}`), settings),
        payload("{}"),
        settings,
      ],
      run(input: Uint8Array, rng: FuzzRandom) {
        const reader = new EarlyPayloadReader();
        for (const chunk of randomChunks(input, rng)) reader.push(chunk);
      },
    };
  },
};

/** The control plane's targets. */
export const CONTROL_TARGETS: readonly FuzzTarget[] = [
  mapFrameZstd,
  mapStreamJSON,
  netmapApply,
  ts2021Messages,
  noiseRecords,
  earlyPayload,
];
