/**
 * A synthetic 10,000-peer map served by the in-process fake ts2021 server
 * (tests/unit/network/control/fake_control_server.ts) to a real
 * {@link CitadelNode}: time from `start()` to the applied netmap, and heap
 * per peer afterwards. The whole client path runs: /key, Noise, HTTP/2, the
 * register call, the zstd map frame, the netmap model.
 *
 * Run alone: `deno run --allow-all --unstable-net bench/fake_control_bench.ts`.
 */
import type * as http2 from "node:http2";
import {
  FakeControlServer,
  respondJSON,
} from "../tests/unit/network/control/fake_control_server.ts";
import { encodeMapFrame } from "../network/control/map_frame.ts";
import { CitadelNode } from "../network/node.ts";
import { MemoryStateStore } from "../state/memory_store.ts";
import { newNodeState } from "../state/node_state.ts";
import { BENCH_PEERS, median, settledHeap, syntheticInitialMap } from "./netmap_bench.ts";

/** Figures of one run of {@link runFakeControlBench}. */
export interface FakeControlBenchResult {
  /** Median milliseconds from `start()` to the first netmap applied. */
  startToNetmapMs: number;
  /** Heap bytes per peer held once the netmap is applied. */
  heapPerPeerBytes: number;
  /** Peers in the map. */
  peers: number;
}

async function oneRun(frame: Uint8Array) {
  const server = FakeControlServer.start((request, stream: http2.ServerHttp2Stream) => {
    if (request.path === "/machine/register") {
      respondJSON(stream, { MachineAuthorized: true, User: { ID: 1 }, Login: { ID: 1 } });
    } else if (request.path === "/machine/map") {
      stream.respond({ ":status": 200 });
      stream.write(frame);
      // Leave the stream open, as a real server does.
    } else {
      respondJSON(stream, {}, 404);
    }
  });
  const state = newNodeState({ controlURL: server.url.origin });
  state.login = {
    userId: 1,
    loginName: "bench",
    displayName: "bench",
    nodeId: 1,
    nodeName: "bench",
    addresses: {},
    keyExpiry: null,
  };
  const store = new MemoryStateStore();
  await store.save(state);
  const heapBefore = settledHeap();
  const node = new CitadelNode({ controlURL: server.url.origin, store, allowInteractive: false });
  const t0 = performance.now();
  await node.start();
  const elapsed = performance.now() - t0;
  const heapAfter = settledHeap();
  if (node.peerCount !== BENCH_PEERS) {
    throw new Error(`expected ${BENCH_PEERS} peers, got ${node.peerCount}`);
  }
  await node.close();
  await server.close();
  return { elapsed, heapPerPeer: (heapAfter - heapBefore) / BENCH_PEERS };
}

/** Serves the synthetic map five times and returns the median figures. */
export async function runFakeControlBench(runs = 5): Promise<FakeControlBenchResult> {
  const frame = encodeMapFrame(syntheticInitialMap(BENCH_PEERS), { compressed: true });
  const times: number[] = [];
  const heaps: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { elapsed, heapPerPeer } = await oneRun(frame);
    times.push(elapsed);
    heaps.push(heapPerPeer);
  }
  return { startToNetmapMs: median(times), heapPerPeerBytes: median(heaps), peers: BENCH_PEERS };
}

if (import.meta.main) {
  const r = await runFakeControlBench();
  console.log(
    `fake_control_10k_start_to_netmap ${r.startToNetmapMs.toFixed(0)} ms (goal < 1000 ms)`,
  );
  console.log(
    `fake_control_10k_heap_per_peer ${r.heapPerPeerBytes.toFixed(0)} bytes (goal ≤ 65536 bytes)`,
  );
}
