/**
 * The global-connection API over one {@link CitadelNode}: `connect`, `logout`,
 * `isGlobalConnected`, `getGlobalIPv4`, `status` and `peers`. Commands and
 * library users call this module; a program that wants several nodes uses
 * {@link CitadelNode} directly, one per state store.
 *
 * @example
 * ```ts
 * import { connect, getGlobalIPv4, isGlobalConnected } from "./mod.ts";
 * await connect("https://nexus.example.com", authKey, "/var/lib/citadel");
 * console.log(isGlobalConnected(), getGlobalIPv4());
 * ```
 *
 * @module
 */
import { FileStateStore } from "../state/file_store.ts";
import { CitadelNode } from "./node.ts";
import type {
  ConnectOptions,
  ConnectResult,
  DataPlaneConnectOptions,
  NodeStatus,
  PeerStatus,
  PingOptions,
  PingResult,
  WhoIs,
} from "./node_types.ts";
import { normalizeNexusURL } from "./nexus_url.ts";
import { DataPlaneNotStartedError, InvalidUDPBindError, NotLoggedInError } from "./node_errors.ts";
import { AddrPort } from "./netaddr/addr_port.ts";
import type { DERPMap } from "./control/map_response.ts";
import { parseNetmapSnapshot } from "./control/netmap_snapshot.ts";
import type { NetcheckReport } from "./netcheck/netcheck_report.ts";
import { StandaloneNetcheck } from "./netcheck/netcheck_sockets.ts";
import type { MagicSockUDPOptions } from "./magicsock/udp_socket.ts";
import type { ProxyConfig } from "./proxy/proxy_config.ts";
import type { ConnectOptions as DialOptions, ListenOptions } from "./netstack/netstack.ts";
import type { TcpConn } from "./netstack/socket/tcp_conn.ts";
import type { TcpListener } from "./netstack/socket/tcp_listener.ts";
import type { UdpSocket } from "./netstack/socket/udp_socket.ts";

export * from "./node_types.ts";
export type { DERPMap, DERPNode, DERPRegion } from "./control/map_response.ts";
export type { NetcheckReport } from "./netcheck/netcheck_report.ts";
export type {
  ConnectOptions as DialOptions,
  ListenOptions,
  TcpConnectionInfo,
} from "./netstack/netstack.ts";
export { TcpConn } from "./netstack/socket/tcp_conn.ts";
export { TcpListener } from "./netstack/socket/tcp_listener.ts";
export { UdpSocket } from "./netstack/socket/udp_socket.ts";
export * from "./node_errors.ts";
// What dial, listen and the sockets fail with (each extends the matching Deno.errors class).
export {
  AddressInUseError,
  AddressUnavailableError,
  ConnectionAbortedError,
  ConnectionForbiddenError,
  ConnectionRefusedError,
  ConnectionResetError,
  ConnectionTimedOutError,
  HostUnreachableError,
  SocketClosedError,
  StackLimitError,
  WriteClosedError,
} from "./netstack/errors.ts";
export { normalizeNexusURL, redactNexusURL } from "./nexus_url.ts";
// HTTP proxies: the library takes a ProxyConfig; `ProxyConfig.fromEnv` reads the usual variables.
export * from "./proxy/mod.ts";
export { CitadelNode, type CitadelNodeOptions, type NodeDataPlaneOptions } from "./node.ts";
// The data plane a node starts with the `dataPlane` option (its options, events and counters).
export type * from "./engine/mod.ts";
export type * from "./magicsock/mod.ts";
// The state store is pluggable: library users may pass their own StateStore.
export {
  FileStateStore,
  type FileStateStoreOptions,
  type LoginIdentity,
  MemoryStateStore,
  type MemoryStateStoreOptions,
  type NodeAddresses,
  type NodeState,
  type SaveOptions,
  type StateStore,
} from "../state/mod.ts";
export type { Clock, TimerHandle } from "./clock.ts";
export type { RandomSource } from "./crypto/random.ts";
export { Backoff, type BackoffOptions } from "./control/backoff.ts";
export {
  DiscoPrivateKey,
  DiscoPublicKey,
  MachinePrivateKey,
  MachinePublicKey,
  NodePrivateKey,
  NodePublicKey,
  type PrivateKey,
  type PublicKey,
} from "./crypto/keys.ts";

