/**
 * Starts `mesh_load_driver.ts` (a CitadelNode in a process of its own, heap
 * measurable after a collection) and speaks to it in JSON lines.
 *
 * @module
 */
import { JsonLineDriver } from "./json_line_driver.ts";
import { REPO_ROOT } from "./peers.ts";

/** A started driver and its node's mesh IPv4. */
export interface MeshDriver {
  /** The JSON-line channel. */
  driver: JsonLineDriver;
  /** The node's mesh IPv4. */
  ip: string;
}

/** Starts the driver and its node; `peerIP` must appear in its netmap. */
export async function startMeshDriver(
  controlURL: string,
  authKey: string,
  hostname: string,
  peerIP: string,
): Promise<MeshDriver> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-all",
      "--unstable-net",
      "--v8-flags=--expose-gc",
      "--config",
      `${REPO_ROOT}/deno.json`,
      new URL("./mesh_load_driver.ts", import.meta.url).pathname,
    ],
    env: { CITADEL_MESH_DRIVER: JSON.stringify({ controlURL, authKey, hostname, peerIP }) },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const driver = new JsonLineDriver(child);
  const started = await driver.call({ cmd: "start" }, 60_000);
  if (!started.ok) {
    await driver.stop();
    throw new Error(`the mesh driver did not start: ${JSON.stringify(started)}`);
  }
  return { driver, ip: String(started.ip) };
}
