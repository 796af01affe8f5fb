/**
 * How `work`'s job loop reaches Redis and the services of `http` jobs: a host
 * that is a mesh peer (its name, hostname, MagicDNS name or mesh IP, or any
 * address in the mesh's own ranges) goes through the node's userspace TCP
 * stack (`network/mod.ts` `dial`); anything else through this machine's
 * network. The choice is made at each connection, from the netmap of the
 * moment, so a peer that joins later is reached over the mesh.
 *
 * An address in the mesh ranges (100.64.0.0/10, fd7a:115c:a1e0::/48) is never
 * dialled through this machine's network, even when no peer holds it: the
 * mesh dial then fails with the network's "no such peer" error rather than
 * leaving through another interface.
 *
 * @module
 */
import * as network from "../network/mod.ts";
import type { NodeStatus } from "../network/mod.ts";
import { IPPrefix, parseIPAddress } from "../network/netaddr/mod.ts";
import type { JobFetch, RedisDial } from "../worker/mod.ts";
import { fetchOverStream } from "../worker/jobs/stream_fetch.ts";

/** The two ways out: `direct` on this machine's network, `mesh` through the mesh. */
export interface JobLoopDials {
  /** This machine's network (default `dialTcp`). */
  direct: RedisDial;
  /** The mesh's TCP stack (default {@link meshDial}). */
  mesh: RedisDial;
}

/** Addresses that exist only on the mesh (Tailscale's CGNAT range and ULA prefix). */
const MESH_PREFIXES = [IPPrefix.parse("100.64.0.0/10"), IPPrefix.parse("fd7a:115c:a1e0::/48")];

/** `host` without the brackets of an IPv6 literal in a URL. */
function bare(host: string): string {
  return host.replace(/^\[(.*)\]$/, "$1");
}

/**
 * The peer (its hostname) a host name or address stands for in the netmap:
 * a mesh IP, a hostname, or a name whose first label is a hostname
 * (`peer-a.tailnet.example`); null when none.
 */
export function meshPeerNamed(status: NodeStatus | null, host: string): string | null {
  const wanted = bare(host).toLowerCase().replace(/\.$/, "");
  for (const peer of status?.peers ?? []) {
    const names = [peer.ip, peer.ipv6, peer.hostname.toLowerCase()];
    if (names.includes(wanted) || wanted.split(".")[0] === peer.hostname.toLowerCase()) {
      return peer.hostname;
    }
  }
  return null;
}

/** Whether `host` is reached through the mesh: a peer, or an address in the mesh ranges. */
export function isMeshHost(status: NodeStatus | null, host: string): boolean {
  if (meshPeerNamed(status, host) !== null) return true;
  const ip = parseIPAddress(bare(host));
  return ip !== null && MESH_PREFIXES.some((prefix) => prefix.contains(ip));
}

/**
 * The global node's TCP dial as a byte stream for the job loop (Nagle off:
 * Redis commands are small and answered one by one).
 *
 * @example
 * ```ts
 * const stream = await meshDial("redis-host", 6379);
 * ```
 */
export const meshDial: RedisDial = async (host, port, signal) => {
  const conn = await network.dial(bare(host), port, { signal, noDelay: true });
  const remote = conn.remoteAddr.hostname;
  return {
    route: `mesh ${remote.includes(":") ? `[${remote}]` : remote}:${conn.remoteAddr.port}`,
    readable: conn.readable,
    writable: conn.writable,
    close: () => conn.close(),
  };
};

/** A dial that takes the mesh for mesh hosts (as `isMesh` says) and `direct` for the rest. */
export function routedDial(dials: JobLoopDials, isMesh: (host: string) => boolean): RedisDial {
  return (host, port, signal) =>
    isMesh(host) ? dials.mesh(host, port, signal) : dials.direct(host, port, signal);
}

/**
 * The `http` jobs' fetch: a URL whose host is a mesh host goes over a mesh
 * TCP connection (`fetchOverStream`: HTTP/1.1, or HTTPS checked against the
 * default roots, or only against `caCerts` when given); any other URL
 * through `direct`.
 */
export function routedFetch(options: {
  mesh: RedisDial;
  isMesh: (host: string) => boolean;
  direct: JobFetch;
  caCerts?: readonly string[];
}): JobFetch {
  return (request) =>
    options.isMesh(new URL(request.url).hostname)
      ? fetchOverStream(request, options.mesh, { caCerts: options.caCerts })
      : options.direct(request);
}
