/**
 * TSMP rejections as tailscaled writes them (`net/tstun/wrap.go`,
 * `net/packet/tsmp.go`): only for an IPv4 TCP SYN, addressed from the
 * dropped packet's destination to its source, reason 'A', the flow's ports.
 */
import assert from "node:assert/strict";
import {
  buildConnectReject,
  rejectReasonText,
} from "../../../../network/engine/connect_rejects.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { IPProtocol } from "../../../../network/netaddr/ip_protocol.ts";
import { buildTcpPacket } from "../../../../network/netstack/ip_output.ts";
import { parseIPPacket } from "../../../../network/netstack/wire/ip_packet.ts";
import { TCPFlags } from "../../../../network/netstack/wire/tcp.ts";
import { parseTSMPMessage } from "../../../../network/netstack/wire/tsmp.ts";

const peer = parseIPAddress("100.64.0.9")!;
const us = parseIPAddress("100.64.0.1")!;

function segment(src: Uint8Array, dst: Uint8Array, flags: number): Uint8Array {
  return buildTcpPacket(
    src,
    dst,
    { srcPort: 40123, dstPort: 5432, seq: 1, ack: 0, flags, window: 1000 },
    0,
    undefined,
    1,
  );
}

Deno.test("connect rejects: an ACL-dropped IPv4 SYN is answered as tailscaled answers it", () => {
  const reject = buildConnectReject(segment(peer, us, TCPFlags.SYN))!;
  assert.ok(reject);
  const ip = parseIPPacket(reject);
  assert.equal(ip.version, 4);
  assert.equal(ip.protocol, IPProtocol.TSMP);
  assert.deepEqual([...ip.src], [...us]);
  assert.deepEqual([...ip.dst], [...peer]);
  assert.equal(ip.ttl, 64);
  // '!' proto reason srcPort dstPort: the flow as its sender saw it.
  assert.deepEqual([...ip.payload], [0x21, 6, 0x41, 0x9c, 0xbb, 0x15, 0x38]);
  assert.deepEqual(parseTSMPMessage(ip.payload), {
    kind: "rejected",
    protocol: 6,
    reason: 0x41,
    srcPort: 40123,
    dstPort: 5432,
    maybeBroken: false,
  });
});

Deno.test("connect rejects: nothing for an ACK, UDP or IPv6", () => {
  assert.equal(buildConnectReject(segment(peer, us, TCPFlags.ACK)), undefined);
  const v6a = parseIPAddress("fd7a:115c:a1e0::9")!;
  const v6b = parseIPAddress("fd7a:115c:a1e0::1")!;
  assert.equal(buildConnectReject(segment(v6a, v6b, TCPFlags.SYN)), undefined);
  const udp = segment(peer, us, TCPFlags.SYN);
  udp[9] = IPProtocol.UDP;
  assert.equal(buildConnectReject(udp), undefined);
  assert.equal(buildConnectReject(new Uint8Array(3)), undefined);
});

Deno.test("connect rejects: reasons in words", () => {
  assert.equal(rejectReasonText(0x41), "by the peer's ACL");
  assert.equal(rejectReasonText(0x53), "by the peer (shields up)");
  assert.equal(rejectReasonText(0x7a), "by the peer (reason 0x7a)");
});
