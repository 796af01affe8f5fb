/**
 * What one `Netmap.apply` changed ({@link NetmapChange}), and how the
 * change reads in a log line.
 *
 * @module
 */
import type { ClientVersion, ControlDialPlan, Debug, NodeID, PingRequest } from "./map_response.ts";

/** What one `Netmap.apply` changed, and the one-shot directives it carried. */
export interface NetmapChange {
  /** The message was a keep-alive (only the directives below may be set). */
  keepAlive: boolean;
  /** The message was the stream's full snapshot. */
  fullMap: boolean;
  /** The self node differs. */
  selfChanged: boolean;
  /** Peers that appeared, sorted. */
  peersAdded: NodeID[];
  /** Peers that went away, sorted. */
  peersRemoved: NodeID[];
  /** Peers still present whose node differs, sorted. */
  peersUpdated: NodeID[];
  /** The merged DERP map differs. */
  derpMapChanged: boolean;
  /** The flattened packet filter differs. */
  filterChanged: boolean;
  /** The DNS configuration differs. */
  dnsChanged: boolean;
  /** The tailnet domain differs. */
  domainChanged: boolean;
  /** A user profile was added or changed. */
  userProfilesChanged: boolean;
  /** The SSH policy differs. */
  sshPolicyChanged: boolean;
  /** Health (`Health` or `DisplayMessages`) differs. */
  healthChanged: boolean;
  /** A ping to answer (the caller dedupes by URL across streams), else null. */
  pingRequest: PingRequest | null;
  /** A URL to open, when it differs from the last one on this stream; else null. */
  popBrowserURL: string | null;
  /** The server's clock, when sent; else null. */
  controlTime: string | null;
  /** Debug directives, when sent; else null. */
  debug: Debug | null;
  /** A new control dial plan, when sent; else null. */
  controlDialPlan: ControlDialPlan | null;
  /** Update availability, when sent; else null. */
  clientVersion: ClientVersion | null;
}

/** Whether a change has anything worth logging (directives aside). */
export function netmapChanged(change: NetmapChange): boolean {
  return change.selfChanged || change.peersAdded.length > 0 || change.peersRemoved.length > 0 ||
    change.peersUpdated.length > 0 || change.derpMapChanged || change.filterChanged ||
    change.dnsChanged || change.domainChanged || change.userProfilesChanged ||
    change.sshPolicyChanged || change.healthChanged;
}

/**
 * A one-line description of a change for logs, e.g.
 * `"full map: self, +3 peers, DERP map, filter"`; "" when nothing changed.
 */
export function describeNetmapChange(change: NetmapChange): string {
  const parts: string[] = [];
  if (change.selfChanged) parts.push("self");
  const count = (n: number, sign: string, what: string) => {
    if (n > 0) parts.push(`${sign}${n} ${what}${n === 1 ? "" : "s"}`);
  };
  count(change.peersAdded.length, "+", "peer");
  count(change.peersRemoved.length, "-", "peer");
  count(change.peersUpdated.length, "~", "peer");
  if (change.derpMapChanged) parts.push("DERP map");
  if (change.filterChanged) parts.push("filter");
  if (change.dnsChanged) parts.push("DNS");
  if (change.domainChanged) parts.push("domain");
  if (change.userProfilesChanged) parts.push("user profiles");
  if (change.sshPolicyChanged) parts.push("SSH policy");
  if (change.healthChanged) parts.push("health");
  if (parts.length === 0) return change.fullMap ? "full map: no changes" : "";
  return (change.fullMap ? "full map: " : "") + parts.join(", ");
}

/** A change that changed nothing. */
export function emptyNetmapChange(): NetmapChange {
  return {
    keepAlive: false,
    fullMap: false,
    selfChanged: false,
    peersAdded: [],
    peersRemoved: [],
    peersUpdated: [],
    derpMapChanged: false,
    filterChanged: false,
    dnsChanged: false,
    domainChanged: false,
    userProfilesChanged: false,
    sshPolicyChanged: false,
    healthChanged: false,
    pingRequest: null,
    popBrowserURL: null,
    controlTime: null,
    debug: null,
    controlDialPlan: null,
    clientVersion: null,
  };
}