/** Options of {@link logout}. */
export interface LogoutOptions {
  /** Extra trusted CA certificates (PEM) for Nexus, as for {@link connect}. */
  caCerts?: string[];
  /** HTTP proxy settings for Nexus, as for {@link connect}. */
  proxy?: ProxyConfig;
}

/** Default coordination server ("Nexus"). */
export const DEFAULT_NEXUS_URL = "https://nexus.aceteam.ai";

let globalNode: CitadelNode | null = null;
let globalResult: ConnectResult | null = null;

/**
 * Joins the mesh with one global connection. An empty `authKey` means saved
 * state is used if there is any, else interactive device authorization (the
 * AuthURL reaches `options.onAuthURL`). Resolves once registered and the first
 * netmap has arrived. Calling it while connected returns the existing
 * connection's result. A `nexusURL` that breaks the rule of
 * {@link normalizeNexusURL} (credentials, a query, another scheme) is refused
 * with `InvalidNexusURLError` before anything is opened or written.
 */
export async function connect(
  nexusURL: string,
  authKey: string,
  stateDir: string,
  options: ConnectOptions = {},
): Promise<ConnectResult> {
  const controlURL = normalizeNexusURL(nexusURL);
  if (globalNode?.connected && globalResult) return globalResult;
  await disconnect();
  const store = await FileStateStore.open({ dir: stateDir });
  const node = new CitadelNode({
    controlURL,
    store,
    authKey: authKey || undefined,
    hostname: options.nodeName,
    allowInteractive: options.allowInteractive,
    onAuthURL: options.onAuthURL,
    onEvent: options.onEvent,
    caCerts: options.caCerts,
    proxy: options.proxy,
    dataPlane: options.dataPlane
      ? {
        plainHTTPDerp: new URL(controlURL).protocol === "http:",
        caCerts: options.caCerts,
        udp: directPathSocket(options.dataPlane === true ? {} : options.dataPlane),
        proxy: options.proxy,
      }
      : undefined,
  });
  const result = await node.start(options.signal);
  globalNode = node;
  globalResult = result;
  return result;
}

/** The direct-path socket for {@link connect}'s data plane options; none when direct is off. */
function directPathSocket(options: DataPlaneConnectOptions): MagicSockUDPOptions | undefined {
  if (options.direct === false) return undefined;
  const text = options.udpBind ?? "0.0.0.0:0";
  const bind = AddrPort.tryParse(text) ?? AddrPort.tryParse(`${text}:0`) ??
    AddrPort.tryParse(`[${text}]:0`);
  if (!bind) throw new InvalidUDPBindError(text);
  return { hostname: bind.address, port: bind.port, advertise: "all" };
}

/** Closes the global connection, keeping the state (a later connect resumes). */
export async function disconnect(): Promise<void> {
  const node = globalNode;
  globalNode = null;
  globalResult = null;
  await node?.close();
}

/**
 * Logs out: tells Nexus to expire the node, disconnects, and clears the state
 * directory. Works from saved state when not connected (then `stateDir` is
 * needed). Throws {@link NotLoggedInError} when there is nothing to log out.
 */
export async function logout(
  stateDir?: string,
  _nexusURL?: string,
  options: LogoutOptions = {},
): Promise<void> {
  if (globalNode) {
    const node = globalNode;
    globalNode = null;
    globalResult = null;
    await node.logout();
    return;
  }
  if (stateDir === undefined) throw new NotLoggedInError("(no state directory given)");
  const store = await FileStateStore.open({ dir: stateDir });
  const state = await store.load();
  if (!state?.login) throw new NotLoggedInError(store.location);
  // The saved URL is where the node is registered, whatever the caller passed.
  await new CitadelNode({
    controlURL: state.controlURL,
    store,
    caCerts: options.caCerts,
    proxy: options.proxy,
  }).logout();
}

