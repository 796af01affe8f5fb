/**
 * The direct-path UDP socket, on the main thread and in its worker: each
 * datagram handed on must be a copy of its own bytes at its own size
 * (nothing later overwrites it), its sender's address is right when senders
 * alternate, and a task's sends leave in order in bounded batches.
 */
import assert from "node:assert/strict";
import {
  type MagicSockUDP,
  type MagicSockUDPOptions,
  MAX_BATCHED_SENDS,
  UdpSocket,
} from "../../../../network/magicsock/udp_socket.ts";
import { UdpThreadSocket } from "../../../../network/magicsock/udp_thread_socket.ts";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";

type Bind = (
  options: MagicSockUDPOptions,
  onDatagram: (packet: Uint8Array, from: AddrPort) => void,
) => Promise<MagicSockUDP & { readonly batchedSends: number }>;

const KINDS: [string, Bind][] = [
  ["main thread", (options, onDatagram) => Promise.resolve(UdpSocket.bind(options, onDatagram))],
  ["worker", (options, onDatagram) => UdpThreadSocket.bind(options, onDatagram)],
];

for (const [kind, bind] of KINDS) {
  Deno.test(`udp socket (${kind}): every datagram is its own copy, sized, with its own sender`, async () => {
    const got: { packet: Uint8Array; from: AddrPort }[] = [];
    let arrived!: () => void;
    const all = new Promise<void>((resolve) => arrived = resolve);
    const socket = await bind({ hostname: "127.0.0.1" }, (packet, from) => {
      got.push({ packet, from });
      if (got.length === 6) arrived();
    });
    const a = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const b = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const to = { transport: "udp" as const, hostname: "127.0.0.1", port: socket.address!.port };
      for (let i = 0; i < 6; i++) {
        const sender = i % 3 === 2 ? b : a;
        await sender.send(new Uint8Array(100 - i * 10).fill(i + 1), to);
      }
      await all;
      for (let i = 0; i < 6; i++) {
        const { packet, from } = got[i];
        assert.equal(packet.length, 100 - i * 10, `datagram ${i} keeps its size`);
        assert.ok(packet.every((byte) => byte === i + 1), `datagram ${i} keeps its bytes`);
        assert.ok(packet.buffer.byteLength < 1000, "a copy, not a view of the receive buffer");
        const sender = i % 3 === 2 ? b : a;
        assert.equal(from.port, (sender.addr as Deno.NetAddr).port, `datagram ${i}'s sender`);
      }
    } finally {
      a.close();
      b.close();
      await socket.close();
    }
  });

  Deno.test(`udp socket (${kind}): the datagrams of one task leave in order when it ends, in bounded batches`, async () => {
    const count = MAX_BATCHED_SENDS + 44;
    const got: number[] = [];
    let arrived!: () => void;
    const all = new Promise<void>((resolve) => arrived = resolve);
    const sink = await bind({ hostname: "127.0.0.1" }, (packet) => {
      got.push(new DataView(packet.buffer, packet.byteOffset).getUint16(0));
      if (got.length === count) arrived();
    });
    const socket = await bind({ hostname: "127.0.0.1" }, () => {});
    try {
      const to = sink.address!;
      // Deno sends a task's datagrams in call order once its event loop turns
      // (all our sends come from I/O callbacks and timers); ops issued before
      // the first turn were seen leaving in reverse. This test guards the order.
      await new Promise((resolve) => setTimeout(resolve, 0));
      const waiting: number[] = [];
      for (let i = 0; i < count; i++) {
        const datagram = new Uint8Array(2);
        new DataView(datagram.buffer).setUint16(0, i);
        socket.send(to, datagram);
        waiting.push(socket.batchedSends);
      }
      assert.ok(Math.max(...waiting) <= MAX_BATCHED_SENDS, "the batch never outgrows its bound");
      assert.equal(waiting.at(-1), count - MAX_BATCHED_SENDS, "a full batch left at once");
      await Promise.resolve();
      assert.equal(socket.batchedSends, 0, "the rest left when the task ended");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => timer = setTimeout(resolve, 5_000));
      await Promise.race([all, late]);
      clearTimeout(timer);
      assert.deepEqual(got, Array.from({ length: count }, (_, i) => i), "in order, none lost");
      assert.equal(socket.sendErrors, 0);
    } finally {
      await socket.close();
      await sink.close();
    }
  });
}

Deno.test("udp socket: closing drops what waits and later sends only count as errors", async () => {
  const socket = UdpSocket.bind({ hostname: "127.0.0.1" }, () => {});
  const to = socket.address!;
  socket.send(to, new Uint8Array(1));
  await socket.close();
  assert.equal(socket.batchedSends, 0);
  socket.send(to, new Uint8Array(1));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(socket.sendErrors, 1);
});

Deno.test("udp socket (worker): closing drops what waits, and later sends go nowhere", async () => {
  let received = 0;
  const socket = await UdpThreadSocket.bind({ hostname: "127.0.0.1" }, () => received++);
  socket.send(socket.address!, new Uint8Array(1));
  await socket.close();
  assert.equal(socket.batchedSends, 0);
  socket.send(socket.address!, new Uint8Array(1));
  assert.equal(socket.batchedSends, 0, "a closed socket holds nothing");
  assert.equal(socket.sendErrors, 1, "the send after close counts as an error");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(received, 0, "the datagram waiting at close never left");
});

Deno.test("udp socket (worker): a bind that fails rejects with the runtime's reason", async () => {
  const taken = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    await assert.rejects(
      () => UdpThreadSocket.bind({ hostname: "127.0.0.1", port }, () => {}),
      (error: Error) => /in use/i.test(error.message),
    );
  } finally {
    taken.close();
  }
});

Deno.test("udp socket (worker): a send the system refuses is counted, and its batch released", async () => {
  const socket = await UdpThreadSocket.bind({ hostname: "127.0.0.1" }, () => {});
  try {
    // An IPv4 socket cannot send to an IPv6 address.
    socket.send(AddrPort.parse("[::1]:9"), new Uint8Array(10));
    const deadline = Date.now() + 5_000;
    while ((socket.sendErrors === 0 || socket.sendQueueBytes > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(socket.sendErrors, 1);
    assert.equal(socket.sendQueueBytes, 0);
  } finally {
    await socket.close();
  }
});
