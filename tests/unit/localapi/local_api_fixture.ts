/** What the local API tests serve: a status, and a private temporary state directory. */
import type { NodeStatus } from "../../../network/mod.ts";

/** A connected node's status with one peer. */
export const STATUS: NodeStatus = {
  connected: true,
  nodeName: "box",
  nodeId: 7,
  nodeIP: "100.64.0.5",
  nodeIPv6: "fd7a:115c:a1e0::5",
  nexus: "https://nexus.test",
  keyExpiry: null,
  peers: [{
    hostname: "peer",
    ip: "100.64.0.6",
    ipv6: null,
    online: false,
    os: "linux",
    lastSeen: "2026-11-26T10:00:00.000Z",
  }],
};

/** Runs `fn` with a fresh 0700 directory, removed afterwards. */
export async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "citadel-api-test-" });
  await Deno.chmod(dir, 0o700);
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
