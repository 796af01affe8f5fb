/**
 * Packets built with room around them (network/packet_room.ts) are sealed
 * where they lie; any other packet is copied, and nothing outside it is
 * written, whatever shares its buffer.
 */
import assert from "node:assert/strict";
import {
  allocatePacketWithRoom,
  PACKET_HEADROOM,
  takeRoom,
} from "../../../../network/packet_room.ts";
import { exchange, ipv4Packet, peerPair } from "./peer_harness.ts";

function withRoom(template: Uint8Array): Uint8Array {
  const packet = allocatePacketWithRoom(template.length);
  packet.set(template);
  return packet;
}

Deno.test("packet room: taken once, only from a packet allocated with it", () => {
  const packet = allocatePacketWithRoom(100);
  assert.equal(packet.byteOffset, PACKET_HEADROOM);
  assert.ok(!takeRoom(packet.subarray(1)), "a view that starts elsewhere has no room");
  assert.ok(!takeRoom(packet.subarray(0, 99)), "nor one that ends elsewhere");
  assert.ok(takeRoom(packet));
  assert.ok(!takeRoom(packet), "the room is taken once");
  assert.ok(!takeRoom(new Uint8Array(100)));
  const lookalike = new Uint8Array(new ArrayBuffer(148), PACKET_HEADROOM, 100);
  assert.ok(!takeRoom(lookalike), "the same layout not made here has no room");
});

Deno.test("wireguard: a packet with room is sealed where it lies and arrives intact", () => {
  const pair = peerPair();
  const template = ipv4Packet(1, 2, 1200, 0x5a);
  // The first packet waits for the handshake: staged as a copy, its room unused.
  const first = withRoom(template);
  const delivered = exchange(pair, "a", pair.a.sendPacket(first, pair.clock.t));
  assert.deepEqual(delivered.b, [template]);
  const second = withRoom(template);
  const out = pair.a.sendPacket(second, pair.clock.t);
  assert.equal(out.send.length, 1);
  assert.equal(out.send[0].buffer, second.buffer, "the datagram is the packet's own buffer");
  assert.equal(out.send[0].byteOffset, second.byteOffset - PACKET_HEADROOM);
  assert.deepEqual(exchange(pair, "a", out).b, [template]);
});

Deno.test("wireguard: a packet without room is copied, and its neighbours are untouched", () => {
  const pair = peerPair();
  exchange(pair, "a", pair.a.sendPacket(ipv4Packet(1, 2), pair.clock.t));
  const template = ipv4Packet(1, 2, 100, 0x11);
  const shared = new Uint8Array(PACKET_HEADROOM + template.length + 64).fill(0xee);
  const packet = shared.subarray(PACKET_HEADROOM, PACKET_HEADROOM + template.length);
  packet.set(template);
  const before = shared.slice();
  const out = pair.a.sendPacket(packet, pair.clock.t);
  assert.notEqual(out.send[0].buffer, shared.buffer, "a datagram of its own");
  assert.deepEqual(shared, before, "nothing in the shared buffer changed");
  assert.deepEqual(exchange(pair, "a", out).b, [template]);
});
