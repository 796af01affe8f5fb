/**
 * TSMP "rejected" messages (data-plane reference §5), both ways. tailscaled
 * answers a TCP SYN its packet filter drops with one (IPv4 only, reason
 * `'A'` for the ACL, `'S'` for shields-up), sent from the rejected flow's
 * destination to its source, and so does our pipeline
 * ({@link buildConnectReject}). Received, the observer fails our matching
 * connect at once with `ConnectionForbiddenError`, so a dial the peer's ACL
 * forbids does not wait out the SYN retries as a timeout.
 *
 * The packet's source was checked against the sending peer's allowed IPs by
 * WireGuard, so a peer can only reject connects to its own addresses; and
 * only a connect still in SYN-SENT is failed, never an open connection.
 *
 * @module
 */
import { AddrPort } from "../netaddr/addr_port.ts";
import { IPProtocol } from "../netaddr/ip_protocol.ts";
import type { NetStack } from "../netstack/netstack.ts";
import { parseIPPacket } from "../netstack/wire/ip_packet.ts";
import {
  emitTSMPPacket,
  parseTSMPMessage,
  tsmpMessageLength,
  type TSMPRejected,
  TSMPRejectReason,
} from "../netstack/wire/tsmp.ts";
import { TCPFlags } from "../netstack/wire/tcp.ts";
import type { LocalHandler } from "./packet_pipeline.ts";

/** The reject reasons in words, completing "forbidden …". */
const REASONS: Readonly<Record<number, string>> = {
  [TSMPRejectReason.ACL]: "by the peer's ACL",
  [TSMPRejectReason.ShieldsUp]: "by the peer (shields up)",
  [TSMPRejectReason.HostFirewall]: "by the peer's host firewall",
  [TSMPRejectReason.IPForwarding]: "by the relaying node (IP forwarding off)",
  [TSMPRejectReason.UnknownAppConnectorTransitIP]: "by the peer (unknown transit IP)",
};

/** "forbidden …" for a reason byte. */
export function rejectReasonText(reason: number): string {
  return REASONS[reason] ?? `by the peer (reason 0x${reason.toString(16).padStart(2, "0")})`;
}

/**
 * A TSMP observer that hands TCP rejections to `stack`; it takes every
 * well-formed rejection (whether a connect matched or not) and calls
 * `onReject` with whether one did.
 *
 * @example
 * ```ts
 * pipeline.addTSMPObserver(connectRejectObserver(engine.netstack));
 * ```
 */
export function connectRejectObserver(
  stack: NetStack,
  onReject?: (matched: boolean) => void,
): LocalHandler {
  return (packet) => {
    let ip;
    let message;
    try {
      ip = parseIPPacket(packet);
      if (ip.protocol !== IPProtocol.TSMP || ip.isFragment) return false;
      message = parseTSMPMessage(ip.payload);
    } catch {
      return false;
    }
    if (message.kind !== "rejected") return false;
    let matched = false;
    if (message.protocol === IPProtocol.TCP) {
      matched = stack.rejectConnect({
        local: new AddrPort(ip.dst, message.srcPort),
        remote: new AddrPort(ip.src, message.dstPort),
        why: rejectReasonText(message.reason),
      });
    }
    onReject?.(matched);
    return true;
  };
}

/**
 * The TSMP rejection tailscaled sends for an inbound packet its ACL dropped
 * (`net/tstun/wrap.go`): only for an IPv4 TCP segment with SYN set, from the
 * packet's destination to its source, reason `'A'`; undefined for anything
 * else (no TCP RST is sent either, as tailscaled sends none).
 *
 * @example
 * ```ts
 * const reject = buildConnectReject(droppedPacket);
 * if (reject) sendToPeer(reject, from);
 * ```
 */
export function buildConnectReject(packet: Uint8Array): Uint8Array | undefined {
  if (packet.length < 20 || packet[0] >> 4 !== 4 || packet[9] !== IPProtocol.TCP) {
    return undefined;
  }
  let ip;
  try {
    ip = parseIPPacket(packet);
  } catch {
    return undefined;
  }
  const tcp = ip.payload;
  if (ip.isFragment || tcp.length < 14 || (tcp[13] & TCPFlags.SYN) === 0) return undefined;
  const rejected: TSMPRejected = {
    kind: "rejected",
    protocol: IPProtocol.TCP,
    reason: TSMPRejectReason.ACL,
    srcPort: (tcp[0] << 8) | tcp[1],
    dstPort: (tcp[2] << 8) | tcp[3],
    maybeBroken: false,
  };
  const out = new Uint8Array(20 + tsmpMessageLength(rejected));
  emitTSMPPacket(rejected, { src: ip.dst, dst: ip.src }, out);
  return out;
}
