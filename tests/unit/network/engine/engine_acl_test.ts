/**
 * The ACL on every packet (issue 6, point 4): the netmap's packet filter runs on every inbound
 * packet before anything local sees it; a new filter applies at the next packet; replies to
 * our own UDP flows pass whatever the rules say; drops are counted by reason; a netmap with
 * no rules admits replies only.
 */
import assert from "node:assert/strict";
import { Engine } from "../../../../network/engine/engine.ts";
import type { FilterRule } from "../../../../network/control/map_response.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { IPProtocol } from "../../../../network/netaddr/ip_protocol.ts";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import { emitIPv4Header } from "../../../../network/netstack/wire/ipv4.ts";
import { emitUDPDatagram } from "../../../../network/netstack/wire/udp.ts";
import { startFakeDerpServer } from "../derp/fake_derp_server.ts";
import { echoRequest, netmapFor, side, until } from "../magicsock/two_planes.ts";

// SSH from another node only: A may not reach B at all (ICMP passes, as in tailscaled, only
// when some rule lets the source reach the destination address).
const ONLY_SSH: FilterRule[] = [{
  SrcIPs: ["100.64.0.9"],
  DstPorts: [{ IP: "*", Ports: { First: 22, Last: 22 } }],
  IPProto: [IPProtocol.TCP],
}];
const ICMP_TOO: FilterRule[] = [...ONLY_SSH, {
  SrcIPs: ["100.64.0.1"],
  DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }],
  IPProto: [IPProtocol.ICMPv4],
}];

function udpPacket(src: string, dst: string, srcPort: number, dstPort: number, seq: number) {
  const payload = Uint8Array.of(seq);
  const packet = new Uint8Array(20 + 8 + payload.length);
  const s = parseIPAddress(src)!, d = parseIPAddress(dst)!;
  emitIPv4Header({ src: s, dst: d, protocol: IPProtocol.UDP, payloadLength: 8 + 1 }, packet);
  emitUDPDatagram({ srcPort, dstPort, payload }, packet, s, d, 20);
  return packet;
}

Deno.test("Engine ACL: unadmitted packets never reach the echo responder; a new filter applies at once; UDP replies pass", async () => {
  const server = startFakeDerpServer();
  const a = side("100.64.0.1");
  const b = side("100.64.0.2");
  const got: Uint8Array[] = [];
  const atB: Uint8Array[] = [];
  const engineA = new Engine({ ...a, plainHTTPDerp: true, onPacket: (p) => got.push(p) });
  const engineB = new Engine({ ...b, plainHTTPDerp: true, onPacket: (p) => atB.push(p) });
  try {
    engineA.setNetmap(netmapFor(a, [b], server.url));
    engineB.setNetmap({ ...netmapFor(b, [a], server.url), packetFilter: ONLY_SSH });
    await engineA.start();
    await engineB.start();

    assert.ok(engineA.sendPacket(echoRequest(a.ip, b.ip, 1)));
    await until(
      "the ICMP drop",
      () => engineB.stats.inboundDropped["acl:no-rule-matched"] || undefined,
    );
    assert.equal(engineB.stats.echoRepliesSent, 0, "the responder never saw it");
    assert.equal(got.length, 0);

    // A new netmap admits ICMP from A: the next packet passes.
    engineB.setNetmap({ ...netmapFor(b, [a], server.url), packetFilter: ICMP_TOO });
    assert.ok(engineA.sendPacket(echoRequest(a.ip, b.ip, 2)));
    await until("the echo reply", () => got.find((p) => p[27] === 2));
    assert.equal(engineB.stats.echoRepliesSent, 1);

    // New UDP from A to B is dropped, but B's own UDP flow to A gets its reply through.
    assert.ok(engineA.sendPacket(udpPacket(a.ip, b.ip, 5000, 53, 1)));
    await until(
      "the UDP drop",
      () => engineB.stats.inboundDropped["acl:no-rule-matched"] === 2 || undefined,
    );
    // (Through the stacks' own sockets: B's query from port 40000 to A's port 53.)
    const dns = engineA.netstack.listenUDP(53);
    const client = engineB.netstack.listenUDP(40000);
    await client.send(Uint8Array.of(2), AddrPort.parse(`${a.ip}:53`));
    const [query, from] = await dns.receive();
    assert.deepEqual([...query], [2], "B's query reached A");
    await dns.send(Uint8Array.of(3), from);
    const [reply] = await client.receive();
    assert.deepEqual([...reply], [3], "A's answer reached B: a reply to B's own flow");
    dns.close();
    client.close();

    // No rules at all: replies only (tailscaled's behaviour with an empty filter).
    engineB.setNetmap({ ...netmapFor(b, [a], server.url), packetFilter: null });
    assert.ok(engineA.sendPacket(echoRequest(a.ip, b.ip, 3)));
    await until(
      "the drop with no rules",
      () => engineB.stats.inboundDropped["acl:no-rule-matched"] === 3 || undefined,
    );
    assert.equal(engineB.stats.echoRepliesSent, 1);
  } finally {
    await engineA.close();
    await engineB.close();
    await server.close();
  }
});
