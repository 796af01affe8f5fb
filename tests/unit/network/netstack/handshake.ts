/**
 * Handshakes between a {@link RawPeer} and its stack, for the TCP tests.
 */
import assert from "node:assert/strict";
import { TCPFlags, type TCPOptions } from "../../../../network/netstack/wire/tcp.ts";
import { TcpState } from "../../../../network/netstack/tcp/tcp_state.ts";
import type { TcpConn } from "../../../../network/netstack/socket/tcp_conn.ts";
import type { RawPeer } from "./raw_peer.ts";
import { settle } from "./virtual_time.ts";

const { SYN, ACK } = TCPFlags;

/** UTF-8 bytes of `s`. */
export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The states of the stack's connections. */
export function states(t: RawPeer): string[] {
  return t.stack.tcpConnections().map((c) => c.state);
}

/** LISTEN → SYN-RECEIVED → ESTABLISHED; returns the accepted connection and the ISS. */
export async function passiveOpen(
  t: RawPeer,
  irs = 1000,
  options: TCPOptions = { mss: 1460 },
): Promise<{ conn: TcpConn; iss: number }> {
  const listener = t.stack.listenTCP(t.stackPort);
  const accepted = listener.accept();
  t.send({ seq: irs, flags: SYN, options });
  const synAck = t.next("SYN-ACK");
  assert.equal(synAck.flags, SYN | ACK);
  assert.equal(synAck.ack, irs + 1);
  assert.deepEqual(states(t), [TcpState.SynReceived]);
  const ts = synAck.options.timestamps;
  t.send({
    seq: irs + 1,
    ack: synAck.seq + 1,
    flags: ACK,
    options: ts
      ? { timestamps: { value: (options.timestamps?.value ?? 0) + 1, echoReply: ts.value } }
      : {},
  });
  await settle();
  const conn = await accepted;
  assert.equal(conn.state, TcpState.Established);
  t.none();
  return { conn, iss: synAck.seq };
}

/** SYN-SENT → ESTABLISHED against the peer; returns the connection and the ISS. */
export async function activeOpen(
  t: RawPeer,
  irs = 5000,
  options: TCPOptions = { mss: 1460 },
): Promise<{ conn: TcpConn; iss: number }> {
  const connecting = t.stack.connectTCP(t.peerAddr);
  const syn = t.next("SYN");
  assert.equal(syn.flags, SYN);
  assert.equal(syn.options.mss, t.ours.length === 4 ? 1240 : 1220);
  assert.deepEqual(states(t), [TcpState.SynSent]);
  t.stackPort = syn.srcPort;
  t.send({ seq: irs, ack: syn.seq + 1, flags: SYN | ACK, options });
  const ack = t.next("ACK of the SYN-ACK");
  assert.equal(ack.flags, ACK);
  assert.equal(ack.seq, syn.seq + 1);
  assert.equal(ack.ack, irs + 1);
  await settle();
  const conn = await connecting;
  assert.equal(conn.state, TcpState.Established);
  return { conn, iss: syn.seq };
}
