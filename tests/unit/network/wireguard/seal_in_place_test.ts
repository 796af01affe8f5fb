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
  assert.equal(packet.byteOffset % 16, 0);
  assert.ok(!takeRoom(packet.subarray(1)), "a view that starts elsewhere has no room");
  assert.ok(!takeRoom(packet.subarray(0, 99)), "nor one that ends elsewhere");
  assert.ok(takeRoom(packet));
  assert.ok(!takeRoom(packet), "the room is taken once");
  assert.ok(!takeRoom(new Uint8Array(100)));
  const lookalike = new Uint8Array(new ArrayBuffer(148), PACKET_HEADROOM, 100);
  assert.ok(!takeRoom(lookalike), "the same layout not made here has no room");
  const big = allocatePacketWithRoom(20_000);
  assert.equal(big.byteOffset, PACKET_HEADROOM, "a large packet has a buffer of its own");
  assert.ok(!takeRoom(big.subarray(0, 19_999)));
  assert.ok(takeRoom(big));
  assert.ok(!takeRoom(big));
});

Deno.test("packet room: packets share slabs, start zeroed, and each has its own room", () => {
  const packets = Array.from(
    { length: 200 },
    (_, i) => allocatePacketWithRoom(40 + (i * 37) % 1300),
  );
  const buffers = new Set(packets.map((p) => p.buffer));
  assert.ok(buffers.size < 40, `${buffers.size} buffers for 200 packets`);
  for (const packet of packets) assert.ok(packet.every((b) => b === 0), "zeroed");
  for (let i = 0; i < packets.length; i++) {
    const [a, b] = [packets[i], packets[i + 1]];
    if (b !== undefined && a.buffer === b.buffer) {
      // The next packet's headroom starts after this one's tailroom.
      assert.ok(b.byteOffset - PACKET_HEADROOM >= a.byteOffset + a.length + 32);
      assert.ok(!takeRoom(new Uint8Array(a.buffer, a.byteOffset + 16, a.length - 16)));
    }
  }
  for (const packet of packets) assert.ok(takeRoom(packet));
  for (const packet of packets) assert.ok(!takeRoom(packet));
});

Deno.test("wireguard: sealing a packet in a slab leaves its neighbours untouched", () => {
  const pair = peerPair();
  exchange(pair, "a", pair.a.sendPacket(ipv4Packet(1, 2), pair.clock.t));
  const template = ipv4Packet(1, 2, 300, 0x33);
  const [before, packet, after] = [withRoom(template), withRoom(template), withRoom(template)];
  assert.equal(before.buffer, packet.buffer);
  assert.equal(after.buffer, packet.buffer);
  const whole = new Uint8Array(packet.buffer);
  const snapshot = whole.slice();
  const out = pair.a.sendPacket(packet, pair.clock.t);
  assert.equal(out.send[0].buffer, packet.buffer, "sealed in the slab");
  const sealedFrom = out.send[0].byteOffset;
  const sealedTo = sealedFrom + out.send[0].length;
  for (let i = 0; i < whole.length; i++) {
    if (i < sealedFrom || i >= sealedTo) assert.equal(whole[i], snapshot[i], `byte ${i} changed`);
  }
  assert.deepEqual(before, template);
  assert.deepEqual(after, template);
  assert.deepEqual(exchange(pair, "a", out).b, [template]);
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
