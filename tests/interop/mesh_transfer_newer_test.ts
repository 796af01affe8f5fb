/** Issue 7's 100 MiB transfers (mesh_transfer_cases.ts) on the newer pinned Headscale. */
import { registerMeshTransferTest } from "./mesh_transfer_cases.ts";
import { readPeerPins } from "./peers.ts";

registerMeshTransferTest(readPeerPins().headscaleVersions[0]);
