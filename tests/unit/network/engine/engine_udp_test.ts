/**
 * Two engines with magicsock's opt-in direct UDP paths on 127.0.0.1 (data-plane reference
 * §2.2–2.8): they find each other's loopback endpoint by disco and move WireGuard off DERP.
 */
import assert from "node:assert/strict";
import { Engine } from "../../../../network/engine/engine.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";
import { echoRequest, netmapFor, side, until } from "../magicsock/two_planes.ts";

const UDP = { hostname: "127.0.0.1", advertise: "loopback-only" as const };

Deno.test("Engine UDP: two data planes find a direct loopback path; WireGuard leaves DERP", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const got: Uint8Array[] = [];
  const sockA = new Engine({
    ...a,
    plainHTTPDerp: true,
    udp: UDP,
    onPacket: (p) => got.push(p),
  });
  const sockB = new Engine({ ...b, plainHTTPDerp: true, udp: UDP });
  try {
    sockA.setNetmap(netmapFor(a, [b], server.url));
    sockB.setNetmap(netmapFor(b, [a], server.url));
    await sockA.start();
    await sockB.start();
    a.endpoints = sockA.localEndpoints().map(String);
    b.endpoints = sockB.localEndpoints().map(String);
    assert.equal(a.endpoints.length, 1);
    assert.match(a.endpoints[0], /^127\.0\.0\.1:\d+$/);
    sockA.setNetmap(netmapFor(a, [b], server.url));
    sockB.setNetmap(netmapFor(b, [a], server.url));

    // The first packet goes over DERP while disco pings B's endpoint.
    assert.ok(sockA.sendPacket(echoRequest(a.ip, b.ip, 1)));
    await until("the first echo reply", () => got[0]);
    const direct = await until(
      "a trusted direct path",
      () => sockA.directPath(b.nodeKey.publicKey()) ?? undefined,
    );
    assert.equal(direct.addr.key, b.endpoints[0]);
    assert.ok(direct.latencyMs >= 0, "the direct path has a measured latency");
    assert.ok(sockA.stats.discoPongsReceived >= 1);

    const derpBefore = sockA.stats.datagramsSent;
    const udpBefore = sockA.stats.udpDatagramsSent;
    for (let seq = 2; seq <= 4; seq++) {
      assert.ok(sockA.sendPacket(echoRequest(a.ip, b.ip, seq)));
      await until(`echo reply ${seq}`, () => got.find((p) => p[27] === seq));
    }
    assert.equal(sockA.stats.datagramsSent, derpBefore, "nothing more over DERP");
    assert.ok(sockA.stats.udpDatagramsSent >= udpBefore + 3);
    assert.ok(sockB.stats.udpDatagramsReceived >= 3);
  } finally {
    await sockA.close();
    await sockB.close();
    await server.close();
  }
});
