import assert from "node:assert/strict";
import {
  headscaleBinary,
  parsePeersEnv,
  PeerNotBuiltError,
  readPeerPins,
  tailscaleBinary,
  tailscaledBinary,
} from "./peers.ts";

Deno.test("peers.env: quoted and bare values, comments and blank lines", () => {
  const env = parsePeersEnv("# pins\n\nA=\"x y\"\nB='z'\nC=plain\n");
  assert.deepEqual([...env], [["A", "x y"], ["B", "z"], ["C", "plain"]]);
  assert.throws(() => parsePeersEnv("not a pin"), /cannot parse line/);
});

Deno.test("peers.env: the pinned versions are read", () => {
  const pins = readPeerPins();
  assert.ok(pins.headscaleVersions.length >= 2, `${pins.headscaleVersions}`);
  for (const version of pins.headscaleVersions) assert.match(version, /^v\d+\.\d+\.\d+$/);
  assert.match(pins.tailscaleVersion, /^v\d+\.\d+\.\d+$/);
});

Deno.test("a missing real peer fails loudly and says how to build it", () => {
  assert.throws(() => headscaleBinary("v0.0.0-never-built"), (error: unknown) => {
    assert.ok(error instanceof PeerNotBuiltError);
    assert.match(
      error.message,
      /^real peer headscale v0\.0\.0-never-built not built: run \.\/dev peers/,
    );
    return true;
  });
});

Deno.test("every pinned real peer is built (run ./dev peers)", () => {
  for (const version of readPeerPins().headscaleVersions) headscaleBinary(version);
  tailscaledBinary();
  tailscaleBinary();
});
