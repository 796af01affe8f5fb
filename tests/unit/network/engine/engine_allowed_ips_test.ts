/**
 * Cryptokey routing reads the current netmap at every packet (issue 10, point 4): when a
 * netmap shrinks a peer's addresses, the next packet from a removed address is dropped and
 * counted; when a netmap grants a new one, the next packet from it is accepted. The WireGuard
 * session survives both changes.
 */
import assert from "node:assert/strict";
import { Engine } from "../../../../network/engine/engine.ts";
import type { DataPlaneNetmap } from "../../../../network/magicsock/data_plane_netmap.ts";
import { IPPrefix } from "../../../../network/netaddr/ip_prefix.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";
import {
  ALLOW_ALL,
  derpMap,
  echoRequest,
  netmapFor,
  side,
  until,
} from "../magicsock/two_planes.ts";

Deno.test("Engine: a netmap that shrinks or grows a peer's addresses applies at the next packet; the session is kept", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const replies: Uint8Array[] = [];
  const engineA = new Engine({ ...a, plainHTTPDerp: true, onPacket: (p) => replies.push(p) });
  const engineB = new Engine({ ...b, plainHTTPDerp: true });
  // B's view of A: A's addresses are exactly `addresses`.
  const bSeesA = (addresses: string[]): DataPlaneNetmap => ({
    selfAddresses: [IPPrefix.parse(`${b.ip}/32`)],
    peers: [{
      nodeKey: a.nodeKey.publicKey(),
      discoKey: a.discoKey.publicKey(),
      homeDERP: 999,
      allowedIPs: addresses.map((ip) => IPPrefix.parse(`${ip}/32`)),
    }],
    derpMap: derpMap(server.url),
    packetFilter: ALLOW_ALL,
  });
  const keyA = a.nodeKey.publicKey();
  const keyB = b.nodeKey.publicKey();
  const echo = (from: string, seq: number) => {
    assert.ok(engineA.sendPacket(echoRequest(from, b.ip, seq)), "A routes to B");
  };
  try {
    // A holds all three addresses itself, so B's replies to any of them are A's to take.
    engineA.setNetmap({
      ...netmapFor(a, [b], server.url),
      selfAddresses: [a.ip, "100.64.0.11", "100.64.0.12"].map((ip) => IPPrefix.parse(`${ip}/32`)),
    });
    engineB.setNetmap(bSeesA([a.ip, "100.64.0.11"]));
    await engineA.start();
    await engineB.start();

    echo("100.64.0.11", 1);
    await until("B answers 100.64.0.11", () => replies.find((p) => p[27] === 1));
    const handshakes = engineB.peerStats(keyA)!.handshakes;
    assert.equal(handshakes, 1);

    // Shrink: 100.64.0.11 no longer belongs to A.
    engineB.setNetmap(bSeesA([a.ip]));
    const droppedBefore = engineB.stats.droppedSourceNotAllowed;
    echo("100.64.0.11", 2);
    await until(
      "the packet from the removed address dropped and counted",
      () => engineB.stats.droppedSourceNotAllowed === droppedBefore + 1 || undefined,
    );
    assert.equal(engineB.stats.echoRepliesSent, 1, "nothing answered the removed address");
    assert.equal(engineB.peerStats(keyA)!.dropped, 1);
    assert.match(engineB.peerStats(keyA)!.lastDropReason, /source address not allowed/);
    // A's own address still works on the same session.
    echo(a.ip, 3);
    await until("B answers A's remaining address", () => replies.find((p) => p[27] === 3));

    // Grant: 100.64.0.12 is now A's.
    echo("100.64.0.12", 4);
    await until(
      "a packet from the not-yet-granted address dropped",
      () => engineB.stats.droppedSourceNotAllowed === droppedBefore + 2 || undefined,
    );
    engineB.setNetmap(bSeesA([a.ip, "100.64.0.12"]));
    echo("100.64.0.12", 5);
    await until("B answers the granted address", () => replies.find((p) => p[27] === 5));
    assert.equal(replies.find((p) => p[27] === 4), undefined, "the early one stayed dropped");

    // One session throughout.
    assert.equal(engineB.peerStats(keyA)!.handshakes, handshakes, "no new handshake on B");
    assert.equal(engineA.peerStats(keyB)!.handshakes, handshakes, "no new handshake on A");
    assert.ok(engineA.hasSession(keyB) && engineB.hasSession(keyA));
  } finally {
    await engineA.close();
    await engineB.close();
    await server.close();
  }
});
