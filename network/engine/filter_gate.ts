/**
 * The ACL on every packet (data-plane reference §6): the netmap's packet
 * filter, rebuilt when the rules or our addresses change and in force from
 * the next packet, as the pipeline's first inbound hook and its outbound
 * hook. Inbound it admits what a rule allows and replies to our own traffic
 * (outbound UDP/SCTP flows are remembered, and the memory survives filter
 * updates); everything else is dropped, counted by the filter's reason.
 * Before the first netmap nothing new comes in (tailscaled's `NewAllowNone`);
 * a netmap without rules admits replies only.
 *
 * @module
 */
import type { FilterRule } from "../control/map_response.ts";
import { PacketFilter } from "../filter/packet_filter.ts";
import type { DataPlaneNetmap } from "../magicsock/data_plane_netmap.ts";
import type { PeerMap } from "../magicsock/peer_map.ts";
import type { InboundHook, OutboundHook } from "./packet_pipeline.ts";

/** Prefix of the pipeline's drop reasons that come from the filter: `acl:<reason>`. */
export const ACL_DROP_PREFIX = "acl:";

/**
 * The packet filter as pipeline hooks.
 *
 * @example
 * ```ts
 * const gate = new FilterGate(peers);
 * pipeline.addInboundHook(gate.inbound);
 * pipeline.addOutboundHook(gate.outbound);
 * gate.setNetmap(netmap);
 * ```
 */
export class FilterGate {
  readonly #peers: PeerMap;
  #filter = PacketFilter.allowNone();
  #rules: readonly FilterRule[] | null | undefined = undefined;
  #local = "";
  /** Rule problems of the current filter (entries skipped or the list voided). */
  errors: readonly string[] = [];

  /** A gate that admits nothing new until the first netmap; `peers` answers `cap:` sources. */
  constructor(peers: PeerMap) {
    this.#peers = peers;
  }

  /** The filter in force. */
  get filter(): PacketFilter {
    return this.#filter;
  }

  /** Rebuilds the filter when the netmap's rules or our addresses changed. */
  setNetmap(netmap: DataPlaneNetmap): void {
    const local = netmap.selfAddresses.map(String).join(",");
    if (netmap.packetFilter === this.#rules && local === this.#local) return;
    this.#rules = netmap.packetFilter;
    this.#local = local;
    const peers = this.#peers;
    const { filter, errors } = PacketFilter.fromRules(netmap.packetFilter, {
      localAddresses: netmap.selfAddresses.map(String),
      srcHasCapability: (src, capability) =>
        peers.byAddress(src)?.capabilities?.includes(capability) ?? false,
      shareFlowsWith: this.#filter,
    });
    this.#filter = filter;
    this.errors = errors;
  }

  /** The inbound hook: null to admit, else `acl:<reason>`. */
  readonly inbound: InboundHook = (packet) => {
    const verdict = this.#filter.runIn(packet);
    return verdict.accept ? null : ACL_DROP_PREFIX + verdict.reason;
  };

  /**
   * The outbound hook: remembers our UDP/SCTP flows so their replies pass;
   * drops only what tailscaled's `RunOut` drops (malformed, multicast).
   */
  readonly outbound: OutboundHook = (packet) => {
    const verdict = this.#filter.runOut(packet);
    return verdict.accept ? null : ACL_DROP_PREFIX + verdict.reason;
  };
}
