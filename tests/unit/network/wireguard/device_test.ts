import assert from "node:assert/strict";
import { NodePrivateKey } from "../../../../network/crypto/keys.ts";
import { WireGuardDevice } from "../../../../network/wireguard/device.ts";
import { type PeerOutput, WireGuardPeer } from "../../../../network/wireguard/peer.ts";
import { seededRandom } from "../crypto/seeded_random.ts";
import { ipv4Packet, virtualClock } from "./peer_harness.ts";

function setup(lazy: boolean) {
  const random = seededRandom();
  const clock = virtualClock();
  const deviceKey = NodePrivateKey.generate(random.bytes);
  const device = new WireGuardDevice({
    localPrivateKey: deviceKey,
    clock,
    random: random.bytes,
    lookupPeer: lazy ? () => ({}) : undefined,
  });
  const remote = (n: number) => {
    const key = NodePrivateKey.generate(random.bytes);
    const peer = new WireGuardPeer({
      localPrivateKey: key,
      remotePublicKey: deviceKey.publicKey(),
      clock,
      random: random.bytes,
    });
    return { key, peer, n };
  };
  return { random, clock, device, deviceKey, remote };
}

/** Carries datagrams between one remote peer and the device until both are quiet. */
function talk(
  device: WireGuardDevice,
  remote: WireGuardPeer,
  first: PeerOutput,
  fromRemote: boolean,
  now: number,
): { atDevice: Uint8Array[]; atRemote: Uint8Array[]; peers: Set<WireGuardPeer> } {
  const result = {
    atDevice: [] as Uint8Array[],
    atRemote: [] as Uint8Array[],
    peers: new Set<WireGuardPeer>(),
  };
  let toDevice = fromRemote ? first.send : [];
  let toRemote = fromRemote ? [] : first.send;
  while (toDevice.length + toRemote.length > 0) {
    const nextToRemote: Uint8Array[] = [];
    for (const d of toDevice) {
      const out = device.handleDatagram(d, now);
      if (!out) continue;
      result.peers.add(out.peer);
      result.atDevice.push(...out.deliver);
      nextToRemote.push(...out.send);
    }
    const nextToDevice: Uint8Array[] = [];
    for (const d of [...toRemote, ...nextToRemote]) {
      const out = remote.handleDatagram(d, now);
      result.atRemote.push(...out.deliver);
      nextToDevice.push(...out.send);
    }
    toDevice = nextToDevice;
    toRemote = [];
  }
  return result;
}

Deno.test("device: initiations reach the peer of their static key; transport finds it by index", () => {
  const { device, remote, clock } = setup(false);
  const a = remote(1), c = remote(3);
  const peerA = device.addPeer(a.key.publicKey());
  const peerC = device.addPeer(c.key.publicKey());
  const fromA = talk(device, a.peer, a.peer.sendPacket(ipv4Packet(1, 2), clock.t), true, clock.t);
  const fromC = talk(device, c.peer, c.peer.sendPacket(ipv4Packet(3, 2), clock.t), true, clock.t);
  assert.deepEqual(fromA.atDevice, [ipv4Packet(1, 2)]);
  assert.deepEqual([...fromA.peers], [peerA]);
  assert.deepEqual(fromC.atDevice, [ipv4Packet(3, 2)]);
  assert.deepEqual([...fromC.peers], [peerC]);
  // The device answers each over its own session.
  const back = talk(device, c.peer, peerC.sendPacket(ipv4Packet(2, 3), clock.t), false, clock.t);
  assert.deepEqual(back.atRemote, [ipv4Packet(2, 3)]);
  assert.equal(device.stats.dropped, 0);
});

Deno.test("device: an unknown key is dropped, or created through lookupPeer", () => {
  const strict = setup(false);
  const stranger = strict.remote(9);
  const out = stranger.peer.initiateHandshake(0);
  assert.equal(strict.device.handleDatagram(out.send[0], 0), undefined);
  assert.equal(strict.device.stats.lastDropReason, "initiation: unknown peer");

  const lazy = setup(true);
  const newcomer = lazy.remote(5);
  const got = talk(
    lazy.device,
    newcomer.peer,
    newcomer.peer.sendPacket(ipv4Packet(5, 2), 0),
    true,
    0,
  );
  assert.deepEqual(got.atDevice, [ipv4Packet(5, 2)]);
  assert.ok(lazy.device.peer(newcomer.key.publicKey()));
  assert.equal([...lazy.device.peers].length, 1);
});

Deno.test("device: the device initiates, the response comes back by receiver index", () => {
  const { device, remote, clock } = setup(false);
  const a = remote(1);
  const peerA = device.addPeer(a.key.publicKey());
  const got = talk(device, a.peer, peerA.sendPacket(ipv4Packet(2, 1), clock.t), false, clock.t);
  assert.deepEqual(got.atRemote, [ipv4Packet(2, 1)]);
  assert.ok(peerA.hasSession(clock.t));
  assert.equal(device.nextDeadline(), peerA.nextDeadline());
  clock.t = device.nextDeadline()!;
  assert.ok(Array.isArray(device.tick(clock.t)));
  device.removePeer(a.key.publicKey());
  assert.equal(device.peer(a.key.publicKey()), undefined);
});

Deno.test("device: garbage, unknown indices and short datagrams are dropped without throwing", () => {
  const { device, random } = setup(true);
  for (let i = 0; i < 2000; i++) {
    const d = random.bytes(random.below(200));
    if (d.length >= 4) d.set([1 + random.below(4), 0, 0, 0]);
    assert.equal(device.handleDatagram(d, 0), undefined);
  }
  assert.equal(device.stats.dropped, 2000);
});
