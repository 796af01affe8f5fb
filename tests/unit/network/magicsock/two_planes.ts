/**
 * What the MagicSock unit tests share: identities, the netmap each side sees,
 * a one-region DERP map for the in-process relay, and an ICMP echo request.
 */
import { DiscoPrivateKey, NodePrivateKey } from "../../../../network/crypto/keys.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import type { DataPlaneNetmap } from "../../../../network/magicsock/mod.ts";
import { IPPrefix } from "../../../../network/netaddr/ip_prefix.ts";

/** The DERP region both data planes call home. */
export const REGION = 999;

/** A DERP map with one region, served by the in-process DERP at `url`. */
export function derpMap(url: string) {
  const u = new URL(url);
  return {
    Regions: {
      [REGION]: {
        RegionID: REGION,
        RegionCode: "test",
        RegionName: "test",
        Nodes: [{ Name: "t", RegionID: REGION, HostName: u.hostname, DERPPort: Number(u.port) }],
      },
    },
  };
}

/** A filter rule admitting everything, as Headscale's default policy sends it. */
export const ALLOW_ALL = [{
  SrcIPs: ["*"],
  DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }],
}];

/** One data plane's identity in these tests. */
export interface Side {
  nodeKey: NodePrivateKey;
  discoKey: DiscoPrivateKey;
  ip: string;
  endpoints?: string[];
}

/** A fresh identity with mesh address `ip`. */
export function side(ip: string): Side {
  return { nodeKey: NodePrivateKey.generate(), discoKey: DiscoPrivateKey.generate(), ip };
}

/** The netmap `self` sees: `peers` homed on {@link REGION}. */
export function netmapFor(self: Side, peers: Side[], url: string): DataPlaneNetmap {
  return {
    selfAddresses: [IPPrefix.parse(`${self.ip}/32`)],
    peers: peers.map((p) => ({
      nodeKey: p.nodeKey.publicKey(),
      discoKey: p.discoKey.publicKey(),
      homeDERP: REGION,
      allowedIPs: [IPPrefix.parse(`${p.ip}/32`)],
      endpoints: p.endpoints ?? [],
    })),
    derpMap: derpMap(url),
    packetFilter: ALLOW_ALL,
  };
}

/** An IPv4 ICMP echo request with valid checksums. */
export function echoRequest(src: string, dst: string, seq: number): Uint8Array {
  const p = new Uint8Array(28);
  p[0] = 0x45;
  p[3] = 28;
  p[8] = 64;
  p[9] = 1;
  p.set(parseIPAddress(src)!, 12);
  p.set(parseIPAddress(dst)!, 16);
  p[20] = 8;
  p[27] = seq;
  const sum = (from: number, to: number) => {
    let s = 0;
    for (let i = from; i < to; i += 2) s += (p[i] << 8) | p[i + 1];
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return ~s & 0xffff;
  };
  const h = sum(0, 20);
  p[10] = h >> 8;
  p[11] = h & 0xff;
  const c = sum(20, 28);
  p[22] = c >> 8;
  p[23] = c & 0xff;
  return p;
}

/** Polls `probe` every 10 ms until it gives a value. */
export async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 5000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
