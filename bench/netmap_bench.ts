/**
 * Netmap benchmark: a synthetic 10,000-peer initial MapResponse, framed and
 * zstd-compressed as Headscale sends it, is decoded and applied to a fresh
 * {@link Netmap}. Reports the median time of decode + apply (goal < 1 s) and
 * the heap the resulting netmap holds per peer (goal ≤ 64 KiB).
 *
 * Run alone with `deno run --allow-all bench/netmap_bench.ts`. The heap
 * figure needs V8's `gc()`: from `--v8-flags=--expose-gc`, or else switched on
 * at run time through `node:v8`; without either it is reported as unknown.
 *
 * @module
 */
import v8 from "node:v8";
import vm from "node:vm";
import { encodeMapFrame, MapFrameDecoder } from "../network/control/map_frame.ts";
import type { MapResponse, Node } from "../network/control/map_response.ts";
import { Netmap } from "../network/control/netmap.ts";

/** Peers in the synthetic map. */
export const BENCH_PEERS = 10_000;
const RUNS = 5;
/** Chunk size the frame is fed in, like HTTP/2 DATA frames. */
const CHUNK = 16_384;
const APPLY_GOAL_MS = 1_000;
const HEAP_GOAL_BYTES = 64 * 1024;

/** Deterministic PRNG (mulberry32), so every run builds the same map. */
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

function randomHex(random: () => number, bytes: number): string {
  let s = "";
  for (let i = 0; i < bytes; i++) s += Math.floor(random() * 256).toString(16).padStart(2, "0");
  return s;
}

/** A peer shaped like the ones Headscale sends for a Tailscale client. */
function syntheticPeer(id: number, random: () => number): Node {
  const v4 = `100.${64 + (id >> 16)}.${(id >> 8) & 255}.${id & 255}`;
  const v6 = `fd7a:115c:a1e0::${id.toString(16)}`;
  const addresses = [`${v4}/32`, `${v6}/128`];
  const routes = id % 20 === 0 ? [`10.${id % 256}.0.0/16`] : [];
  const online = random() < 0.7;
  const endpoints = [
    `198.51.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}:41641`,
    `192.168.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}:41641`,
    `[2001:db8::${id.toString(16)}]:41641`,
  ];
  const os = ["linux", "windows", "macOS", "android", "iOS"][id % 5];
  return {
    ID: id,
    StableID: String(id),
    Name: `node-${id}.tailnet.example.`,
    User: 1 + (id % 50),
    Key: `nodekey:${randomHex(random, 32)}`,
    Machine: `mkey:${randomHex(random, 32)}`,
    DiscoKey: `discokey:${randomHex(random, 32)}`,
    Addresses: addresses,
    AllowedIPs: [...addresses, ...routes],
    Endpoints: endpoints,
    HomeDERP: 1 + (id % 25),
    Hostinfo: {
      IPNVersion: "1.102.3-t1234abcd-g5678ef90",
      OS: os,
      OSVersion: "6.8.0-45-generic",
      Hostname: `node-${id}`,
      GoArch: "amd64",
      GoVersion: "go1.26.6",
      Machine: "x86_64",
      Distro: "ubuntu",
      DistroVersion: "24.04",
      RoutableIPs: routes.length > 0 ? routes : undefined,
      NetInfo: {
        MappingVariesByDestIP: false,
        WorkingIPv6: true,
        WorkingUDP: true,
        PreferredDERP: 1 + (id % 25),
        LinkType: "wired",
        DERPLatency: { "1-v4": 0.012, "2-v4": 0.034, "3-v4": 0.081 },
      },
      Services: id % 10 === 0
        ? [{ Proto: "tcp", Port: 22 }, { Proto: "peerapi4", Port: 44123 }]
        : undefined,
    },
    Created: "2026-03-14T09:26:53.589793238Z",
    Cap: 142,
    Tags: id % 7 === 0 ? ["tag:server"] : undefined,
    PrimaryRoutes: routes.length > 0 ? routes : undefined,
    LastSeen: online ? undefined : "2026-11-25T22:13:01.123456789Z",
    Online: online,
    MachineAuthorized: true,
    CapMap: id % 25 === 0 ? { "https://tailscale.com/cap/funnel": [] } : undefined,
  };
}

