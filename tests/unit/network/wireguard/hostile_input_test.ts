import assert from "node:assert/strict";
import {
  messageType,
  parseCookieReply,
  parseInitiation,
  parseResponse,
  parseTransport,
  WireGuardMessageError,
} from "../../../../network/wireguard/messages.ts";
import { seededRandom } from "../crypto/seeded_random.ts";
import { exchange, ipv4Packet, peerPair } from "./peer_harness.ts";

const SIZES = [0, 1, 3, 4, 15, 16, 31, 32, 33, 63, 64, 65, 91, 92, 93, 147, 148, 149, 1500];

Deno.test("hostile input: random bytes into every parser throw only WireGuardMessageError", () => {
  const random = seededRandom();
  const parsers = [parseInitiation, parseResponse, parseCookieReply, parseTransport];
  for (let i = 0; i < 4000; i++) {
    const bytes = random.bytes(SIZES[random.below(SIZES.length)]);
    // Half the inputs carry a valid type, so the size and field checks are reached.
    if (bytes.length >= 4 && random.below(2) === 0) bytes.set([1 + random.below(4), 0, 0, 0]);
    messageType(bytes);
    for (const parse of parsers) {
      try {
        parse(bytes);
      } catch (error) {
        assert.ok(error instanceof WireGuardMessageError, `seed ${random.seed}: ${error}`);
      }
    }
  }
});

Deno.test("hostile input: random and mangled datagrams into a live peer never throw or deliver", () => {
  const pair = peerPair();
  const { a, b, clock, random } = pair;
  const real: Uint8Array[] = [];
  const first = a.sendPacket(ipv4Packet(1, 2), clock.t);
  real.push(...first.send); // the initiation, which B consumes below
  exchange(pair, "a", first);
  real.push(...a.sendPacket(ipv4Packet(1, 2), clock.t).send);
  const dropped = b.stats.dropped;
  let fed = 0;
  for (let i = 0; i < 3000; i++) {
    let datagram: Uint8Array;
    if (i % 2 === 0) {
      datagram = random.bytes(SIZES[random.below(SIZES.length)]);
      if (datagram.length >= 4) datagram.set([1 + random.below(4), 0, 0, 0]);
    } else {
      datagram = real[random.below(real.length)].slice();
      datagram[random.below(datagram.length)] ^= 1 << random.below(8);
    }
    const out = b.handleDatagram(datagram, clock.t);
    assert.deepEqual(out.deliver, [], `seed ${random.seed}`);
    fed++;
  }
  assert.ok(b.stats.dropped - dropped >= fed * 0.99, "(almost) everything counted as dropped");
  // The real session survives the noise.
  const after = exchange(pair, "a", a.sendPacket(ipv4Packet(1, 2, 5), clock.t));
  assert.deepEqual(after.b, [ipv4Packet(1, 2, 5)]);
});
