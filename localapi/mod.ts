/**
 * The local API: a running `citadel work` answers the other commands on the
 * same machine over a Unix socket in its state directory. The protocol
 * (paths, bodies, limits) is protocol.ts, the server server.ts, the client
 * client.ts, the one error errors.ts. Commands import this module.
 *
 * @module
 */
export * from "./protocol.ts";
export * from "./errors.ts";
export {
  checkSocketDirectory,
  LOCAL_API_LIMITS,
  localApiHandler,
  type LocalApiServer,
  type LocalApiServerOptions,
  startLocalApi,
} from "./server.ts";
export {
  type ConnectionTakeover,
  type HttpServerCounters,
  type HttpServerLimits,
  LocalHttpServer,
  type TakenConnection,
} from "./http_server.ts";
export {
  type ExposeHandle,
  type ExposeStarter,
  TunnelEndpoints,
  type TunnelLimits,
} from "./tunnels.ts";
export { dialThroughWork, exposeThroughWork, type WorkExpose } from "./tunnel_client.ts";
export {
  LOCAL_API_TIMEOUT_MS,
  type LocalPingOutcome,
  probeLocalApi,
  queryLocalPing,
  queryLocalStatus,
} from "./client.ts";
