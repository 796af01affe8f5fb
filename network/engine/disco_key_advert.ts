/**
 * TSMP disco-key advertisements (data-plane reference §5, `'a'`): a peer
 * tells us its disco key inside WireGuard, so a key control has not passed
 * on yet (or passed on wrong) is learned at once; and we tell each peer ours
 * right after every WireGuard handshake with it, as tailscaled sends its
 * advertisement as the session's priority message. tailscaled v1.102 takes
 * ours (`controlclient` updates its copy of our node); it sends its own
 * only when control sets a knob Headscale does not.
 *
 * @module
 */
import { DiscoPublicKey } from "../crypto/keys.ts";
import type { DataPlanePeer } from "../magicsock/data_plane_netmap.ts";
import { IPProtocol } from "../netaddr/ip_protocol.ts";
import { parseIPPacket } from "../netstack/wire/ip_packet.ts";
import { emitTSMPPacket, parseTSMPMessage, tsmpMessageLength } from "../netstack/wire/tsmp.ts";

/**
 * Our advertisement to `peer`: from our address of the family of the
 * peer's first address, to that address; undefined when we have no address
 * of that family.
 */
export function buildDiscoKeyAdvert(
  ours: DiscoPublicKey,
  peer: DataPlanePeer,
  selfIPs: readonly Uint8Array[],
): Uint8Array | undefined {
  const dst = peer.allowedIPs.find((p) => p.isSingleIP)?.ip;
  if (!dst) return undefined;
  const src = selfIPs.find((ip) => ip.length === dst.length);
  if (!src) return undefined;
  const message = { kind: "disco-key" as const, discoKey: ours.bytes };
  const packet = new Uint8Array((src.length === 4 ? 20 : 40) + tsmpMessageLength(message));
  emitTSMPPacket(message, { src, dst }, packet);
  return packet;
}

/** The disco key `packet` advertises, when it is a well-formed TSMP advertisement. */
export function advertisedDiscoKey(packet: Uint8Array): DiscoPublicKey | undefined {
  try {
    const ip = parseIPPacket(packet);
    if (ip.protocol !== IPProtocol.TSMP || ip.isFragment) return undefined;
    const message = parseTSMPMessage(ip.payload);
    return message.kind === "disco-key" ? new DiscoPublicKey(message.discoKey) : undefined;
  } catch {
    return undefined;
  }
}
