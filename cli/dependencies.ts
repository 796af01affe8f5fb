/**
 * What the commands call beyond I/O: the network API of network/mod.ts and
 * the state directory helpers of state/. `runCli` uses the real ones; tests
 * pass fakes for the network (the state layer is real, on temporary
 * directories).
 *
 * @module
 */
import * as network from "../network/mod.ts";
import type {
  ConnectOptions,
  ConnectResult,
  DERPMap,
  DialOptions,
  ListenOptions,
  LogoutOptions,
  NetcheckReport,
  NodeStatus,
  PeerStatus,
  PingOptions,
  PingResult,
  TcpConn,
  TcpListener,
} from "../network/mod.ts";
import type { CommandRunner } from "../service/mod.ts";
import type { RedisDial } from "../worker/mod.ts";

/** The slice of network/mod.ts the CLI uses. */
export interface NetworkApi {
  /** See {@link network.connect}. */
  connect(
    nexusURL: string,
    authKey: string,
    stateDir: string,
    options?: ConnectOptions,
  ): Promise<ConnectResult>;
  /** See {@link network.disconnect}. */
  disconnect(): Promise<void>;
  /** See {@link network.logout}. */
  logout(stateDir?: string, nexusURL?: string, options?: LogoutOptions): Promise<void>;
  /** See {@link network.isGlobalConnected}. */
  isGlobalConnected(): boolean;
  /** See {@link network.status}. */
  status(): NodeStatus | null;
  /** See {@link network.peers}. */
  peers(): PeerStatus[];
  /** See {@link network.ping}. */
  ping(target: string, options?: PingOptions): Promise<PingResult>;
  /** See {@link network.dial}. */
  dial(host: string, port: number, options?: DialOptions): Promise<TcpConn>;
  /** See {@link network.listen}. */
  listen(port: number, options?: ListenOptions): TcpListener;
  /** See {@link network.derpMap}. */
  derpMap(): DERPMap | null;
  /** See {@link network.savedDerpMap}. */
  savedDerpMap(stateDir: string): Promise<DERPMap | null>;
  /** See {@link network.netcheck}. */
  netcheck(derpMap: DERPMap, options?: { signal?: AbortSignal }): Promise<NetcheckReport>;
}

/** The real network layer. */
export const realNetwork: NetworkApi = {
  connect: (nexusURL, authKey, stateDir, options) =>
    network.connect(nexusURL, authKey, stateDir, options),
  disconnect: () => network.disconnect(),
  logout: (stateDir, nexusURL, options) => network.logout(stateDir, nexusURL, options),
  isGlobalConnected: () => network.isGlobalConnected(),
  status: () => network.status(),
  peers: () => network.peers(),
  ping: (target, options) => network.ping(target, options),
  dial: (host, port, options) => network.dial(host, port, options),
  listen: (port, options) => network.listen(port, options),
  derpMap: () => network.derpMap(),
  savedDerpMap: (stateDir) => network.savedDerpMap(stateDir),
  netcheck: (derpMap, options) => network.netcheck(derpMap, options),
};

/** Dependencies of `runCli` other than I/O. */
export interface CliDependencies {
  /** The network layer. */
  network: NetworkApi;
  /**
   * How `work`'s job loop opens TCP streams to Redis, and to the services of
   * `http` jobs on peers: `direct` on this machine's network; `mesh` through
   * the mesh, for a host that is a peer (cli/job_loop_routes.ts). Default:
   * `dialTcp`, and the global node's `dial` (`meshDial`).
   */
  redisDial?: { direct: RedisDial; mesh: RedisDial };
  /** Runs a service manager's tool (`service`); default `Deno.Command`. */
  runCommand?: CommandRunner;
}

/** The production dependencies. */
export const defaultDependencies: CliDependencies = { network: realNetwork };
