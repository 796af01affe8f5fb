/**
 * The data plane's drops by reason, as `status` shows them: the pipeline's
 * hooks' reasons (`acl:<why>`, outbound ones as `out:<why>`) and the named
 * counters of WireGuard and magicsock, only those that are not zero.
 *
 * @module
 */

/** The counters {@link dropsByReason} reads (an `EngineStats` has them). */
export interface DropCounters {
  /** Inbound drops by a hook's reason. */
  inboundDropped: Record<string, number>;
  /** Outbound drops by a hook's reason. */
  outboundDropped: Record<string, number>;
  /** Decrypted packets whose source the sender may not use. */
  droppedSourceNotAllowed: number;
  /** Datagrams WireGuard refused. */
  droppedByDevice: number;
  /** WireGuard initiations refused under load with a cookie reply. */
  cookieRepliesSent: number;
  /** Datagrams from keys no netmap peer holds. */
  droppedUnknownPeer: number;
  /** Packets no peer routes. */
  droppedNoRoute: number;
}

/**
 * Drops by reason, only non-zero ones.
 *
 * @example
 * ```ts
 * dropsByReason(engine.stats); // { "acl:no-rule-matched": 3 }
 * ```
 */
export function dropsByReason(stats: DropCounters): Record<string, number> {
  const out: Record<string, number> = { ...stats.inboundDropped };
  for (const [reason, count] of Object.entries(stats.outboundDropped)) {
    out[`out:${reason}`] = count;
  }
  const named: [string, number][] = [
    ["source-not-allowed", stats.droppedSourceNotAllowed],
    ["wireguard-invalid", stats.droppedByDevice],
    ["wireguard-under-load", stats.cookieRepliesSent],
    ["unknown-peer", stats.droppedUnknownPeer],
    ["no-route", stats.droppedNoRoute],
  ];
  for (const [reason, count] of named) if (count > 0) out[reason] = count;
  return out;
}