/** The synthetic initial map: self, `peers` peers, and the usual extras. */
export function syntheticInitialMap(peers = BENCH_PEERS): MapResponse {
  const random = prng(0x5eed);
  const list: Node[] = [];
  for (let id = 2; id < peers + 2; id++) list.push(syntheticPeer(id, random));
  const regions: Record<string, unknown> = {};
  for (let r = 1; r <= 25; r++) {
    regions[String(r)] = {
      RegionID: r,
      RegionCode: `r${r}`,
      RegionName: `Region ${r}`,
      Nodes: [{
        Name: `${r}a`,
        RegionID: r,
        HostName: `derp${r}.example.net`,
        IPv4: `203.0.113.${r}`,
      }],
    };
  }
  return {
    Node: syntheticPeer(1, random),
    Peers: list,
    DERPMap: { Regions: regions as NonNullable<MapResponse["DERPMap"]>["Regions"] },
    DNSConfig: { Resolvers: [{ Addr: "192.0.2.53" }], Domains: ["tailnet.example"], Proxied: true },
    Domain: "tailnet.example",
    PacketFilters: {
      base: [{ SrcIPs: ["*"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] }],
    },
    UserProfiles: Array.from({ length: 50 }, (_, i) => ({
      ID: i + 1,
      LoginName: `user${i + 1}@example.com`,
      DisplayName: `User ${i + 1}`,
    })),
    ControlTime: "2026-11-26T15:00:00Z",
  };
}

function decodeAndApply(frame: Uint8Array): Netmap {
  const decoder = new MapFrameDecoder({ compressed: true });
  const netmap = new Netmap();
  for (let at = 0; at < frame.length; at += CHUNK) {
    for (const message of decoder.push(frame.subarray(at, at + CHUNK))) netmap.apply(message);
  }
  decoder.end();
  return netmap;
}

/** The median of `values` (mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** V8's collector: from `--v8-flags=--expose-gc`, else enabled at run time through node:v8. */
const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc ?? exposeGc();

function exposeGc(): (() => void) | undefined {
  try {
    v8.setFlagsFromString("--expose-gc");
    return vm.runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
}

/** Heap bytes in use after two full collections (when V8's `gc` could be enabled). */
export function settledHeap(): number {
  if (gc) {
    gc();
    gc();
  }
  return Deno.memoryUsage().heapUsed;
}

/** Result of {@link runNetmapBench}. */
export interface NetmapBenchResult {
  /** Median milliseconds to decode and apply the 10,000-peer frame. */
  applyMs: number;
  /** Heap held by the applied netmap, per peer, in bytes. */
  heapPerPeerBytes: number;
  /** Compressed frame size in bytes. */
  frameBytes: number;
  /** Decoded JSON size in bytes. */
  jsonBytes: number;
  /** Whether `gc` was available; without it the heap figure is meaningless. */
  gcExposed: boolean;
}

/** Runs the benchmark and returns its figures (prints nothing). */
export function runNetmapBench(): Promise<NetmapBenchResult> {
  const map = syntheticInitialMap();
  const jsonBytes = new TextEncoder().encode(JSON.stringify(map)).length;
  const frame = encodeMapFrame(map, { compressed: true });

  decodeAndApply(frame); // warm-up
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    const netmap = decodeAndApply(frame);
    times.push(performance.now() - start);
    if (netmap.peerCount !== BENCH_PEERS) throw new Error(`expected ${BENCH_PEERS} peers`);
  }

  const before = settledHeap();
  let kept: Netmap | null = decodeAndApply(frame);
  const after = settledHeap();
  const heapPerPeerBytes = Math.max(0, after - before) / kept.peerCount;
  kept = null;

  return Promise.resolve({
    applyMs: median(times),
    heapPerPeerBytes,
    frameBytes: frame.length,
    jsonBytes,
    gcExposed: gc !== undefined,
  });
}

if (import.meta.main) {
  const result = await runNetmapBench();
  const kib = (n: number) => (n / 1024).toFixed(1);
  console.log(
    `netmap_decode_apply_10k ${result.applyMs.toFixed(1)} ms (goal < ${APPLY_GOAL_MS} ms; ` +
      `frame ${kib(result.frameBytes)} KiB zstd, ${kib(result.jsonBytes)} KiB JSON)`,
  );
  console.log(
    `netmap_heap_per_peer ${
      Math.round(result.heapPerPeerBytes)
    } bytes (goal ≤ ${HEAP_GOAL_BYTES} bytes` +
      `${result.gcExposed ? "" : "; gc unavailable, figure unreliable"})`,
  );
}