/** Whether the global connection is registered and receiving the netmap. */
export function isGlobalConnected(): boolean {
  return globalNode?.connected ?? false;
}

/** The global node's mesh IPv4 address, or null when not connected. */
export function getGlobalIPv4(): string | null {
  if (!globalNode?.connected) return null;
  return globalNode.status().nodeIP;
}

/** The global node's status, or null when there is no global connection. */
export function status(): NodeStatus | null {
  return globalNode?.status() ?? null;
}

/** The global node's peers. */
export function peers(): PeerStatus[] {
  return globalNode?.peers() ?? [];
}

/** Who owns a mesh address, per the global node's netmap; null when unknown or not connected. */
export function whois(address: string): WhoIs | null {
  return globalNode?.whois(address) ?? null;
}

/**
 * Pings a peer (mesh IP or name) with ICMP echo through the global node's
 * data plane; see {@link CitadelNode.ping}. Throws
 * {@link DataPlaneNotStartedError} when there is no global connection or it
 * was made without `dataPlane: true`, `PeerNotFoundError`, or `PingTimeoutError`.
 */
export function ping(target: string, options: PingOptions = {}): Promise<PingResult> {
  if (!globalNode) return Promise.reject(new DataPlaneNotStartedError("ping"));
  return globalNode.ping(target, options);
}

/**
 * Accepts TCP connections to `port` on the global node's mesh addresses
 * (see {@link CitadelNode.listen}). Throws {@link DataPlaneNotStartedError}
 * without a global connection made with `dataPlane`.
 */
export function listen(port: number, options?: ListenOptions): TcpListener {
  if (!globalNode) throw new DataPlaneNotStartedError("listen");
  return globalNode.listen(port, options);
}

/**
 * Opens a TCP connection to `port` on a peer named by mesh IP, name or
 * MagicDNS name (see {@link CitadelNode.dial}).
 */
export function dial(host: string, port: number, options?: DialOptions): Promise<TcpConn> {
  if (!globalNode) return Promise.reject(new DataPlaneNotStartedError("dial"));
  return globalNode.dial(host, port, options);
}

/** UDP on `port` of the global node's mesh addresses (see {@link CitadelNode.listenPacket}). */
export function listenPacket(port: number): UdpSocket {
  if (!globalNode) throw new DataPlaneNotStartedError("listenPacket");
  return globalNode.listenPacket(port);
}

/** The global node's DERP map (from its netmap), or null when not connected or none yet. */
export function derpMap(): DERPMap | null {
  return globalNode?.derpMap ?? null;
}

/**
 * The DERP map cached in the saved state of `stateDir`, or null when there
 * is no state or no cached netmap (then {@link connect} fetches one).
 */
export async function savedDerpMap(stateDir: string): Promise<DERPMap | null> {
  const store = await FileStateStore.open({ dir: stateDir });
  const state = await store.load();
  if (!state?.netmap) return null;
  try {
    return parseNetmapSnapshot(state.netmap).derpMap;
  } catch {
    return null; // a cache from another version is only a cache
  }
}

/**
 * One netcheck report (as `tailscale netcheck`) against `derpMap`, on
 * sockets of its own: UDP, our reflexive addresses, latency per region and
 * the region that would be home.
 */
export async function netcheck(
  derpMap: DERPMap,
  options: { signal?: AbortSignal } = {},
): Promise<NetcheckReport> {
  using standalone = StandaloneNetcheck.open();
  return await standalone.run(derpMap, { signal: options.signal });
}

/** The global node itself, for events and lifetime (`stopped`), or null. */
export function globalConnection(): CitadelNode | null {
  return globalNode;
}
