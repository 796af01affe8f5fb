/**
 * The direct-path UDP socket receives into one reused buffer: each datagram
 * handed on must be a copy of its own bytes at its own size (nothing later
 * overwrites it), and its sender's address is right when senders alternate.
 */
import assert from "node:assert/strict";
import { UdpSocket } from "../../../../network/magicsock/udp_socket.ts";
import type { AddrPort } from "../../../../network/netaddr/addr_port.ts";

Deno.test("udp socket: every datagram is its own copy, sized, with its own sender", async () => {
  const got: { packet: Uint8Array; from: AddrPort }[] = [];
  let arrived!: () => void;
  const all = new Promise<void>((resolve) => arrived = resolve);
  const socket = UdpSocket.bind({ hostname: "127.0.0.1" }, (packet, from) => {
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
