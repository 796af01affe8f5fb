/**
 * The packet pipeline alone: TSMP first (answered, never handed on), then the inbound hooks
 * in order, then the local handlers in order until one takes the packet; outbound hooks run
 * before routing. Counters by reason.
 */
import assert from "node:assert/strict";
import { NodePrivateKey } from "../../../../network/crypto/keys.ts";
import { PacketPipeline } from "../../../../network/engine/packet_pipeline.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { emitTSMPPacket } from "../../../../network/netstack/wire/tsmp.ts";
import { echoRequest } from "../magicsock/two_planes.ts";

const ME = parseIPAddress("100.64.0.1")!;
const PEER = NodePrivateKey.generate().publicKey();

function tsmpPing(): Uint8Array {
  const out = new Uint8Array(20 + 9);
  emitTSMPPacket(
    { kind: "ping", data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) },
    { src: parseIPAddress("100.64.0.2")!, dst: ME, identification: 7 },
    out,
  );
  return out;
}

function pipeline() {
  const sent: { packet: Uint8Array; to: string }[] = [];
  const routed: Uint8Array[] = [];
  const p = new PacketPipeline({
    selfIPs: () => [ME],
    sendToPeer: (packet, to) => sent.push({ packet, to: to.toText() }),
    route: (packet) => {
      routed.push(packet);
      return true;
    },
  });
  return { p, sent, routed };
}

Deno.test("pipeline: TSMP is answered before any hook and never reaches a handler", () => {
  const { p, sent } = pipeline();
  const order: string[] = [];
  p.addInboundHook(() => (order.push("hook"), "deny-all"));
  p.addLocalHandler(() => (order.push("handler"), true));
  p.inbound(tsmpPing(), PEER);
  assert.deepEqual(order, []);
  assert.equal(p.stats.tsmpPongsSent, 1);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].to, PEER.toText(), "the Pong goes back to the asking peer");
});

Deno.test("pipeline: hooks in order, then handlers in order until one takes the packet", () => {
  const { p, sent } = pipeline();
  const order: string[] = [];
  p.addInboundHook(() => (order.push("hook1"), null));
  p.addInboundHook(() => (order.push("hook2"), null));
  p.addLocalHandler(() => (order.push("h1"), false));
  p.addLocalHandler((packet, _from, reply) => {
    order.push("h2");
    reply(packet);
    return true;
  });
  const removeH3 = p.addLocalHandler(() => (order.push("h3"), true));
  const packet = echoRequest("100.64.0.2", "100.64.0.1", 1);
  p.inbound(packet, PEER);
  assert.deepEqual(order, ["hook1", "hook2", "h1", "h2"]);
  assert.equal(sent.length, 1, "reply goes to the sender");
  assert.equal(p.stats.packetsDelivered, 1);
  removeH3();
  order.length = 0;
  p.addInboundHook(() => "acl");
  p.inbound(packet, PEER);
  assert.deepEqual(order, ["hook1", "hook2"], "a drop stops the packet before any handler");
  assert.deepEqual(p.stats.inboundDropped, { acl: 1 });
});

Deno.test("pipeline: unhandled packets are counted; outbound hooks run before routing", () => {
  const { p, routed } = pipeline();
  p.inbound(echoRequest("100.64.0.2", "100.64.0.1", 1), PEER);
  assert.equal(p.stats.packetsUnhandled, 1);
  const outbound = echoRequest("100.64.0.1", "100.64.0.2", 2);
  assert.equal(p.outbound(outbound), true);
  assert.equal(routed.length, 1);
  p.addOutboundHook(() => "no-flow");
  assert.equal(p.outbound(outbound), false);
  assert.equal(routed.length, 1);
  assert.deepEqual(p.stats.outboundDropped, { "no-flow": 1 });
});
