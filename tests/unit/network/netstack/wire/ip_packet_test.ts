import assert from "node:assert/strict";
import { parseIPAddress } from "../../../../../network/netaddr/ip_address.ts";
import { ipPacketAddress } from "../../../../../network/netstack/wire/ip_packet.ts";

const ip = (text: string) => parseIPAddress(text)!;

Deno.test("ipPacketAddress: IPv4 and IPv6 source and destination, short packets", () => {
  const v4 = new Uint8Array(20);
  v4[0] = 0x45;
  v4.set(ip("1.2.3.4"), 12);
  v4.set(ip("5.6.7.8"), 16);
  assert.deepEqual(ipPacketAddress(v4, "source"), ip("1.2.3.4"));
  assert.deepEqual(ipPacketAddress(v4, "destination"), ip("5.6.7.8"));
  const v6 = new Uint8Array(40);
  v6[0] = 0x60;
  v6.set(ip("::1"), 24);
  assert.deepEqual(ipPacketAddress(v6, "destination"), ip("::1"));
  assert.equal(ipPacketAddress(v4.subarray(0, 19), "source"), undefined);
  assert.equal(ipPacketAddress(new Uint8Array(40), "source"), undefined, "version 0");
});
