/**
 * The filter's minimal header decode: fields of well-formed IPv4/IPv6
 * TCP/UDP/ICMP/SCTP/TSMP packets, fragments, and the truncations and
 * inconsistencies that make a packet "unknown" as in Go's packet.Parsed.
 */

import assert from "node:assert/strict";
import { FilterPacket, TCPFlag } from "../../../../network/filter/filter_packet.ts";
import { IPProtocol } from "../../../../network/netaddr/ip_protocol.ts";
import { formatIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { buildPacket, type TestPacket } from "./test_packets.ts";

const A4 = "100.64.0.2", B4 = "100.64.0.1";
const A6 = "fd7a:115c:a1e0::2", B6 = "fd7a:115c:a1e0::1";

function decode(p: TestPacket | Uint8Array): FilterPacket {
  return new FilterPacket().decode(p instanceof Uint8Array ? p : buildPacket(p));
}

Deno.test("filter packet: TCP, UDP, SCTP ports and addresses over IPv4 and IPv6", () => {
  for (const [src, dst, version] of [[A4, B4, 4], [A6, B6, 6]] as const) {
    for (const proto of [IPProtocol.TCP, IPProtocol.UDP, IPProtocol.SCTP]) {
      const p = decode({ src, dst, proto, srcPort: 1234, dstPort: 22, tcpFlags: TCPFlag.SYN });
      assert.equal(p.ipVersion, version);
      assert.equal(p.protocol, proto);
      assert.equal(formatIPAddress(p.src()), src);
      assert.equal(formatIPAddress(p.dst()), dst);
      assert.deepEqual([p.srcPort, p.dstPort], [1234, 22]);
      assert.equal(p.isTCPSyn, proto === IPProtocol.TCP);
    }
  }
});

Deno.test("filter packet: SYN means SYN without ACK", () => {
  const flags: [number, boolean][] = [
    [TCPFlag.SYN, true],
    [TCPFlag.SYN | TCPFlag.ACK, false],
    [TCPFlag.ACK, false],
    [TCPFlag.SYN | TCPFlag.FIN, true],
    [TCPFlag.RST, false],
    [0, false],
  ];
  for (const [tcpFlags, syn] of flags) {
    assert.equal(
      decode({ src: A4, dst: B4, proto: IPProtocol.TCP, tcpFlags }).isTCPSyn,
      syn,
      `flags ${tcpFlags}`,
    );
  }
});

Deno.test("filter packet: ICMP type and code need the full 8-byte header", () => {
  const p = decode({ src: A4, dst: B4, proto: IPProtocol.ICMPv4, icmpType: 0, icmpCode: 0 });
  assert.deepEqual([p.protocol, p.icmpType, p.icmpCode, p.srcPort, p.dstPort], [1, 0, 0, 0, 0]);
  const p6 = decode({ src: A6, dst: B6, proto: IPProtocol.ICMPv6, icmpType: 129 });
  assert.deepEqual([p6.protocol, p6.icmpType], [58, 129]);
  // A 4-byte ICMP header decodes (the protocol is known) but has no type for the filter.
  const short = decode({ src: A4, dst: B4, proto: IPProtocol.ICMPv4, transportLength: 4 });
  assert.deepEqual([short.protocol, short.icmpType, short.icmpCode], [1, -1, -1]);
  // Shorter still: unknown.
  assert.equal(
    decode({ src: A4, dst: B4, proto: IPProtocol.ICMPv4, transportLength: 3 }).protocol,
    IPProtocol.Unknown,
  );
  assert.equal(decode({ src: A4, dst: B4, proto: IPProtocol.TCP }).icmpType, -1);
});

Deno.test("filter packet: truncated transport headers make the protocol unknown", () => {
  const table: [number, number][] = [
    [IPProtocol.TCP, 19],
    [IPProtocol.UDP, 7],
    [IPProtocol.SCTP, 11],
    [IPProtocol.TSMP, 6],
    [IPProtocol.IGMP, 7],
  ];
  for (const [proto, length] of table) {
    assert.equal(
      decode({ src: A4, dst: B4, proto, transportLength: length }).protocol,
      IPProtocol.Unknown,
      `v4 ${proto}`,
    );
    assert.notEqual(
      decode({ src: A4, dst: B4, proto, transportLength: length + 1 }).protocol,
      IPProtocol.Unknown,
      `v4 ${proto} +1`,
    );
  }
  for (const [proto, length] of table.slice(0, 4)) {
    assert.equal(
      decode({ src: A6, dst: B6, proto, transportLength: length }).protocol,
      IPProtocol.Unknown,
      `v6 ${proto}`,
    );
  }
  // Other protocols need no transport header at all.
  const gre = decode({ src: A4, dst: B4, proto: 47, transportLength: 0 });
  assert.deepEqual([gre.protocol, gre.srcPort, gre.dstPort], [47, 0, 0]);
});

Deno.test("filter packet: inconsistent IP headers are unknown or not IP", () => {
  const good = buildPacket({ src: A4, dst: B4, proto: IPProtocol.UDP, dstPort: 53 });
  // Total length larger than the buffer.
  const long = good.slice();
  long[3] += 1;
  assert.equal(decode(long).protocol, IPProtocol.Unknown);
  // A shorter total length than the buffer is fine (trailing bytes ignored).
  const padded = new Uint8Array(good.length + 5);
  padded.set(good);
  assert.equal(decode(padded).protocol, IPProtocol.UDP);
  // IHL longer than the total length, and IHL below 5.
  const ihl = good.slice();
  ihl[0] = 0x4f;
  assert.equal(decode(ihl).protocol, IPProtocol.Unknown);
  const tiny = good.slice();
  tiny[0] = 0x44;
  assert.equal(decode(tiny).protocol, IPProtocol.Unknown);
  // IPv6 payload length beyond the buffer.
  const v6 = buildPacket({ src: A6, dst: B6, proto: IPProtocol.UDP });
  v6[5] += 1;
  assert.equal(decode(v6).protocol, IPProtocol.Unknown);
  // Not IPv4 or IPv6.
  for (const first of [0x00, 0x50, 0x70, 0xf0]) {
    const p = decode(Uint8Array.of(first, ...new Uint8Array(39)));
    assert.deepEqual([p.ipVersion, p.protocol], [0, IPProtocol.Unknown]);
  }
  // Too short for its own header.
  assert.deepEqual(
    [decode(good.subarray(0, 19)).ipVersion, decode(good.subarray(0, 19)).protocol],
    [0, 0],
  );
  assert.equal(decode(v6.subarray(0, 39)).ipVersion, 0);
  assert.equal(decode(new Uint8Array(0)).ipVersion, 0);
  // The raw protocol number 255 is never taken at face value.
  assert.equal(decode({ src: A4, dst: B4, proto: 255 }).protocol, IPProtocol.Unknown);
  assert.equal(decode({ src: A6, dst: B6, proto: 255 }).protocol, IPProtocol.Unknown);
});

Deno.test("filter packet: IPv4 fragments", () => {
  // First fragment (offset 0, more fragments): decoded normally.
  assert.equal(
    decode({ src: A4, dst: B4, proto: IPProtocol.UDP, fragment: 0x2000 }).protocol,
    IPProtocol.UDP,
  );
  // A later fragment far enough in: "fragment".
  assert.equal(
    decode({ src: A4, dst: B4, proto: IPProtocol.UDP, fragment: 10 }).protocol,
    IPProtocol.Fragment,
  );
  assert.equal(
    decode({ src: A4, dst: B4, proto: IPProtocol.TCP, fragment: 0x2000 | 185 }).protocol,
    IPProtocol.Fragment,
  );
  // Too close to the start (could overwrite a judged header): unknown.
  assert.equal(
    decode({ src: A4, dst: B4, proto: IPProtocol.UDP, fragment: 9 }).protocol,
    IPProtocol.Unknown,
  );
  assert.equal(
    decode({ src: A4, dst: B4, proto: IPProtocol.UDP, fragment: 1 }).protocol,
    IPProtocol.Unknown,
  );
  // TSMP is never fragmented.
  assert.equal(
    decode({ src: A4, dst: B4, proto: IPProtocol.TSMP, fragment: 0x2000 }).protocol,
    IPProtocol.Unknown,
  );
  assert.equal(decode({ src: A4, dst: B4, proto: IPProtocol.TSMP }).protocol, IPProtocol.TSMP);
});

Deno.test("filter packet: IPv6 fragment headers", () => {
  // Offset field is in 8-byte units in the top 13 bits.
  const first = decode({ src: A6, dst: B6, proto: IPProtocol.TCP, dstPort: 443, fragment: 0x0001 });
  assert.deepEqual([first.protocol, first.dstPort], [IPProtocol.TCP, 443]);
  assert.equal(first.transportOffset, 48);
  assert.equal(
    decode({ src: A6, dst: B6, proto: IPProtocol.UDP, fragment: 10 << 3 }).protocol,
    IPProtocol.Fragment,
  );
  assert.equal(
    decode({ src: A6, dst: B6, proto: IPProtocol.UDP, fragment: 9 << 3 }).protocol,
    IPProtocol.Unknown,
  );
  // A fragment header cut short.
  const cut = buildPacket({
    src: A6,
    dst: B6,
    proto: IPProtocol.UDP,
    fragment: 0,
    transportLength: 0,
  });
  const truncated = cut.subarray(0, 44);
  truncated[5] = 4;
  assert.equal(decode(truncated).protocol, IPProtocol.Unknown);
});

Deno.test("filter packet: one instance decodes packet after packet", () => {
  const p = new FilterPacket();
  p.decode(
    buildPacket({
      src: A6,
      dst: B6,
      proto: IPProtocol.TCP,
      srcPort: 1,
      dstPort: 2,
      tcpFlags: TCPFlag.SYN,
    }),
  );
  p.decode(buildPacket({ src: A4, dst: B4, proto: IPProtocol.ICMPv4 }));
  assert.deepEqual([p.ipVersion, p.protocol, p.srcPort, p.dstPort, p.tcpFlags, p.addressLength], [
    4,
    1,
    0,
    0,
    0,
    4,
  ]);
  p.decode(new Uint8Array(0));
  assert.deepEqual([p.ipVersion, p.protocol, p.addressLength], [0, 0, 0]);
});

Deno.test("filter packet: random bytes never throw", () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const p = new FilterPacket();
  for (let i = 0; i < 20000; i++) {
    const bytes = Uint8Array.from(
      { length: Math.floor(rand() * 90) },
      () => Math.floor(rand() * 256),
    );
    if (bytes.length > 0 && rand() < 0.8) bytes[0] = rand() < 0.5 ? 0x45 : 0x60;
    if (bytes.length > 3 && rand() < 0.5) {
      bytes[2] = 0;
      bytes[3] = Math.min(bytes.length, bytes[3]);
    }
    p.decode(bytes);
    assert.ok([0, 4, 6].includes(p.ipVersion));
  }
});
