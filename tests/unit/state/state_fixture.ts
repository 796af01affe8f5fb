/** Deterministic node states shared by the state tests and their child processes. */
import { MachinePrivateKey, NodePrivateKey } from "../../../network/crypto/keys.ts";
import type { NodeState } from "../../../state/mod.ts";

/** A 32-byte key seed filled with `n`. */
export function seed(n: number): Uint8Array {
  return new Uint8Array(32).fill(n);
}

/** A registered state with every optional field set. */
export function fullState(): NodeState {
  return {
    machineKey: MachinePrivateKey.fromBytes(seed(1)),
    nodeKey: NodePrivateKey.fromBytes(seed(2)),
    oldNodeKey: NodePrivateKey.fromBytes(seed(3)),
    controlURL: "http://127.0.0.1:8080",
    login: {
      userId: 1,
      loginName: "alice@example.com",
      displayName: "Alice",
      nodeId: 7,
      stableNodeId: "nStable7",
      nodeName: "gpu-box",
      addresses: { v4: "100.64.0.7", v6: "fd7a:115c:a1e0::7" },
      keyExpiry: Date.UTC(2027, 0, 1),
    },
    netmap: { self: { name: "gpu-box" }, peers: [{ name: "p1", addrs: ["100.64.0.8/32"] }] },
    updatedAt: Date.UTC(2026, 10, 26, 14, 0, 0, 123),
  };
}

/** A fresh, unregistered state: only the required fields. */
export function minimalState(): NodeState {
  return {
    machineKey: MachinePrivateKey.fromBytes(seed(4)),
    nodeKey: NodePrivateKey.fromBytes(seed(5)),
    controlURL: "https://nexus.example",
    updatedAt: Date.UTC(2026, 0, 1),
  };
}

/** A netmap of roughly `bytes` bytes of JSON, tagged so two variants differ throughout. */
export function bigNetmap(tag: string, bytes: number): unknown {
  const peers = [];
  const per = 330;
  for (let i = 0; i < Math.ceil(bytes / per); i++) {
    peers.push({
      id: i,
      name: `${tag}-peer-${i}.tailnet.example`,
      key: `nodekey:${tag.padEnd(8, "0")}${i.toString(16).padStart(56, "0")}`,
      addresses: [`100.64.${i >> 8}.${i & 255}/32`],
      endpoints: [`192.0.2.${i & 255}:41641`, `[2001:db8::${i.toString(16)}]:41641`],
      derp: `127.3.3.40:${(i % 10) + 1}`,
      online: i % 2 === 0,
      tag,
    });
  }
  return { tag, self: { name: `${tag}-self` }, peers };
}

/** One of two large, distinguishable states (`which` 0 or 1) for the crash test. */
export function loopState(which: 0 | 1): NodeState {
  const tag = which === 0 ? "alpha" : "bravo";
  return {
    machineKey: MachinePrivateKey.fromBytes(seed(10)),
    nodeKey: NodePrivateKey.fromBytes(seed(11 + which)),
    controlURL: "http://127.0.0.1:8080",
    login: {
      userId: 1,
      loginName: "alice@example.com",
      displayName: "Alice",
      nodeId: 7,
      nodeName: `node-${tag}`,
      addresses: { v4: `100.64.0.${7 + which}` },
      keyExpiry: null,
    },
    netmap: bigNetmap(tag, 200_000),
    updatedAt: Date.UTC(2026, 10, 26) + which,
  };
}
