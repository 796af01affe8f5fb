/** Issue 7's 100 MiB transfers (mesh_transfer_cases.ts) on the older pinned Headscale. */
import { registerMeshTransferTest } from "./mesh_transfer_cases.ts";
import { readPeerPins } from "./peers.ts";

registerMeshTransferTest(readPeerPins().headscaleVersions.at(-1)!);
