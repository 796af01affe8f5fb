/**
 * How a command that runs the node's data plane (`work`, and `nc`, `expose`
 * and `proxy` when no work runs) sets it up: direct UDP paths on unless
 * `--no-direct` or `CITADEL_NO_DIRECT`, the socket bound where `--udp-bind`
 * or `CITADEL_UDP_BIND` says.
 *
 * @module
 */
import type { CommandContext } from "./command.ts";
import { NO_DIRECT_ENV, UDP_BIND_ENV } from "./env.ts";

/** The data plane's settings for `connect`. */
export function dataPlaneOf(ctx: CommandContext): { direct: boolean; udpBind?: string } {
  const envNoDirect = (ctx.io.env(NO_DIRECT_ENV) ?? "").trim().toLowerCase();
  const direct = ctx.values["no-direct"] !== true && envNoDirect !== "1" && envNoDirect !== "true";
  const udpBind = (ctx.values["udp-bind"] as string | undefined) ??
    ctx.io.env(UDP_BIND_ENV)?.trim();
  return udpBind ? { direct, udpBind } : { direct };
}
